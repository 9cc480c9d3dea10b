"""Concurrency load test: throughput and latency for 1, 4 and 16 simultaneous askers.

Targets (each optional, see ``--targets``):

* ``transformers``: the Python API with the bundled in-process model. One copy of the model
  is shared by every asker and requests are served one at a time in arrival order (FairLock).
* ``openai``: the Python API with the ``openai`` backend pointed at a local llama-cpp-python
  server (started here, serving the bundled GGUF).
* ``api``: `rag api` (started here) with the bundled defaults: streamed chat completions'
  time to first token against ``rag ask`` in-process on the same questions, then 1/4/16
  concurrent HTTP clients, errors counted.
* ``health``: Streamlit's ``/_stcore/health`` of a running ``rag serve`` (started here), hit by
  1/4/16 concurrent clients, and probed every 0.25 s while the askers above are running.

Everything runs on a temporary data directory with ``sample_docs/`` ingested. Prints figures;
asserts nothing. Example (a few minutes on a 2-core CPU)::

    .venv/bin/python bench/load.py --questions 4 --levels 1,4,16 --max-new-tokens 24
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.integration.llama_server

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

logger = logging.getLogger("bench.load")

QUESTIONS = [
    "How many days of paid annual leave does a full-time Acme employee get?",
    "How many purple sea urchins were counted in the 2023 survey?",
    "What water temperature is recommended for brewing coffee?",
    "Which planet has the Great Red Spot?",
    "What is the daily meal allowance when travelling for Acme?",
    "When is the best time to visit the tidepools?",
    "How long should cold brew steep?",
    "What is the largest dwarf planet?",
]
# Asked once before measuring (loads models, fills caches) and never measured: llama.cpp reuses
# the KV cache of an identical previous prompt, which would flatter the first measured question.
WARM_UP = "What grind size suits a French press?"


@dataclass
class Sample:
    ttft: float | None  # seconds to the first answer token
    total: float  # seconds to the finished, verified answer
    error: str | None = None


def run_threads(target, n: int) -> float:
    """``n`` threads running ``target`` at once; the wall-clock seconds until all are done."""
    t0 = time.perf_counter()
    threads = [threading.Thread(target=target) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ask_once(rag, question: str) -> Sample:
    t0 = time.perf_counter()
    ttft = None
    try:
        for ev in rag.ask_stream(question):
            if ev.kind == "token" and ttft is None:
                ttft = time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - a failed ask is a figure, not a crash
        return Sample(ttft, time.perf_counter() - t0, f"{type(e).__name__}: {e}")
    return Sample(ttft, time.perf_counter() - t0)


def run_level(rag, askers: int, n: int, prober: HealthProber | None) -> dict:
    """``n`` questions answered by ``askers`` threads pulling from one queue."""
    work: queue.Queue[str] = queue.Queue()
    for i in range(n):
        work.put(QUESTIONS[i % len(QUESTIONS)])
    samples: list[Sample] = []
    lock = threading.Lock()

    def asker() -> None:
        while True:
            try:
                q = work.get_nowait()
            except queue.Empty:
                return
            s = ask_once(rag, q)
            with lock:
                samples.append(s)

    if prober:
        prober.mark()
    wall = run_threads(asker, askers)
    ok = [s for s in samples if s.error is None]
    errors = [s.error for s in samples if s.error]
    row = {
        "askers": askers,
        "questions": n,
        "wall_s": wall,
        "q_per_min": 60 * len(ok) / wall if wall else math.nan,
        "ttft_p50": percentile([s.ttft for s in ok if s.ttft is not None], 50),
        "ttft_p95": percentile([s.ttft for s in ok if s.ttft is not None], 95),
        "total_p50": percentile([s.total for s in ok], 50),
        "total_p95": percentile([s.total for s in ok], 95),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
    }
    if prober:
        lat, failed = prober.since_mark()
        row.update(health_p50_ms=percentile(lat, 50), health_p95_ms=percentile(lat, 95), health_failed=failed)
    return row


# -- the web app -------------------------------------------------------------------------------
def http_get(url: str, timeout: float = 10.0) -> float:
    """Seconds one GET took; raises on failure."""
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as r:
        r.read()
        if r.status != 200:
            raise OSError(f"HTTP {r.status}")
    return time.perf_counter() - t0


class HealthProber(threading.Thread):
    """GETs the health URL every ``interval`` seconds in the background."""

    def __init__(self, url: str, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.interval = interval
        self._stop_event = threading.Event()
        self._lat: list[float] = []
        self._failed = 0
        self._mark = (0, 0)
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                ms = 1000 * http_get(self.url)
                with self._lock:
                    self._lat.append(ms)
            except OSError:
                with self._lock:
                    self._failed += 1
            self._stop_event.wait(self.interval)

    def mark(self) -> None:
        with self._lock:
            self._mark = (len(self._lat), self._failed)

    def since_mark(self) -> tuple[list[float], int]:
        with self._lock:
            return self._lat[self._mark[0] :], self._failed - self._mark[1]

    def stop(self) -> None:
        self._stop_event.set()


def health_load(url: str, clients: int, n: int) -> dict:
    """``n`` health GETs from ``clients`` concurrent threads."""
    lat: list[float] = []
    failed = 0
    left = [n]
    lock = threading.Lock()

    def client() -> None:
        nonlocal failed
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            try:
                ms = 1000 * http_get(url)
                with lock:
                    lat.append(ms)
            except OSError:
                with lock:
                    failed += 1

    wall = run_threads(client, clients)
    return {
        "clients": clients,
        "requests": n,
        "req_per_s": len(lat) / wall,
        "p50_ms": percentile(lat, 50),
        "p95_ms": percentile(lat, 95),
        "failed": failed,
    }


def start_app(data_dir: Path, port: int, timeout: float = 90.0) -> subprocess.Popen:
    """``rag serve`` in its own process group; returns once ``/_stcore/health`` answers."""
    env = dict(os.environ, RAG_DATA_DIR=str(data_dir))
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--data-dir", str(data_dir), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/_stcore/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"`rag serve` exited with {proc.returncode}")
        try:
            http_get(url, timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    stop_group(proc)
    raise RuntimeError(f"`rag serve` did not answer on {url} within {timeout:g} s")


def stop_group(proc: subprocess.Popen) -> None:
    """Stop ``rag serve`` and the Streamlit process it started."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


# -- reporting -----------------------------------------------------------------------------------
def start_api(data_dir: Path, port: int, max_new_tokens: int, timeout: float = 120.0) -> subprocess.Popen:
    """`rag api` on ``data_dir`` in its own process group; returns once /healthz answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_DATA_DIR=str(data_dir), RAG_LLM_MAX_NEW_TOKENS=str(max_new_tokens))
    cmd = [str(Path(sys.executable).parent / "rag"), "api", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            http_get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    stop_group(proc)
    raise RuntimeError("rag api did not start")


def api_ask(base: str, question: str) -> Sample:
    """One streamed chat completion: time to the first content chunk and to [DONE]."""
    import httpx

    t0 = time.perf_counter()
    first = None
    body = {"model": "rag", "stream": True, "messages": [{"role": "user", "content": question}]}
    with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, timeout=600) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if first is None and line.startswith("data: {") and '"content": "' in line and '"content": ""' not in line:
                first = time.perf_counter() - t0
            if line == "data: [DONE]":
                break
    total = time.perf_counter() - t0
    return Sample(first if first is not None else total, total)


def api_level(base: str, clients: int, n: int) -> dict:
    """``clients`` threads asking ``n`` questions in all through the API; errors counted."""
    jobs: queue.Queue = queue.Queue()
    for i in range(n):
        jobs.put(QUESTIONS[i % len(QUESTIONS)])
    samples: list[Sample] = []
    errors: list[str] = []

    def client() -> None:
        while True:
            try:
                q = jobs.get_nowait()
            except queue.Empty:
                return
            try:
                samples.append(api_ask(base, q))
            except Exception as e:  # noqa: BLE001 - counted, the figure this measures
                errors.append(repr(e))

    wall = run_threads(client, clients)
    ttft = [s.ttft for s in samples]
    total = [s.total for s in samples]
    return {
        "clients": clients,
        "requests": n,
        "errors": len(errors),
        "per_s": len(samples) / wall if wall else 0.0,
        "ttft_p50": percentile(ttft, 50),
        "ttft_p95": percentile(ttft, 95),
        "total_p95": percentile(total, 95),
    }


def fmt(v: float, unit: str = "s") -> str:
    if isinstance(v, float) and math.isnan(v):
        return "-"
    return f"{v:.0f}" if unit == "ms" else f"{v:.2f}"


def print_ask_table(name: str, rows: list[dict]) -> None:
    print(f"\n## {name}")
    print(
        "| askers | questions | q/min | TTFT p50 s | TTFT p95 s | total p50 s | total p95 s | errors "
        "| health p50/p95 ms during |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        health = (
            (
                f"{fmt(r['health_p50_ms'], 'ms')} / {fmt(r['health_p95_ms'], 'ms')}"
                + (f" ({r['health_failed']} failed)" if r.get("health_failed") else "")
            )
            if "health_p50_ms" in r
            else "-"
        )
        print(
            f"| {r['askers']} | {r['questions']} | {r['q_per_min']:.1f} | {fmt(r['ttft_p50'])} | "
            f"{fmt(r['ttft_p95'])} | {fmt(r['total_p50'])} | {fmt(r['total_p95'])} | {r['errors']} | {health} |"
        )
        if r["first_error"]:
            print(f"  first error: {r['first_error'][:200]}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--questions", type=int, default=4, help="questions per level (at least one per asker)")
    p.add_argument("--levels", default="1,4,16", help="comma-separated numbers of concurrent askers")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--top-k", type=int, default=3, help="passages per question")
    p.add_argument("--context-tokens", type=int, default=600, help="passage budget of the prompt (tokens)")
    p.add_argument("--targets", default="transformers,openai,health")
    p.add_argument("--health-requests", type=int, default=200, help="health GETs per level")
    p.add_argument("--timeout", type=float, default=900.0, help="RAG_OPENAI_TIMEOUT for the openai target")
    p.add_argument("--llama-threads", type=int, default=0, help="llama.cpp threads (0 = its default)")
    p.add_argument(
        "--model-cache",
        default=str(ROOT / ".venv" / "rag-test-cache"),
        help="data dir that keeps the converted bundled model (shared with the tests)",
    )
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("transformers", "sentence_transformers", "faiss", "rag.generators.openai_backend"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    targets = {t.strip() for t in args.targets.split(",") if t.strip()}
    import torch

    from rag.embedders import SentenceTransformerEmbedder
    from rag.engine import RAG
    from rag.settings import Settings

    print(
        f"# load test  cpus={os.cpu_count()} torch_threads={torch.get_num_threads()} "
        f"loadavg_before={os.getloadavg()[0]:.2f}  levels={levels} questions/level=max({args.questions}, askers) "
        f"max_new_tokens={args.max_new_tokens} top_k={args.top_k} context_tokens={args.context_tokens}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="rag-load-"))
    results: dict = {"levels": levels, "args": vars(args)}
    app = prober = None
    try:
        data = tmp / "data"
        settings = Settings(
            data_dir=data,
            llm_max_new_tokens=args.max_new_tokens,
            top_k=args.top_k,
            context_budget_tokens=args.context_tokens,
            openai_timeout=args.timeout,
        )
        emb = SentenceTransformerEmbedder.from_settings(settings)
        t0 = time.perf_counter()
        base = RAG(settings, embedder=emb)
        base.ingest_paths([ROOT / "sample_docs"])
        print(f"ingested sample_docs: {base.store.chunk_count()} chunks in {time.perf_counter() - t0:.1f} s")

        if "health" in targets:
            from tests.integration.llama_server import free_port

            port = free_port()
            app = start_app(data, port)
            url = f"http://127.0.0.1:{port}/_stcore/health"
            prober = HealthProber(url)
            prober.start()
            rows = [health_load(url, c, max(args.health_requests, c)) for c in levels]
            results["health_idle"] = rows
            print("\n## Streamlit /_stcore/health of `rag serve` (no askers running)")
            print("| clients | requests | req/s | p50 ms | p95 ms | failed |\n|---:|---:|---:|---:|---:|---:|")
            for r in rows:
                print(
                    f"| {r['clients']} | {r['requests']} | {r['req_per_s']:.0f} | {fmt(r['p50_ms'], 'ms')} | "
                    f"{fmt(r['p95_ms'], 'ms')} | {r['failed']} |"
                )

        if "api" in targets:
            from tests.integration.llama_server import free_port

            port = free_port()
            api = start_api(data, port, args.max_new_tokens)
            try:
                url = f"http://127.0.0.1:{port}"
                local = RAG(Settings.from_env(data_dir=data, llm_max_new_tokens=args.max_new_tokens), embedder=emb)
                ask_once(local, WARM_UP)
                api_ask(url, WARM_UP)  # neither counted
                pairs = []
                for q in QUESTIONS:  # interleaved, the same question each way
                    pairs.append((ask_once(local, q).ttft, api_ask(url, q).ttft))
                cli_p50 = percentile([a for a, _ in pairs], 50)
                api_p50 = percentile([b for _, b in pairs], 50)
                print(
                    "\n## `rag api` streamed chat completions against `rag ask` in-process (same questions, interleaved)"
                )
                print(
                    f"time to first token p50: rag ask {fmt(cli_p50)}, API {fmt(api_p50)} (ratio {api_p50 / cli_p50:.2f})"
                )
                rows = [api_level(url, c, max(args.questions, c)) for c in levels]
                results["api"] = {"ttft_pairs": pairs, "levels": rows}
                print("| clients | requests | errors | answers/s | TTFT p50 | TTFT p95 | total p95 |")
                print("|---:|---:|---:|---:|---:|---:|---:|")
                for r in rows:
                    print(
                        f"| {r['clients']} | {r['requests']} | {r['errors']} | {r['per_s']:.2f} | "
                        f"{fmt(r['ttft_p50'])} | {fmt(r['ttft_p95'])} | {fmt(r['total_p95'])} |"
                    )
            finally:
                stop_group(api)

        if "transformers" in targets:
            from rag.generators.transformers_backend import TransformersGenerator

            gen = TransformersGenerator(data_dir=Path(args.model_cache), max_new_tokens=args.max_new_tokens)
            rag = RAG(settings, embedder=emb, generator=gen)
            t0 = time.perf_counter()
            gen.warm_up()
            ask_once(rag, WARM_UP)  # not counted
            print(f"\ntransformers backend warm ({gen.describe().get('device')}) in {time.perf_counter() - t0:.1f} s")
            rows = [run_level(rag, n, max(args.questions, n), prober) for n in levels]
            results["transformers"] = rows
            print_ask_table("Python API, transformers backend (one shared model, FIFO queue)", rows)
            del rag, gen

        if "openai" in targets:
            from rag.generators.openai_backend import OpenAIGenerator
            from tests.integration.llama_server import LlamaServer, llama_cpp_available

            if not llama_cpp_available():
                print("\nopenai target skipped: llama-cpp-python is not installed (make setup-server)")
            else:
                srv = LlamaServer(n_ctx=2048, threads=args.llama_threads or None)
                with srv:
                    gen = OpenAIGenerator(
                        srv.base_url, srv.alias, timeout=args.timeout, max_new_tokens=args.max_new_tokens
                    )
                    rag = RAG(settings.replace(llm_backend="openai"), embedder=emb, generator=gen)
                    ask_once(rag, WARM_UP)  # not counted
                    rows = [run_level(rag, n, max(args.questions, n), prober) for n in levels]
                results["openai"] = rows
                print_ask_table("Python API, openai backend -> local llama-cpp-python server", rows)
    finally:
        if prober:
            prober.stop()
        if app:
            stop_group(app)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nloadavg_after={os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
