"""Compare answering variants (prompt, passages, fallback) with the real generator.

Usage: .venv/bin/python -m bench.answer_variants --data-dir D --qa eval/sample_docs.jsonl [--limit N]
Prints accuracy, citation precision/recall, abstention and false abstention per variant.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from rag import prompts
from rag.engine import RAG
from rag.evaluation import Row, answer_metrics, load_qa
from rag.settings import Settings

VARIANTS = {
    "fewshot": dict(example=True),
    "zeroshot": dict(example=False),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--qa", required=True)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--show", action="store_true")
    args = ap.parse_args()
    qs = load_qa(Path(args.qa))
    if args.limit:
        random.Random(0).shuffle(qs)
        qs = qs[: args.limit]
    rag = RAG(Settings.from_env(data_dir=Path(args.data_dir)))
    rag.warm_up()
    original = prompts.build_messages
    for name in args.variants.split(","):
        opts = VARIANTS[name]
        prompts.build_messages = lambda *a, _o=opts, **k: original(*a, **{**k, **_o})
        import rag.engine as eng

        eng.build_messages = prompts.build_messages
        rows = []
        t0 = time.perf_counter()
        for qa in qs:
            ans = rag.ask(qa.question)
            rows.append(Row(qa, None, None, ans.sources, 0.0, ans))
            if args.show:
                print(
                    f"  {qa.kind:<12} gold={qa.answer!r:<30} raw={ans.raw_answer[:100]!r}\n{'':15}final={ans.answer[:120]!r}"
                )
        m = answer_metrics(rows)
        print(
            f"{name:<10} " + " ".join(f"{k}={v:.3f}" for k, v in m.items()) + f" ({time.perf_counter() - t0:.0f}s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
