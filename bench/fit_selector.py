"""Fit the answer scorer on the training question sets; measure it on the test sets.

    .venv/bin/python -m bench.fit_selector \\
        --train eval/corpus.jsonl@/tmp/rag-corpus eval/sample_docs.jsonl@/tmp/rag-samples \\
        --test eval/corpus_f.jsonl@/tmp/rag-corpus [--write]

Each ``FILE@DATA_DIR`` is a question set and the data directory its documents were ingested
into (`rag ingest --data-dir DATA_DIR ...`). For every question the real retrieval runs, the
candidates of the top passages are scored, and a candidate counts as right when it holds the
gold answer and comes from a gold page. The logistic regression is fitted on the training
sets only; the abstention threshold is chosen on them for ``--target-false-refusal``. Test
sets print figures and nothing else (their failures are not shown): accuracy, answerable
questions refused, near misses refused, citation precision, and the plain baseline of
``bench/baseline.py`` on the same passages. ``--write`` stores the weights in
``rag/answer/weights.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pickle
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bench.baseline import baseline_answer
from bench.common import ROOT
from rag.answer import AnswerSelector
from rag.answer.features import ANSWER_NAMES, NAMES, answer_view
from rag.answer.scorer import WEIGHTS, Linear, Scorer
from rag.engine import RAG
from rag.evaluation import answer_correct, load_qa, page_hit
from rag.prompts import plain_question
from rag.settings import Settings


@dataclass
class Item:
    qa: object
    shown: list[str]  # each candidate's answer text
    pages: list[bool]  # each candidate from a gold page
    x: np.ndarray
    y: np.ndarray
    baseline: str


def collect(spec: str, engines: dict) -> tuple[str, list[Item]]:
    path, _, data_dir = spec.partition("@")
    data_dir = data_dir or "/tmp/rag-corpus"
    if data_dir not in engines:
        engines[data_dir] = RAG(replace(Settings.from_env(), data_dir=Path(data_dir)))
    rag = engines[data_dir]
    selector = AnswerSelector(rag.embed_sentences, rag.idf, max_passages=rag.settings.quote_passages)
    items = []
    for qa in load_qa(Path(path)):
        query = plain_question(qa.question)
        hits = rag.retriever.search(query, rag.settings.top_k)
        read = rag._with_tables(hits)
        cands, x = selector.features(query, read)
        shown = [c.shown or c.text for c in cands]
        pages = [page_hit(read[c.n - 1].doc, read[c.n - 1].page, qa) for c in cands]
        y = np.array([qa.answerable and ok and answer_correct(s, qa) for s, ok in zip(shown, pages)], dtype=float)
        base, _ = baseline_answer(query, hits, rag.embed_sentences)
        items.append(Item(qa, shown, pages, x.reshape(len(cands), len(NAMES)), y, base))
    return Path(path).name, items


def with_next(it: Item, best: int) -> int:
    """The candidate the answer shows for ``best``: as :func:`rag.answer.with_next`, the run
    one sentence longer that starts with it (its shown text starts with the chosen one's)."""
    chosen = it.shown[best]
    longer = [i for i, t in enumerate(it.shown) if len(t) > len(chosen) and t.startswith(chosen)]
    return min(longer, key=lambda i: len(it.shown[i])) if longer else best


def measure(items: list[Item], scorer: Scorer) -> dict:
    ans = [it for it in items if it.qa.answerable]
    una = [it for it in items if not it.qa.answerable]
    right = refused = near = answered = cited = 0
    for it in items:
        says, best = False, None
        if len(it.y):
            logits = scorer.rank.logits(it.x)
            best = int(np.argmax(logits))
            says = scorer.confidence(answer_view(it.x, logits)) >= scorer.threshold
        if not it.qa.answerable:
            near += not says
            continue
        if not says:
            refused += 1
            continue
        answered += 1
        cited += it.pages[best]
        right += answer_correct(it.shown[with_next(it, best)], it.qa)
    n = max(len(ans), 1)
    return {
        "questions": len(items),
        "accuracy": right / n,
        "false_refusal": refused / n,
        "near_miss_refused": near / max(len(una), 1),
        "citation_precision": cited / max(answered, 1),
        "oracle": sum(bool(it.y.any()) for it in ans) / n,
        "baseline_accuracy": sum(answer_correct(it.baseline, it.qa) for it in ans) / n,
    }


def fit_rank(items: list[Item], l2: float) -> Linear:
    """The candidate ranker: a conditional logit (softmax over each question's candidates,
    the likelihood of its right ones), L2-regularised, on standardised features. Questions
    without a right candidate say nothing about ranking and are left out."""
    from scipy.optimize import minimize

    groups = [it for it in items if it.y.sum() > 0]
    x = np.vstack([it.x for it in groups]).astype(np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    zs = [(it.x - mean) / scale for it in groups]
    pos = [it.y > 0 for it in groups]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.5 * l2 * float(w @ w), l2 * w
        for z, y in zip(zs, pos):
            s = z @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            right = p[y].sum()
            total -= float(np.log(right + 1e-12))
            grad = grad - (p[y] @ z[y]) / right + p @ z
        return total, grad

    w = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B").x
    return Linear(NAMES, mean, scale, w, 0.0)


def views(items: list[Item], rank: Linear) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each question's answer view under ``rank``, whether its best candidate is right, and
    whether it is answerable."""
    xs, ys, answerable = [], [], []
    for it in items:
        if len(it.y):
            logits = rank.logits(it.x)
            xs.append(answer_view(it.x, logits))
            ys.append(
                float(it.qa.answerable and answer_correct(it.shown[with_next(it, int(np.argmax(logits)))], it.qa))
            )
        else:
            xs.append(np.zeros(len(ANSWER_NAMES)))
            ys.append(0.0)
        answerable.append(it.qa.answerable)
    return np.array(xs), np.array(ys), np.array(answerable)


def fit(sets: list[list[Item]], l2: float, target: float, unsure: float = 0.15) -> Scorer:
    """The ranker on every training set; the answer step on rank scores of each set from a
    ranker fitted without it (so that it learns how far to trust scores of unseen
    questions), and the threshold that refuses at most ``target`` of the answerable ones."""
    pooled = [it for items in sets for it in items]
    rank = fit_rank(pooled, l2)
    xs, ys, answerable = [], [], []
    for i, items in enumerate(sets):
        others = [it for j, its in enumerate(sets) if j != i for it in its]
        x, y, a = views(items, fit_rank(others, l2) if len(sets) > 1 else rank)
        xs.append(x)
        ys.append(y)
        answerable.append(a)
    x, y, a = np.vstack(xs), np.concatenate(ys), np.concatenate(answerable)
    answer = Linear.fit(ANSWER_NAMES, x, y, None, l2)
    conf = 1.0 / (1.0 + np.exp(-answer.logits(x[a])))
    k = int(np.floor(target * len(conf)))  # answerable questions allowed to be refused
    threshold = float(np.sort(conf)[k]) if k < len(conf) else 0.0
    m = int(np.floor(unsure * len(conf)))  # answerable questions shown as "the closest passage"
    level = max(threshold, float(np.sort(conf)[m]) if m < len(conf) else threshold)
    near = 1.0 / (1.0 + np.exp(-answer.logits(x[~a]))) if (~a).any() else np.zeros(0)
    print(
        f"unsure below {level:.3f}: {np.mean(conf < level):.2f} of answerable and "
        f"{np.mean(near < level) if len(near) else 0.0:.2f} of near misses (training folds)"
    )
    return Scorer(rank, answer, threshold, level)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", nargs="+", required=True)
    ap.add_argument("--test", nargs="*", default=[])
    ap.add_argument("--l2", type=float, default=3.0)
    ap.add_argument("--target-false-refusal", type=float, default=0.05)
    ap.add_argument(
        "--unsure", type=float, default=0.15, help="share of answerable training questions shown as the closest passage"
    )
    ap.add_argument("--cache", type=Path, help="store the collected features here, or read them if it exists")
    ap.add_argument(
        "--held-out", action="store_true", help="also measure each training set with weights fitted on the others"
    )
    ap.add_argument("--write", action="store_true", help=f"store the fitted weights in {WEIGHTS.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    engines: dict = {}
    cached = pickle.loads(args.cache.read_bytes()) if args.cache and args.cache.exists() else {}
    for spec in [*args.train, *args.test]:
        if spec not in cached:
            cached[spec] = collect(spec, engines)
    if args.cache:
        args.cache.write_bytes(pickle.dumps(cached))
    train = [cached[s] for s in args.train]
    test = [cached[s] for s in args.test]
    scorer = fit([items for _, items in train], args.l2, args.target_false_refusal, args.unsure)
    print(f"threshold {scorer.threshold:.3f} (false refusal <= {args.target_false_refusal} on held-out train folds)")
    cols = ("accuracy", "false_refusal", "near_miss_refused", "citation_precision", "oracle", "baseline_accuracy")
    print(f"{'set':28} {'split':5} " + " ".join(f"{c[:18]:>18}" for c in cols))
    for split, sets in (("train", train), ("test", test)):
        for name, items in sets:
            m = measure(items, scorer)
            print(f"{name:28} {split:5} " + " ".join(f"{m[c]:18.3f}" for c in cols))
    if args.held_out and len(train) > 2:
        rows = []
        for i, (name, items) in enumerate(train):
            others = [its for j, (_, its) in enumerate(train) if j != i]
            rows.append(measure(items, fit(others, args.l2, args.target_false_refusal)))
            print(f"{name:28} {'held':5} " + " ".join(f"{rows[-1][c]:18.3f}" for c in cols))
        print(
            f"{'mean, each held out':28} {'held':5} " + " ".join(f"{np.mean([r[c] for r in rows]):18.3f}" for c in cols)
        )
    for label, model in (("rank", scorer.rank), ("answer", scorer.answer)):
        pairs = sorted(zip(model.names, model.coef), key=lambda t: -abs(t[1]))
        print(f"{label} weights:", ", ".join(f"{n} {c:+.2f}" for n, c in pairs))
    if args.write:
        WEIGHTS.write_text(
            json.dumps(
                {
                    "rank": scorer.rank.to_json(),
                    "answer": scorer.answer.to_json(),
                    "threshold": round(scorer.threshold, 6),
                    "unsure": round(scorer.unsure, 6),
                    "fitted_on": [s.partition("@")[0] for s in args.train],
                    "target_false_refusal": args.target_false_refusal,
                    "l2": args.l2,
                    "date": datetime.date.today().isoformat(),
                },
                indent=1,
            )
            + "\n"
        )
        print(f"wrote {WEIGHTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
