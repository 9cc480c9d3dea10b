"""Evaluation helpers for the UI: question files and report tables (pure functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag import evaluation
from rag.evaluation import QA

EVAL_DIR = Path(__file__).resolve().parent.parent / "eval"

METRICS = evaluation.METRIC_KEYS


def bundled_question_files(folder: Path = EVAL_DIR) -> list[Path]:
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def parse_qa_text(text: str, name: str) -> list[QA]:
    """Parse an uploaded JSONL question file; a bad line raises EvalError naming it."""
    return evaluation.parse_qa_text(text, name)


def metrics_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per metric, one column for overall and one per question kind."""
    data = {"overall": report["overall"], **report.get("by_kind", {})}
    rows = []
    for key in METRICS:
        if not any(key in v for v in data.values()):
            continue
        row: dict[str, Any] = {"metric": key}
        for col, values in data.items():
            v = values.get(key)
            row[col] = None if v is None else (v if isinstance(v, int) else round(float(v), 3))
        rows.append(row)
    return rows


def _pages(p: Any) -> str:
    if p is None or p == []:
        return "—"
    return ", ".join(str(x) for x in p) if isinstance(p, list) else str(p)


def failure_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for f in report.get("failures", []):
        gold = f.get("gold", {})
        row = {
            "question": f["question"],
            "kind": f.get("kind", ""),
            "why": ", ".join(f.get("why", [])),
            "gold": f"{gold.get('doc') or '—'} p. {_pages(gold.get('page'))}",
        }
        if "answer" in f:  # beside the gold page: what was answered, and from which pages
            row["answer"] = f["answer"]
            row["cited"] = "; ".join(f"{c['doc']} p. {c['page']}" for c in f.get("cited", []))
        row["retrieved (top 5)"] = "; ".join(f"{r['doc']} p. {r['page']}" for r in f.get("retrieved", []))
        rows.append(row)
    return rows
