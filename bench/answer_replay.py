"""Generate once, then replay the answer policy many times.

Generating with the real model is the slow part of an answer evaluation (minutes); the
policy that follows it — verification, quote fallback, abstention — is fast and has the
thresholds worth tuning. ``generate`` runs retrieval and the model for every question and
stores the passages shown and the model's raw text; ``replay`` re-runs only
``RAG.finish_answer`` on them under settings given as ``KEY=VALUE`` (the ``RAG_*`` names,
lower-case, without the prefix), and prints the answer metrics per variant.

Usage:
  .venv/bin/python -m bench.answer_replay generate --data-dir D --qa eval/corpus.jsonl --out runs.jsonl
  (with --reuse OLD.jsonl, only questions whose passages changed since OLD are generated again)
  .venv/bin/python -m bench.answer_replay replay --data-dir D --qa eval/corpus.jsonl --runs runs.jsonl \
      "" "answer_threshold=0.5" "answer_threshold=0.7"
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from bench.common import machine  # noqa: F401  (sets offline environment first)
from rag.engine import RAG, _says_no_answer
from rag.evaluation import Row, answer_correct, answer_metrics, citation_correct, load_qa
from rag.prompts import build_messages, plain_question
from rag.settings import Settings
from rag.types import Hit


def _shown(h: Hit) -> tuple:
    """What the model is shown of a passage."""
    return h.doc, h.page, h.start, h.end, h.text


def generate(args) -> None:
    rag = RAG(Settings.from_env(data_dir=Path(args.data_dir)))
    rag.warm_up()
    qs = load_qa(Path(args.qa))
    # An earlier run's reply stands for a question whose passages did not change.
    earlier = {r["question"]: r for r in map(json.loads, open(args.reuse))} if args.reuse else {}
    reused = 0
    with open(args.out, "w") as out:
        for qa in qs:
            t0 = time.perf_counter()
            query = plain_question(qa.question)  # as RAG.ask_stream reads it
            hits = rag.retriever.search(query, rag.settings.top_k)
            old = earlier.get(qa.question)
            if old is not None and [_shown(Hit(**h)) for h in old["hits"]] == [_shown(h) for h in hits]:
                out.write(json.dumps(old) + "\n")
                reused += 1
                continue
            gen = rag.generator
            record = {
                "question": qa.question,
                "hits": [dataclasses.asdict(h) for h in hits],
                "relevant": rag._choose(query, hits, {}) is not None,
            }  # at this run's threshold; replay re-checks
            if record["relevant"]:
                messages, kept = build_messages(
                    query, hits, rag.system_prompt, gen.count_tokens, rag._passage_budget(gen)
                )
                pieces, first = [], None
                for piece in gen.stream(messages):
                    first = first or time.perf_counter() - t0
                    pieces.append(piece)
                record.update(
                    kept=len(kept), raw="".join(pieces).strip(), first_token=first, total=time.perf_counter() - t0
                )
            out.write(json.dumps(record) + "\n")
            out.flush()
            print(
                f"{time.perf_counter() - t0:5.1f}s {qa.question[:60]!r} -> {record.get('raw', '')[:80]!r}", flush=True
            )
    if earlier:
        print(f"{reused} of {len(qs)} questions kept their passages and the earlier reply")


def replay(args) -> None:
    qs = {qa.question: qa for qa in load_qa(Path(args.qa))}
    runs = [json.loads(line) for line in open(args.runs)]
    base = Settings.from_env(data_dir=Path(args.data_dir))
    rag = RAG(base)
    for variant in args.variants or [""]:
        overrides = dict(kv.split("=", 1) for kv in variant.split(",") if kv)
        ignore_no = overrides.pop("ignore_model_no", "") == "1"  # what the model's "not in the documents" is worth
        fields = {f.name: f.type for f in dataclasses.fields(Settings)}
        cast = {k: type(getattr(base, k))(v) for k, v in overrides.items() if k in fields}
        rag.settings = dataclasses.replace(base, **cast)
        rows, modes = [], {}
        for run in runs:
            qa = qs[run["question"]]
            query = plain_question(qa.question)  # as RAG.ask_stream reads it
            hits = [Hit(**h) for h in run["hits"]]
            timings = {"first_token": run.get("first_token") or 0.0}
            # As RAG.ask_stream: the selector's choice first; quoted-first answers with it, and
            # a question the model was not run for replays with no reply.
            choice = rag._choose(query, hits, timings)
            if choice is None:
                from rag.prompts import NO_ANSWER
                from rag.types import Answer

                ans = Answer(qa.question, NO_ANSWER, [], hits, True, [], query, timings, "", "abstained")
            elif rag.quote_first:
                ans = rag._quoted(qa.question, query, hits, choice, timings, "")
            else:
                raw = run.get("raw", "")
                if ignore_no and (not raw or _says_no_answer(raw)):
                    raw = "(no usable reply)"
                kept = hits[: run.get("kept", len(hits))]
                ans = rag.finish_answer(qa.question, query, raw, kept, timings, choice)
            rows.append(Row(qa, None, None, hits, 0.0, ans))
            key = (ans.mode, "A" if qa.answerable else "U")
            ok = qa.answerable and answer_correct(ans.answer, qa)
            modes.setdefault(key, [0, 0])
            modes[key][0] += 1
            modes[key][1] += ok
            if args.show:
                cited = qa.answerable and any(citation_correct(c.doc, c.page, c.quote, qa) for c in ans.citations)
                pages = ",".join(f"{Path(c.doc).stem[:12]}:{c.page}" for c in ans.citations)
                print(
                    f"  {ans.mode:<9} {'OK' if ok else '  '} {'C' if cited else ' '} {'A' if qa.answerable else 'U'}"
                    f" gold={qa.answer!r:.30} p={qa.pages} cites=[{pages}] answer={ans.answer[:110]!r}"
                )
        m = answer_metrics(rows)
        mix = " ".join(f"{mode}/{au}={n}({c})" for (mode, au), (n, c) in sorted(modes.items()))
        print(
            f"{variant or 'defaults':<40} "
            + " ".join(f"{k}={v:.3f}" for k, v in m.items() if "ttft" not in k)
            + f"  [{mix}]"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--data-dir", required=True)
    g.add_argument("--qa", required=True)
    g.add_argument("--out", required=True)
    g.add_argument("--reuse", help="an earlier runs file: questions whose passages are unchanged keep its reply")
    r = sub.add_parser("replay")
    r.add_argument("--data-dir", required=True)
    r.add_argument("--qa", required=True)
    r.add_argument("--runs", required=True)
    r.add_argument("--show", action="store_true")
    r.add_argument("variants", nargs="*")
    args = ap.parse_args()
    generate(args) if args.cmd == "generate" else replay(args)


if __name__ == "__main__":
    main()
