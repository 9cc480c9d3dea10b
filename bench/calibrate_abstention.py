"""Calibrate the abstention thresholds on question sets (retrieval only, fast).

For each question it records the best passage's cosine similarity to the question and
the best quote's scores; then prints, for a range of thresholds, the share of
unanswerable questions that would abstain and of answerable ones falsely refused.

Usage: .venv/bin/python -m bench.calibrate_abstention --data-dir D --qa eval/corpus.jsonl
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rag.engine import RAG
from rag.evaluation import answer_correct, load_qa
from rag.quotes import best_quote
from rag.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--qa", required=True)
    args = ap.parse_args()
    rag = RAG(Settings.from_env(data_dir=Path(args.data_dir)))
    rows = []
    for qa in load_qa(Path(args.qa)):
        hits = rag.search(qa.question)
        dense = max((h.dense_score or 0.0) for h in hits) if hits else 0.0
        q = best_quote(qa.question, hits, rag.embed_sentences)
        correct = bool(q and qa.answerable and answer_correct(q.text, qa))
        rows.append((qa, dense, q, correct))
        print(
            f"{'A' if qa.answerable else 'U'} dense={dense:.3f} "
            f"quote lex={q.lexical if q else 0:.2f} sem={q.semantic if q else 0:.2f} score={q.score if q else 0:.3f} "
            f"{'OK ' if correct else '   '}{qa.question[:70]}",
            flush=True,
        )
    ans = [r for r in rows if r[0].answerable]
    una = [r for r in rows if not r[0].answerable]
    print(f"\nquote contains the gold answer: {sum(r[3] for r in ans)}/{len(ans)}")
    print(f"{'dense>=':>8} {'quote>=':>8} {'abstain(U)':>11} {'false(A)':>9} {'correct quotes kept':>20}")
    for dt in (0.0, 0.2, 0.25, 0.3, 0.35):
        for qt in (0.0, 0.3, 0.35, 0.4, 0.45, 0.5):

            def keep(r, dt=dt, qt=qt):
                return r[1] >= dt and r[2] is not None and r[2].score >= qt

            u = sum(not keep(r) for r in una) / max(1, len(una))
            a = sum(not keep(r) for r in ans) / max(1, len(ans))
            c = sum(keep(r) and r[3] for r in ans)
            print(f"{dt:>8.2f} {qt:>8.2f} {u:>11.2f} {a:>9.2f} {c:>20}")


if __name__ == "__main__":
    main()
