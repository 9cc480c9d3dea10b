"""Start-up: seconds from `rag serve` to healthy, and from a fresh process to the first answer.

Usage::

    .venv/bin/python bench/startup.py            # ~2 min
    .venv/bin/python bench/startup.py --repeat 3

A fresh data directory gets sample_docs/ ingested. Then, each in a new process:

* ``serve``: ``rag serve`` on a free port until ``GET /_stcore/health`` answers 200
  (target <= 5 s);
* ``first answer``: ``RAG(Settings(...)).ask(question)`` through the Python API, timed
  from process start (interpreter, imports, both models, retrieval, generation), once
  without the converted-model cache (``<data_dir>/models`` removed: the GGUF file is
  de-quantised and saved again) and once with it (target <= 15 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, SAMPLE_DOCS, print_machine  # noqa: E402

PY = sys.executable
RAG = str(Path(PY).parent / "rag")
QUESTION = "How many days of paid annual leave does a full-time Acme employee get?"

CHILD = """
import json, sys, time
t0 = float(sys.argv[2])
marks = {"interpreter": time.time() - t0}
from pathlib import Path
from rag.engine import RAG
from rag.settings import Settings
marks["imports"] = time.time() - t0
rag = RAG(Settings(data_dir=Path(sys.argv[1])))
rag.embedder.embed_query("load")
marks["embedder"] = time.time() - t0
rag.generator.warm_up()
marks["generator"] = time.time() - t0
answer = rag.ask(sys.argv[3])
marks["answer"] = time.time() - t0
print(json.dumps({"marks": marks, "answer": answer.answer, "abstained": answer.abstained,
                  "citations": [[c.doc, c.page] for c in answer.citations], "timings": answer.timings}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_until_healthy(data: Path, timeout: float = 60.0) -> float:
    port = free_port()
    env = dict(os.environ, RAG_DATA_DIR=str(data))
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [RAG, "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                raise SystemExit(f"rag serve exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - t0
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"rag serve was not healthy after {timeout:.0f} s")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def first_answer(data: Path, question: str) -> dict:
    t0 = time.time()
    out = subprocess.run(
        [PY, "-c", CHILD, str(data), repr(t0), question],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false"),
    )
    wall = time.time() - t0
    if out.returncode:
        raise SystemExit(f"the answering process failed:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def show(label: str, r: dict) -> None:
    m = r["marks"]
    steps = "  ".join(f"{k} {v:.1f}" for k, v in m.items())
    print(f"{label:<28}: {r['wall']:6.1f} s to the answer  [cumulative s: {steps}]")
    print(f"{'':<28}  answer: {r['answer'][:100]!r}  cites {r['citations']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--question", default=QUESTION)
    args = p.parse_args()
    print_machine()
    data = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        env = dict(os.environ, RAG_DATA_DIR=str(data))
        t = time.perf_counter()
        subprocess.run([RAG, "ingest", str(SAMPLE_DOCS)], env=env, cwd=ROOT, check=True, capture_output=True)
        print(f"# ingested sample_docs in {time.perf_counter() - t:.1f} s (data dir {data})")
        health = [serve_until_healthy(data) for _ in range(args.repeat)]
        print(
            f"rag serve -> healthy        : {' '.join(f'{h:.1f}' for h in health)} s  (best {min(health):.1f}; target <= 5)"
        )
        cold, warm = [], []
        for _ in range(args.repeat):
            shutil.rmtree(data / "models", ignore_errors=True)
            cold.append(first_answer(data, args.question))
            warm.append(first_answer(data, args.question))
        for r in cold:
            show("first answer, no model cache", r)
        for r in warm:
            show("first answer, model cached", r)
        c, w = min(x["wall"] for x in cold), min(x["wall"] for x in warm)
        print(f"RATIO first answer cached / uncached = {w / c:.2f}  (best {w:.1f} s vs {c:.1f} s; target <= 15 s)")
        same = {r["answer"] for r in cold + warm}
        print(f"answers identical across runs: {len(same) == 1}")
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
