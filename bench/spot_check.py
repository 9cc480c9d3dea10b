"""Spot check on questions outside the evaluation sets, through the CLI's JSON contract.

The questions in ``bench/spot_questions.jsonl`` were written after the answer policy's
tuning, over the documents in ``../shared/corpus`` (acronyms, identifiers, definitions,
counts, names), to check that a change measured on ``eval/`` generalises. A question
passes when the answer holds one of its expected strings (case-insensitive); the expected
"UNANSWERABLE" passes only on an abstention.

Usage:
  .venv/bin/python -m bench.spot_check --data-dir D [--rag .venv/bin/rag]
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--rag", default=".venv/bin/rag")
    ap.add_argument("--questions", default=str(Path(__file__).with_name("spot_questions.jsonl")))
    args = ap.parse_args()
    items = [json.loads(line) for line in open(args.questions) if line.strip()]
    # One process answers every question (one per line on stdin, one JSON per line back), so
    # the models load once, as a user's script over the CLI would have them.
    out = subprocess.run(
        [args.rag, "ask", "--data-dir", args.data_dir, "--json"],
        input="".join(item["q"] + "\n" for item in items),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    answers = [json.loads(line) for line in out.splitlines() if line.strip()]
    if len(answers) != len(items):
        raise SystemExit(f"{len(items)} questions asked, {len(answers)} answers read")
    passed = total = 0
    for item, answer in zip(items, answers):
        if item["a"] == ["UNANSWERABLE"]:
            ok = answer["abstained"]
        else:
            ok = not answer["abstained"] and any(a.lower() in answer["answer"].lower() for a in item["a"])
        passed += ok
        total += 1
        flag = "ok" if ok else "--"
        print(f"{flag} {'ABST' if answer['abstained'] else '    '} {item['q'][:60]:<61} {answer['answer'][:90]!r}")
    print(f"{passed} / {total} pass")


if __name__ == "__main__":
    main()
