"""FAISS against Milvus Lite at 100k and 1M chunks, in one run: build time, query latency,
recall@10 against exact search, and memory.

Usage::

    .venv/bin/python bench/scale.py                       # 100k
    .venv/bin/python bench/scale.py --sizes 100k,1m       # 1M adds a long Milvus Lite load

The vectors are bench/search.py's: real all-MiniLM-L6-v2 embeddings of the shared corpus
mixed three at a time, shaped like text; the queries are the real questions of eval/*.jsonl.
Each chunk also gets a generated sentence (bench/common.py), analysed as the app analyses
passages (rag.store.full_text_terms), so Milvus builds its BM25 index as it would for text.

Per size: FAISS as the app builds it (``VectorIndex``: exact below 50k, IVF above), then a
Milvus Lite collection made by the app's own ``create_collection`` (dense AUTOINDEX, which
is HNSW in Milvus Lite, and BM25) in a temporary file. Both are queried one query at a
time, as a user's question is: dense top-10, then for Milvus also a hybrid request (dense +
BM25, RRF) and a BM25 one. Memory is the resident set of this process and its children
after the build, minus what it was before (Milvus Lite runs in this process's threads).
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import pct, print_machine, questions, sentence  # noqa: E402
from search import base_embeddings, latencies, parse_size, synthetic  # noqa: E402

K = 10
BATCH = 5_000


def rss_tree_mb() -> float:
    import psutil

    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def recall(truth: np.ndarray, found: list[list[int]]) -> float:
    return float(np.mean([len(set(t) & set(f)) / K for t, f in zip(truth.tolist(), found)]))


def bench_faiss(vecs: np.ndarray, qvecs: np.ndarray, truth: np.ndarray, rounds: int) -> dict:
    from rag.index import VectorIndex

    gc.collect()
    before = rss_tree_mb()
    t = time.perf_counter()
    index = VectorIndex.from_arrays(np.arange(len(vecs), dtype=np.int64), vecs)
    build = time.perf_counter() - t
    mem = rss_tree_mb() - before
    found = [[i for i, _ in index.search(q, K)] for q in qvecs]
    lat = latencies(lambda q: index.search(q, K), list(qvecs) * rounds)
    out = {"store": "FAISS", "index": index.description, "build_s": build, "recall": recall(truth, found)}
    return out | {"dense": lat, "mem_mb": mem}


def bench_milvus(
    vecs: np.ndarray, texts: list[str], qs: list[str], qvecs: np.ndarray, truth: np.ndarray, rounds: int, index: str
) -> dict:
    from pymilvus import AnnSearchRequest, MilvusClient, RRFRanker

    from rag.milvus_index import create_collection
    from rag.store import full_text_terms

    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        gc.collect()
        before = rss_tree_mb()
        t = time.perf_counter()
        client = MilvusClient(str(tmp / "milvus.db"))
        create_collection(client, "chunks", vecs.shape[1], index)
        for s in range(0, len(vecs), BATCH):
            rows = [
                {
                    "id": i,
                    "doc_id": i // 50,
                    "collection_id": 1,
                    "text": texts[i % len(texts)],
                    "dense": vecs[i].tolist(),
                }
                for i in range(s, min(len(vecs), s + BATCH))
            ]
            client.insert("chunks", rows)
        client.flush("chunks")
        client.release_collection("chunks")  # as the app does after a batch (MilvusIndex.flush)
        client.load_collection("chunks")
        client.search("chunks", data=[qvecs[0].tolist()], anns_field="dense", limit=K)  # the index is built
        build = time.perf_counter() - t
        mem = rss_tree_mb() - before

        def dense(q):
            res = client.search("chunks", data=[q.tolist()], anns_field="dense", limit=K)
            return [int(h["id"]) for h in res[0]]

        def bm25(text):
            res = client.search(
                "chunks",
                data=[full_text_terms(text, True)],
                anns_field="sparse",
                limit=K,
                search_params={"metric_type": "BM25"},
            )
            return [int(h["id"]) for h in res[0]]

        def hybrid(pair):
            text, q = pair
            reqs = [
                AnnSearchRequest(data=[q.tolist()], anns_field="dense", param={"metric_type": "IP"}, limit=K),
                AnnSearchRequest(
                    data=[full_text_terms(text, True)], anns_field="sparse", param={"metric_type": "BM25"}, limit=K
                ),
            ]
            return client.hybrid_search("chunks", reqs, ranker=RRFRanker(60), limit=K)

        found = [dense(q) for q in qvecs]
        out = {
            "store": "Milvus Lite",
            "index": f"{index} (dense) + BM25",
            "build_s": build,
            "recall": recall(truth, found),
        }
        out["dense"] = latencies(dense, list(qvecs) * rounds)
        out["bm25"] = latencies(bm25, qs * rounds)
        out["hybrid"] = latencies(hybrid, list(zip(qs, qvecs)) * rounds)
        out["mem_mb"] = mem
        client.close()
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ms(values: list[float] | None) -> str:
    if not values:
        return "-"
    return f"{pct(values, 50) * 1e3:.1f} / {pct(values, 95) * 1e3:.1f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100k", help="comma-separated collection sizes, e.g. 100k,1m")
    p.add_argument("--rounds", type=int, default=2, help="passes over the questions for latency")
    p.add_argument("--milvus-index", default="AUTOINDEX", help="Milvus dense index type")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "rag-bench-cache")
    args = p.parse_args()
    import faiss

    from rag.embedders import SentenceTransformerEmbedder
    from rag.store import full_text_terms

    print_machine()
    base = base_embeddings(args.cache)
    emb = SentenceTransformerEmbedder()
    qs = questions()
    qvecs = np.vstack([emb.embed_query(q) for q in qs])
    rng = random.Random(7)
    texts = [full_text_terms(" ".join(sentence(rng) for _ in range(6))) for _ in range(20_000)]
    print(f"# {len(base)} base passage embeddings; {len(qs)} real questions; {len(texts)} distinct chunk texts")
    rows = []
    for size in args.sizes.split(","):
        n = parse_size(size)
        vecs = synthetic(base, n)
        _, truth = faiss.knn(qvecs, vecs, K, metric=faiss.METRIC_INNER_PRODUCT)
        f = bench_faiss(vecs, qvecs, truth, args.rounds)
        m = bench_milvus(vecs, texts, qs, qvecs, truth, args.rounds, args.milvus_index)
        for r in (f, m):
            rows.append((n, r))
        ratio = pct(m["dense"], 95) / pct(f["dense"], 95)
        print(f"# {n:,}: Milvus Lite dense p95 / FAISS dense p95 = {ratio:.2f}")
        for r in (f, m):
            print(
                f"# {n:,} {r['store']}: build {r['build_s']:.1f} s, recall {r['recall']:.3f}, dense {ms(r['dense'])} ms, "
                f"bm25 {ms(r.get('bm25'))} ms, hybrid {ms(r.get('hybrid'))} ms, memory {r['mem_mb']:+.0f} MiB",
                flush=True,
            )
        del vecs
        gc.collect()
    print(
        "\n| chunks | store | index | build | recall@10 | dense p50 / p95 ms | BM25 p50 / p95 ms | hybrid p50 / p95 ms | memory |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for n, r in rows:
        print(
            f"| {n:,} | {r['store']} | {r['index']} | {r['build_s']:.1f} s | {r['recall']:.3f} | {ms(r['dense'])} "
            f"| {ms(r.get('bm25'))} | {ms(r.get('hybrid'))} | {r['mem_mb']:+.0f} MiB |"
        )


if __name__ == "__main__":
    main()
