"""The ``openai`` backend against a real OpenAI-compatible server (llama-cpp-python) on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from rag.errors import GeneratorError
from rag.generators.openai_backend import OpenAIGenerator
from tests.conftest import ROOT, SAMPLE_DOCS
from tests.integration.llama_server import LlamaServer, llama_cpp_available

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        not llama_cpp_available(),
        reason="llama-cpp-python is not installed (run `make setup-server`: pip install 'llama-cpp-python[server]')",
    ),
]

QUESTION = "How many days of paid annual leave does a full-time Acme employee get?"


@pytest.fixture(scope="session")
def llama_server():
    """The bundled SmolLM2 GGUF served as "smollm2" for the whole session."""
    with LlamaServer(n_ctx=2048) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _server_alive(request):
    """A server that dies during a test (a crash in its native code, say) fails that test
    with its exit status and the end of its log, not the next tests with "connection refused"."""
    if "llama_server" not in request.fixturenames:
        yield
        return
    srv = request.getfixturevalue("llama_server")
    if srv.proc is not None and srv.proc.poll() is not None:
        pytest.fail(f"llama_cpp.server exited earlier with {srv.proc.returncode}:\n{srv.log_tail()}")
    yield
    if srv.proc is not None and srv.proc.poll() is not None:
        pytest.fail(f"llama_cpp.server died during this test, exit status {srv.proc.returncode}:\n{srv.log_tail()}")


def ask_capital(gen: OpenAIGenerator) -> list[str]:
    msgs = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    return list(gen.stream(msgs, max_new_tokens=12))


def test_a_real_reply_streams_in_several_pieces(llama_server):
    gen = OpenAIGenerator(llama_server.base_url, "smollm2", timeout=60)
    pieces = ask_capital(gen)
    assert len(pieces) > 1  # streamed token by token, not one block at the end
    assert "paris" in "".join(pieces).lower()
    assert gen.describe()["loaded"] is True


def test_the_model_name_can_be_left_out_when_the_server_has_one(llama_server):
    gen = OpenAIGenerator(llama_server.base_url, "")
    assert "".join(ask_capital(gen)).strip()
    assert gen.name == "smollm2"


def test_a_wrong_model_name_lists_what_the_server_has(llama_server):
    gen = OpenAIGenerator(llama_server.base_url, "llama-3-70b")
    with pytest.raises(GeneratorError) as err:
        ask_capital(gen)
    assert str(err.value).startswith(
        f"the server at {llama_server.base_url} has no model 'llama-3-70b'; available: smollm2"
    )


def test_two_users_at_once_both_get_complete_replies(llama_server):
    gen = OpenAIGenerator(llama_server.base_url, "smollm2", timeout=300)
    replies: dict[int, object] = {}

    def user(i: int) -> None:
        try:
            replies[i] = "".join(ask_capital(gen))
        except GeneratorError as e:  # e.g. a reply cut short by the other request
            replies[i] = e

    threads = [threading.Thread(target=user, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert all(isinstance(r, str) and "paris" in r.lower() for r in replies.values()), replies
    assert len(replies) == 2


@pytest.mark.integration
def test_rag_answers_through_the_server_with_sources(llama_server, settings, real_embedder):
    from rag.engine import RAG

    s = settings.replace(
        llm_backend="openai",
        openai_base_url=llama_server.base_url,
        openai_model="smollm2",
        llm_max_new_tokens=32,
        top_k=3,
        context_budget_tokens=400,  # a short prompt: this CPU is slow
    )
    rag = RAG(s, embedder=real_embedder)
    report = rag.ingest_paths([SAMPLE_DOCS])
    assert rag.store.chunk_count() > 0, report

    events = list(rag.ask_stream(QUESTION))
    kinds = [e.kind for e in events]
    assert kinds[0] == "sources" and kinds[-1] == "done"  # sources shown before the answer
    assert kinds.count("token") > 1  # the server's reply arrived as a stream
    answer = events[-1].value
    assert rag.generator.describe() == {
        "backend": "openai",
        "model": "smollm2",
        "base_url": llama_server.base_url,
        "loaded": True,
    }
    assert answer.sources[0].doc == "acme-handbook.pdf"
    assert answer.raw_answer.strip()  # text the server generated
    # The 135M model's wording varies, but whatever it says is checked and cited to a retrieved page.
    shown = {(h.doc, h.page) for h in answer.sources}
    assert answer.abstained or answer.citations
    assert all((c.doc, c.page) in shown for c in answer.citations)


@pytest.mark.integration
@pytest.mark.slow
def test_rag_ask_cli_uses_the_server_from_environment_variables(llama_server, tmp_path):
    env = dict(
        os.environ,
        RAG_DATA_DIR=str(tmp_path / "cli-data"),
        RAG_LLM_BACKEND="openai",
        RAG_OPENAI_BASE_URL=llama_server.base_url,
        RAG_OPENAI_MODEL="smollm2",
        RAG_LLM_MAX_NEW_TOKENS="32",
        RAG_TOP_K="2",
        RAG_CONTEXT_BUDGET_TOKENS="300",
    )
    rag = [sys.executable, "-m", "rag.cli"]
    subprocess.run(
        [*rag, "ingest", str(SAMPLE_DOCS / "acme-handbook.pdf")],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    out = subprocess.run(
        [*rag, "ask", "--json", QUESTION], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["sources"][0]["doc"] == "acme-handbook.pdf"
    assert answer["answer"]

    env["RAG_OPENAI_MODEL"] = "no-such-model"
    bad = subprocess.run([*rag, "ask", QUESTION], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0
    assert "has no model 'no-such-model'; available: smollm2" in bad.stderr


def test_a_stopped_server_gives_a_clear_error():
    srv = LlamaServer(n_ctx=512)
    with srv:
        gen = OpenAIGenerator(srv.base_url, "smollm2", retries=1, backoff=0.1)
        assert "".join(ask_capital(gen)).strip()  # it worked while the server was up
    with pytest.raises(GeneratorError) as err:
        ask_capital(gen)
    msg = str(err.value)
    assert msg.startswith(f"cannot reach the LLM server at {srv.base_url}: connection refused — is it running?")
    assert "RAG_OPENAI_BASE_URL" in msg
