"""Answers with and without list completion, over question sets, in one run.

    .venv/bin/python -m bench.completion eval/corpus.jsonl@/tmp/rag-corpus eval/sample_docs.jsonl@/tmp/rag-samples

A candidate whose last sentence announces a list ("... defines three levels of impact")
is shown with the items that follow (rag/answer/candidates.py, ``Candidate.completed``).
The ranker and the threshold are the same either way; only what the answer shows and
cites grows. Prints, per set, accuracy, answerable refused, near misses refused and
citation precision without and with completion, and how many best candidates (answered
or not) had a list to complete.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rag.answer import candidates
from rag.engine import RAG
from rag.evaluation import load_qa, run_eval
from rag.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="+", help="FILE@DATA_DIR")
    args = ap.parse_args()
    completed = candidates.Candidate.completed
    engines: dict[str, RAG] = {}
    print(f"{'set':22}{'variant':>8}{'accuracy':>10}{'refused':>9}{'near ref':>9}{'cite P':>8}{'completed':>10}")
    for spec in args.sets:
        path, _, data_dir = spec.partition("@")
        rag = engines.setdefault(data_dir, RAG(Settings.from_env(data_dir=Path(data_dir))))
        questions = load_qa(Path(path))
        for variant in ("off", "on"):
            n_completed = 0

            def counted(self, passage, _real=completed):
                nonlocal n_completed
                n_completed += self.completion is not None
                return _real(self, passage)

            candidates.Candidate.completed = counted if variant == "on" else (lambda self, passage: self)
            try:
                report = run_eval(rag, questions, k=5, generate=True)
            finally:
                candidates.Candidate.completed = completed
            o = report["overall"]
            near = report["by_kind"].get("unanswerable", {}).get("abstention", 0.0)
            print(
                f"{Path(path).name:22}{variant:>8}{o['accuracy']:>10.3f}{o['false_abstention']:>9.3f}"
                f"{near:>9.3f}{o['citation_precision']:>8.3f}{n_completed:>10}",
                flush=True,
            )


if __name__ == "__main__":
    main()
