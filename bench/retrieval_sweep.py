"""Sweep retrieval settings (mode, fusion weights, candidates) on an ingested data dir.

Usage: .venv/bin/python -m bench.retrieval_sweep --data-dir D --qa eval/corpus.jsonl [--qa ...]
Prints page-level Recall@1/5/10 and MRR@10 per setting, per question file.
"""

from __future__ import annotations

import argparse
import functools
import itertools
from pathlib import Path

from rag.engine import RAG
from rag.evaluation import first_relevant_rank, load_qa, retrieval_metrics
from rag.settings import Settings


def evaluate(rag: RAG, base: Settings, questions, **overrides) -> dict:
    rag.settings = base.replace(**overrides)  # each setting from the defaults, not the last row
    ranks = []
    for qa in questions:
        if not qa.answerable:
            continue
        ranks.append(first_relevant_rank(rag.search(qa.question, k=10), qa))
    return retrieval_metrics(ranks, ranks)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--qa", action="append", required=True)
    ap.add_argument("--quick", action="store_true", help="only the three modes")
    args = ap.parse_args()
    base = Settings.from_env(data_dir=Path(args.data_dir))
    rag = RAG(base)
    # Query vectors do not depend on the settings swept here: embed each question once.
    rag.embedder.embed_query = functools.lru_cache(maxsize=None)(rag.embedder.embed_query)
    sets = {q: load_qa(Path(q)) for q in args.qa}
    grid = [dict(retrieval_mode=m, group_pages=g) for g in (0, 1) for m in ("dense", "bm25", "hybrid")]
    if not args.quick:
        for dw, rrf, cand in itertools.product((1.0, 0.7, 0.5, 0.3), (10, 30, 60), (30, 60)):
            grid.append(dict(retrieval_mode="hybrid", dense_weight=dw, bm25_weight=1.0, rrf_k=rrf, candidates=cand))
        for idw in (1, 2, 3, 4, 6):
            grid.append(dict(retrieval_mode="hybrid", bm25_identifier_weight=idw))
    print(f"{'setting':<100}" + "".join(f"{Path(q).stem + ' R@1/R@5/R@10/MRR':>40}" for q in sets), flush=True)
    for g in grid:
        cells = []
        for qs in sets.values():
            m = evaluate(rag, base, qs, **g)
            cells.append(f"{m['recall@1']:.3f}/{m['recall@5']:.3f}/{m['recall@10']:.3f}/{m['mrr@10']:.3f}")
        print(f"{str(g):<100}" + "".join(f"{c:>40}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
