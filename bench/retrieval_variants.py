"""Retrieval variants side by side, in one run: the default hybrid against plain BM25,
plain dense, plain hybrid RRF (k = 60, equal weights, no extra lists) and pseudo-relevance
feedback, page Recall@1 / @5 / @10 per question set.

    .venv/bin/python -m bench.retrieval_variants eval/corpus_d.jsonl@/tmp/rag-corpus ...

Each ``FILE@DATA_DIR`` is a question set and the data directory its documents are in.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from bench.common import machine  # noqa: F401  (sets the offline environment first)
from rag.engine import RAG
from rag.evaluation import first_relevant_rank, load_qa, retrieval_metrics
from rag.settings import Settings

VARIANTS = {
    "default": {},
    "bm25": {"retrieval_mode": "bm25"},
    "dense": {"retrieval_mode": "dense"},
    "plain RRF": {"rrf_k": 60, "dense_weight": 1.0, "bm25_weight": 1.0, "label_list": 0, "bm25_identifier_weight": 1},
    "no label list": {"label_list": 0},
    "feedback 3": {"query_feedback": 3},
    "feedback 5": {"query_feedback": 5},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = ap.parse_args()
    engines: dict[str, RAG] = {}
    print(f"{'set':22} " + " ".join(f"{v:>20}" for v in args.variants))
    for spec in args.sets:
        path, _, data_dir = spec.partition("@")
        if data_dir not in engines:
            engines[data_dir] = RAG(Settings.from_env(data_dir=Path(data_dir)))
            # Query vectors do not depend on the variants: each question embedded once.
            emb = engines[data_dir].embedder
            emb.embed_query = functools.lru_cache(maxsize=None)(emb.embed_query)
        rag = engines[data_dir]
        base = rag.settings
        qas = [qa for qa in load_qa(Path(path)) if qa.answerable]
        cells = []
        for name in args.variants:
            rag.settings = base.replace(**VARIANTS[name])
            ranks = [first_relevant_rank(rag.search(qa.question, k=10), qa) for qa in qas]
            m = retrieval_metrics(ranks, ranks)
            cells.append(f"{m['recall@1']:.2f}/{m['recall@5']:.2f}/{m['recall@10']:.2f}")
        rag.settings = base
        print(f"{Path(path).name:22} " + " ".join(f"{c:>20}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
