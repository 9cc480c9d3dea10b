"""Evaluation: question files, metrics (pure functions) and the ``rag eval`` runner."""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import EvalError
from rag.types import Answer, Hit

KINDS = ("fact", "number", "table", "definition", "multi_hop", "unanswerable")
UNANSWERABLE = "UNANSWERABLE"


@dataclass
class QA:
    question: str
    answer: str
    aliases: list[str] = field(default_factory=list)
    doc: str | None = None
    pages: list[int] = field(default_factory=list)
    kind: str = "fact"
    line: int = 0
    history: list[dict[str, str]] = field(default_factory=list)  # the conversation before a follow-up

    @property
    def answerable(self) -> bool:
        return self.answer != UNANSWERABLE


def load_qa(path: Path) -> list[QA]:
    """Read a JSONL question file; a bad line raises EvalError naming the line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise EvalError(f"{path}: cannot read the question file ({e})") from None
    return parse_qa_text(text, str(path))


def parse_qa_text(text: str, name: str) -> list[QA]:
    """Parse JSONL question text; a bad line raises EvalError naming ``name`` and the line."""
    out = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(parse_qa(json.loads(line), i))
        except json.JSONDecodeError as e:
            raise EvalError(f"{name}, line {i}: not valid JSON ({e.msg})") from None
        except EvalError as e:
            raise EvalError(f"{name}, line {i}: {e}") from None
    if not out:
        raise EvalError(f"{name}: no questions")
    return out


def parse_qa(obj: Any, line: int = 0) -> QA:
    if not isinstance(obj, dict):
        raise EvalError("each line must be a JSON object")
    for key in ("question", "answer"):
        if not isinstance(obj.get(key), str) or not obj[key].strip():
            raise EvalError(f"'{key}' must be a non-empty string")
    kind = obj.get("kind", "fact")
    if kind not in KINDS:
        raise EvalError(f"'kind' must be one of {', '.join(KINDS)}, not {kind!r}")
    page = obj.get("page")
    if page is None:
        pages = []
    elif isinstance(page, int) and not isinstance(page, bool):
        pages = [page]
    elif isinstance(page, list) and all(isinstance(p, int) for p in page):
        pages = list(page)
    else:
        raise EvalError("'page' must be an integer, a list of integers or null")
    if any(p < 1 for p in pages):
        raise EvalError("'page' numbers are 1-based")
    aliases = obj.get("answer_aliases", []) or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise EvalError("'answer_aliases' must be a list of strings")
    doc = obj.get("doc")
    if doc is not None and not isinstance(doc, str):
        raise EvalError("'doc' must be a file name or null")
    qa = QA(obj["question"], obj["answer"], aliases, doc, pages, kind, line, parse_history(obj.get("history", [])))
    if qa.answerable and (doc is None or not pages):
        raise EvalError("an answerable question needs 'doc' and 'page'")
    return qa


def parse_history(history: Any) -> list[dict[str, str]]:
    """A conversation: a list of ``{"role": "user" | "assistant", "content": str}`` turns."""
    if not isinstance(history, list):
        raise EvalError('\'history\' must be a list of {"role", "content"} turns')
    out = []
    for i, m in enumerate(history, 1):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise EvalError(f"'history' turn {i}: 'role' must be \"user\" or \"assistant\"")
        if not isinstance(m.get("content"), str):
            raise EvalError(f"'history' turn {i}: 'content' must be a string")
        out.append({"role": m["role"], "content": m["content"]})
    return out


# -- metrics (pure) ---------------------------------------------------------------------
def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'").replace("\u2013", "-").replace("\u2014", "-")
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)  # 1,200 == 1200
    text = re.sub(r"[^\w%$.\- ]+", " ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def answer_correct(answer: str, qa: QA) -> bool:
    """The normalised gold answer (or an alias) occurs in the normalised answer."""
    got = f" {normalise(answer)} "
    for gold in [qa.answer, *qa.aliases]:
        g = normalise(gold)
        if g and f" {g} " in got:
            return True
    return False


def _same_doc(name: str, gold: str | None) -> bool:
    return gold is not None and (name == gold or Path(name).name == Path(gold).name)


def page_hit(hit_doc: str, hit_page: int, qa: QA) -> bool:
    return _same_doc(hit_doc, qa.doc) and hit_page in qa.pages


def first_relevant_rank(hits: Sequence[Hit], qa: QA) -> int | None:
    for i, h in enumerate(hits, 1):
        if page_hit(h.doc, h.page, qa):
            return i
    return None


def retrieval_metrics(ranks: Sequence[int | None], doc_ranks: Sequence[int | None]) -> dict[str, float]:
    """Recall@1/5/10 and MRR@10 from first-relevant ranks (None = not found)."""
    n = len(ranks)
    if n == 0:
        return {}

    def recall(k: int, rs) -> float:
        return sum(1 for r in rs if r is not None and r <= k) / n

    return {
        "recall@1": recall(1, ranks),
        "recall@5": recall(5, ranks),
        "recall@10": recall(10, ranks),
        "mrr@10": sum(1.0 / r for r in ranks if r is not None and r <= 10) / n,
        "doc_recall@5": recall(5, doc_ranks),
    }


def citation_correct(doc: str, page: int, quote: str, qa: QA) -> bool:
    if page_hit(doc, page, qa):
        return True
    q = f" {normalise(quote)} "
    return any(normalise(g) and f" {normalise(g)} " in q for g in [qa.answer, *qa.aliases])


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    vals = sorted(values)
    idx = min(len(vals) - 1, max(0, int(round(p / 100 * (len(vals) - 1)))))
    return vals[idx]


@dataclass
class Row:
    qa: QA
    rank: int | None
    doc_rank: int | None
    hits: list[Hit]
    retrieval_s: float
    answer: Answer | None = None


def answer_metrics(rows: Sequence[Row]) -> dict[str, float]:
    answerable = [r for r in rows if r.qa.answerable and r.answer is not None]
    unanswerable = [r for r in rows if not r.qa.answerable and r.answer is not None]
    out: dict[str, float] = {}
    if answerable:
        out["accuracy"] = sum(answer_correct(r.answer.answer, r.qa) for r in answerable) / len(answerable)
        cites = [(r, c) for r in answerable for c in r.answer.citations]
        out["citation_precision"] = (
            sum(citation_correct(c.doc, c.page, c.quote, r.qa) for r, c in cites) / len(cites) if cites else 0.0
        )
        out["citation_recall"] = sum(
            any(citation_correct(c.doc, c.page, c.quote, r.qa) for c in r.answer.citations) for r in answerable
        ) / len(answerable)
        out["false_abstention"] = sum(r.answer.abstained for r in answerable) / len(answerable)
    if unanswerable:
        out["abstention"] = sum(r.answer.abstained for r in unanswerable) / len(unanswerable)
    ttft = [r.answer.timings.get("first_token", r.answer.timings.get("total", 0.0)) for r in rows if r.answer]
    if ttft:
        out["ttft_p50_s"] = percentile(ttft, 50)
        out["ttft_p95_s"] = percentile(ttft, 95)
    return out


def summarise(rows: Sequence[Row], generate: bool) -> dict[str, Any]:
    answerable = [r for r in rows if r.qa.answerable]
    out: dict[str, Any] = {"questions": len(rows), "answerable": len(answerable)}
    out.update(retrieval_metrics([r.rank for r in answerable], [r.doc_rank for r in answerable]))
    lat = [r.retrieval_s for r in rows]
    out["retrieval_p50_ms"] = percentile(lat, 50) * 1000
    out["retrieval_p95_ms"] = percentile(lat, 95) * 1000
    if generate:
        out.update(answer_metrics(rows))
    return out


def failure_reasons(row: Row) -> list[str]:
    """Why a question counts as a failure (empty when it does not): the gold page not in the
    top 5 passages, a wrong answer, no right citation, or a near miss answered."""
    qa, a = row.qa, row.answer
    reasons = []
    if qa.answerable and (row.rank is None or row.rank > 5):
        reasons.append("retrieval")
    if a is not None and qa.answerable:
        if a.abstained:
            reasons.append("refused")
        elif not answer_correct(a.answer, qa):
            reasons.append("answer")
        if not a.abstained and not any(citation_correct(c.doc, c.page, c.quote, qa) for c in a.citations):
            reasons.append("citation")
    if a is not None and not qa.answerable and not a.abstained:
        reasons.append("answered near miss")
    return reasons


def failure(row: Row) -> dict[str, Any] | None:
    """A failed question as the report lists it, with what was retrieved and answered."""
    reasons = failure_reasons(row)
    if not reasons:
        return None
    qa, a = row.qa, row.answer
    out = {
        "line": qa.line,
        "question": qa.question,
        "kind": qa.kind,
        "why": reasons,
        "gold": {"doc": qa.doc, "page": qa.pages, "answer": qa.answer},
        "retrieved": [{"doc": h.doc, "page": h.page, "score": round(h.score, 4)} for h in row.hits[:5]],
    }
    if a is not None:
        out.update(
            answer=a.answer,
            abstained=a.abstained,
            mode=a.mode,
            cited=[{"doc": c.doc, "page": c.page, "quote": c.quote} for c in a.citations],
        )
    return out


def run_eval(rag, questions: Sequence[QA], k: int = 10, generate: bool = True, progress=None) -> dict[str, Any]:
    """Run every question through retrieval (and answering) and compute the report."""
    warm_up = getattr(rag, "warm_up", None)
    if warm_up is not None:  # load the models first, so the first question's latency is not the load time
        warm_up(generator=generate)
    rows: list[Row] = []
    for i, qa in enumerate(questions, 1):
        t = time.perf_counter()
        if qa.history:  # a follow-up: retrieved in its conversation, as the app retrieves it
            _, hits = rag.retrieve(qa.question, qa.history, k=max(k, 10))
        else:
            hits = rag.search(qa.question, k=max(k, 10))
        dt = time.perf_counter() - t
        rank = first_relevant_rank(hits, qa) if qa.answerable else None
        doc_rank = next((j for j, h in enumerate(hits, 1) if _same_doc(h.doc, qa.doc)), None)
        row = Row(qa, rank, doc_rank, hits, dt)
        if generate:
            row.answer = rag.ask(qa.question, qa.history)
        rows.append(row)
        if progress:
            progress(i, len(questions), row)
    report: dict[str, Any] = {"overall": summarise(rows, generate), "by_kind": {}}
    for kind in KINDS:
        sub = [r for r in rows if r.qa.kind == kind]
        if sub:
            report["by_kind"][kind] = summarise(sub, generate)
    report["failures"] = [f for f in map(failure, rows) if f is not None]
    return report


# The report's metrics, in the order the CLI table and the Evaluation page show them.
METRIC_KEYS = [
    "questions",
    "recall@1",
    "recall@5",
    "recall@10",
    "mrr@10",
    "doc_recall@5",
    "accuracy",
    "citation_precision",
    "citation_recall",
    "abstention",
    "false_abstention",
    "retrieval_p50_ms",
    "retrieval_p95_ms",
    "ttft_p50_s",
    "ttft_p95_s",
]


def format_report(report: dict[str, Any]) -> str:
    keys = METRIC_KEYS
    cols = ["overall", *report["by_kind"]]
    data = {"overall": report["overall"], **report["by_kind"]}
    lines = [f"{'metric':<20}" + "".join(f"{c:>13}" for c in cols)]
    for key in keys:
        if not any(key in data[c] for c in cols):
            continue
        cells = []
        for c in cols:
            v = data[c].get(key)
            cells.append(f"{'-':>13}" if v is None else (f"{v:>13d}" if isinstance(v, int) else f"{v:>13.3f}"))
        lines.append(f"{key:<20}" + "".join(cells))
    lines.append(f"\n{len(report['failures'])} failures (use --json to see them)")
    return "\n".join(lines)
