"""The answer selection step with the sentence vectors stored at ingestion, against
embedding the sentences per question (the baseline), in the same process.

Usage::

    .venv/bin/rag ingest --data-dir /tmp/rag-corpus ../shared/corpus
    .venv/bin/python bench/quote_latency.py --data-dir /tmp/rag-corpus --qa eval/corpus.jsonl

For every question: retrieval, then the answer selector over the top passages (what the
quoted answer costs before its first token: candidates, features, the fitted score), once
with ``RAG.embed_sentences`` (stored vectors looked up, the rest embedded) and once with
the embedder alone, alternating which goes first. Prints p50 / p95 of each, their ratio,
the share of sentences found stored, and whether both picked the same answer for every
question.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import pct, print_machine

from rag.answer import AnswerSelector
from rag.engine import RAG
from rag.settings import Settings


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--qa", type=Path, action="append", required=True)
    args = p.parse_args()
    print_machine()
    rag = RAG(Settings.from_env(data_dir=args.data_dir))
    emb = rag.embedder
    emb.embed_query("warm up")
    k, passages = rag.settings.top_k, rag.settings.quote_passages
    stats = rag.store.stats()
    print(f"data dir {args.data_dir}: {stats['chunks']} chunks, {stats['sentence_vectors']} sentence vectors")
    asked = found = same = 0
    requested: list[str] = []  # the candidate sentences of the stored run, counted after timing

    def stored(texts):
        requested.extend(texts[1:])  # the first is the question
        return rag.embed_sentences(texts)

    times: dict[str, list[float]] = {"stored": [], "embedded": []}
    questions = [json.loads(line)["question"] for f in args.qa for line in f.read_text().splitlines() if line.strip()]
    for i, q in enumerate(questions):
        picked = {}
        for name in ("stored", "embedded") if i % 2 == 0 else ("embedded", "stored"):
            t = time.perf_counter()
            hits = rag.retriever.search(q, k)
            embed = stored if name == "stored" else emb.embed_passages
            ranked = AnswerSelector(embed, rag.idf, rag.selector.scorer, passages).rank(q, rag._with_tables(hits))
            times[name].append(time.perf_counter() - t)
            picked[name] = ranked and (ranked[0].candidate.n, ranked[0].candidate.text)
        same += picked["stored"] == picked["embedded"]
        known = rag.store.sentence_vectors(requested)
        asked, found = asked + len(requested), found + sum(t in known for t in requested)
        requested.clear()
    for name, ts in times.items():
        print(f"{name:9s}: retrieval + selection p50 {pct(ts, 50) * 1000:7.1f} ms  p95 {pct(ts, 95) * 1000:7.1f} ms")
    print(f"RATIO stored / embedded p50       = {pct(times['stored'], 50) / pct(times['embedded'], 50):.3f}")
    print(f"sentences found stored            = {found / max(asked, 1):.3f} ({found} of {asked})")
    print(f"same answer                       = {same} of {len(questions)} questions")


if __name__ == "__main__":
    main()
