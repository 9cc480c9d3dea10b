"""Follow-up questions, measured: how each way of reading a question in its conversation
answers follow-ups (eval/followups.jsonl) and what it costs a new, self-contained question
asked in the middle of a conversation about something else.

Usage::

    .venv/bin/python -m bench.follow_ups --data-dir DIR [--qa eval/followups.jsonl]
        [--switch eval/corpus_d.jsonl]

Variants, all in one run over the same data directory:

- ``none``: the follow-up asked alone, the conversation dropped (the floor);
- ``glue``: the previous question glued in front of the follow-up (what the app did before);
- ``carry``: the previous turns' most specific words carried (rag/conversation.py), three
  passage lists fused, the previous answer's sentences not repeated, and the answer chosen
  for the question with the carried words;
- ``carry-q``: the same passages, the answer chosen for the question as typed (shipped).

``--switch`` asks each question of a set after the previous question of the same file and
its gold answer, a conversation it does not follow from: a reading that helps follow-ups
but costs these is no gain.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rag.conversation import read_follow_up
from rag.engine import RAG
from rag.evaluation import QA, load_qa, run_eval
from rag.prompts import plain_question
from rag.settings import Settings


class _Asked:
    """The engine seen through one variant: the same passages and answers API as RAG."""

    def __init__(self, rag: RAG, variant: str) -> None:
        self.rag, self.variant = rag, variant

    def _turn(self, question: str, history):
        if self.variant == "none":
            return question, ()
        if self.variant == "glue":
            previous = [m["content"] for m in history if m["role"] == "user"]
            return (f"{previous[-1]} {question}" if previous else question), ()
        return question, history

    def warm_up(self, generator: bool = True) -> None:
        self.rag.warm_up(generator)

    def search(self, query, k=None):
        return self.rag.search(query, k)

    def retrieve(self, question, history=(), k=None):
        return self.rag.retrieve(*self._turn(question, history), k=k)

    def ask(self, question, history=()):
        if self.variant != "carry":
            return self.rag.ask(*self._turn(question, history))
        real = self.rag.retrieve

        def with_carried(q, h=(), *a, **kw):
            _, hits = real(q, h, *a, **kw)
            return (read_follow_up(plain_question(q), h, self.rag.store.idf).query if h else q), hits

        self.rag.retrieve = with_carried
        try:
            return self.rag.ask(question, history)
        finally:
            del self.rag.retrieve


def _switched(questions: list[QA]) -> list[QA]:
    """Each question after the previous one of the file and its gold answer."""
    out = []
    for prev, qa in zip(questions, questions[1:]):
        said = prev.answer if prev.answerable else "The documents do not contain the answer."
        history = [{"role": "user", "content": prev.question}, {"role": "assistant", "content": said}]
        out.append(QA(qa.question, qa.answer, qa.aliases, qa.doc, qa.pages, qa.kind, qa.line, history))
    return out


def _row(name: str, variant: str, report: dict) -> str:
    o = report["overall"]
    fields = [o.get("accuracy", 0), o.get("false_abstention", 0), o.get("recall@5", 0), o.get("citation_precision", 0)]
    near = report["by_kind"].get("unanswerable", {}).get("abstention")
    cells = "".join(f"{v:>10.3f}" for v in fields) + (f"{near:>10.3f}" if near is not None else f"{'-':>10}")
    return f"{name:<34}{variant:<9}{cells}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--qa", default="eval/followups.jsonl")
    ap.add_argument("--switch", default="", help="a question set asked after unrelated turns")
    ap.add_argument("--variants", default="none,glue,carry,carry-q")
    args = ap.parse_args()
    rag = RAG(Settings.from_env(data_dir=Path(args.data_dir)))
    sets = [(Path(args.qa).name, load_qa(Path(args.qa)))]
    if args.switch:
        sets.append((f"{Path(args.switch).name} (switched)", _switched(load_qa(Path(args.switch)))))
    print(f"{'set':<34}{'variant':<9}{'accuracy':>10}{'refused':>10}{'R@5':>10}{'cite P':>10}{'near ref':>10}")
    for name, questions in sets:
        for variant in args.variants.split(","):
            t = time.perf_counter()
            report = run_eval(_Asked(rag, variant), questions, k=10, generate=True)
            print(_row(name, variant, report), f"  ({time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
