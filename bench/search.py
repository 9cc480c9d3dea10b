"""Search latency, recall@10 against exact search, and memory, at 10k to 1M chunks.

Usage::

    .venv/bin/python bench/search.py                      # 10k and 100k (~3 min)
    .venv/bin/python bench/search.py --sizes 10k,100k,1m  # the 1M run takes ~10 min more

Vectors. Embedding a million generated sentences with MiniLM would take hours on two
cores, and uniform random unit vectors have no cluster structure (every IVF list is
equally near every query, which makes IVF look far worse than on text). So the
collection is synthetic but shaped like text: real all-MiniLM-L6-v2 embeddings of
~1,200 passages of ../shared/corpus (cached after the first run) are mixed three at a
time with Dirichlet(4, 1, 1) weights plus a little noise, then normalised. Queries are
the real questions of eval/*.jsonl, embedded with the same model; their best cosine
to this collection (~0.5) is like real questions' to real passages.

Per size, in one run: the index ``VectorIndex`` chooses (exact below 50k, IVF above,
nprobe calibrated at build), the exact baseline (FAISS brute force on the same array,
default threads, as the foundation searched), recall@10 of the index against it, and
then, in a fresh process that loads only the embedder and the saved index as
``rag serve`` would: query-embedding, search and total latency, and resident memory.
Queries run on one thread (embedder and FAISS), so that thread's CPU time is also
printed: on a shared machine it is what the latency would be on an idle core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CORPUS, SAMPLE_DOCS, pct, print_machine, questions, rss_mb  # noqa: E402

K = 10


def base_embeddings(cache: Path) -> np.ndarray:
    """Real MiniLM embeddings of passages of the shared corpus (cached)."""
    path = cache / "search-base.npy"
    if path.exists():
        return np.load(path)
    from pypdf import PdfReader

    from rag.embedders import SentenceTransformerEmbedder

    texts = []
    for f in sorted(list(CORPUS.glob("*.pdf")) + list(SAMPLE_DOCS.glob("*.pdf"))):
        for page in PdfReader(str(f)).pages:
            words = (page.extract_text() or "").split()
            texts += [" ".join(words[i : i + 80]) for i in range(0, len(words), 70) if len(words[i : i + 80]) > 12]
    t = time.perf_counter()
    vecs = SentenceTransformerEmbedder().embed_passages(texts)
    print(f"# embedded {len(texts)} base passages in {time.perf_counter() - t:.0f} s (cached in {path})")
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    return vecs


def synthetic(base: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors, each a random Dirichlet(4,1,1) mix of three real embeddings."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        idx = rng.integers(0, len(base), (m, 3))
        w = rng.dirichlet([4.0, 1.0, 1.0], m).astype(np.float32)
        v = np.einsum("mk,mkd->md", w, base[idx])
        v += 0.02 * rng.standard_normal(v.shape, dtype=np.float32)
        out[s : s + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def parse_size(text: str) -> int:
    text = text.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * mult)


def exact_search(vecs: np.ndarray, q: np.ndarray):
    import faiss

    return faiss.knn(q[None], vecs, K, metric=faiss.METRIC_INNER_PRODUCT)


def latencies(fn, items) -> list[float]:
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append(time.perf_counter() - t)
    return out


def ms(values: list[float]) -> str:
    return f"p50 {pct(values, 50) * 1e3:7.2f} ms  p95 {pct(values, 95) * 1e3:7.2f} ms"


def serve_child(index_file: Path, rounds: int) -> dict:
    """Like a serving process: embedder + saved index only; embed and search each question."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `rag serve` runs, before torch and faiss load
    import faiss

    from rag.embedders import SentenceTransformerEmbedder
    from rag.index import search_faiss

    emb = SentenceTransformerEmbedder()
    emb.embed_query("warm up")
    rss_model = rss_mb()
    t = time.perf_counter()
    index = faiss.read_index(str(index_file))
    load_s = time.perf_counter() - t
    rss_index = rss_mb()
    qs = questions() * rounds
    embed, search, total, cpu = [], [], [], []
    for q in qs:
        c0 = time.thread_time()
        t0 = time.perf_counter()
        vec = emb.embed_query(q)
        t1 = time.perf_counter()
        search_faiss(index, vec, K)
        t2 = time.perf_counter()
        cpu.append(time.thread_time() - c0)
        embed.append(t1 - t0)
        search.append(t2 - t1)
        total.append(t2 - t0)
    return {
        "embed": embed,
        "search": search,
        "total": total,
        "cpu": cpu,
        "load_s": load_s,
        "rss_model_mb": rss_model,
        "rss_mb": rss_index,
        "rss_end_mb": rss_mb(),
    }


def bench_size(n: int, base: np.ndarray, qvecs: np.ndarray, exact_queries: int, rounds: int) -> dict:
    import faiss

    from rag.index import VectorIndex, recall_at

    vecs = synthetic(base, n)
    ids = np.arange(n, dtype=np.int64)
    t = time.perf_counter()
    index = VectorIndex.from_arrays(ids, vecs)
    build_s = time.perf_counter() - t
    _, truth = faiss.knn(qvecs, vecs, K, metric=faiss.METRIC_INNER_PRODUCT)
    found = np.full((len(qvecs), K), -1, dtype=np.int64)
    for row, q in enumerate(qvecs):
        got = [i for i, _ in index.search(q, K)]
        found[row, : len(got)] = got
    recall = recall_at(truth, found)
    description = index.description
    sample = qvecs[:exact_queries]
    exact = latencies(partial(exact_search, vecs), sample)
    ann = latencies(partial(index.search, k=K), list(qvecs) * rounds)
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        path = Path(tmp) / "index.faiss"
        faiss.write_index(index.faiss_index, str(path))
        del index, vecs
        out = subprocess.run(
            [sys.executable, __file__, "--serve-child", str(path), "--rounds", str(rounds)],
            capture_output=True,
            text=True,
            check=True,
        )
    served = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "n": n,
        "description": description,
        "build_s": build_s,
        "recall": recall,
        "exact": exact,
        "ann": ann,
        "served": served,
    }


def report(r: dict, description: str) -> None:
    s = r["served"]
    print(f"\n## {r['n']:,} chunks: {description}  (built in {r['build_s']:.1f} s)")
    print(f"exact search (baseline)  : {ms(r['exact'])}   ({len(r['exact'])} queries)")
    print(f"index search, same proc. : {ms(r['ann'])}")
    print(f"RATIO exact p95 / index p95 = {pct(r['exact'], 95) / pct(r['ann'], 95):.1f}x")
    print(f"recall@{K} vs exact      : {r['recall']:.4f}  (target >= 0.98)")
    print(f"serving process: embed   : {ms(s['embed'])}")
    print(f"serving process: search  : {ms(s['search'])}")
    print(f"serving process: total   : {ms(s['total'])}  (target p95 <= 50 ms at 100k, <= 60 ms at 1M)")
    print(
        f"serving process: CPU     : {ms(s['cpu'])}  (CPU time of the one thread that answers = latency on an idle core)"
    )
    print(
        f"serving process: RSS     : {s['rss_mb']:.0f} MiB (model only {s['rss_model_mb']:.0f} MiB; "
        f"index +{s['rss_mb'] - s['rss_model_mb']:.0f} MiB, read in {s['load_s']:.1f} s)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10k,100k", help="comma-separated collection sizes, e.g. 10k,100k,1m")
    p.add_argument("--rounds", type=int, default=2, help="passes over the questions for latency")
    p.add_argument("--exact-queries", type=int, default=60, help="queries timed against exact search")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "rag-bench-cache")
    p.add_argument("--serve-child", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_child:
        print(json.dumps(serve_child(args.serve_child, args.rounds)))
        return
    print_machine()
    base = base_embeddings(args.cache)
    from rag.embedders import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder()
    qvecs = np.vstack([emb.embed_query(q) for q in questions()])
    print(f"# base: {len(base)} real passage embeddings; {len(qvecs)} real questions")
    for size in args.sizes.split(","):
        r = bench_size(parse_size(size), base, qvecs, args.exact_queries, args.rounds)
        report(r, r["description"])
        print(
            "# json "
            + json.dumps(
                {k: v for k, v in r.items() if k not in ("exact", "ann", "served")}
                | {
                    "exact_p95_ms": pct(r["exact"], 95) * 1e3,
                    "ann_p95_ms": pct(r["ann"], 95) * 1e3,
                    "total_p95_ms": pct(r["served"]["total"], 95) * 1e3,
                    "cpu_p95_ms": pct(r["served"]["cpu"], 95) * 1e3,
                    "rss_mb": r["served"]["rss_mb"],
                }
            )
        )


if __name__ == "__main__":
    main()
