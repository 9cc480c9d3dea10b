"""Evaluation: run a question file against the library and see the metrics and the failures."""

from __future__ import annotations

import logging

import streamlit as st

from rag.errors import EvalError
from rag.evaluation import load_qa, run_eval
from ui import evalview
from ui.state import Runtime, run_page

logger = logging.getLogger(__name__)

UPLOAD = "Upload a file…"


def _questions(choice: str):
    """The chosen question set, or None (with the reason shown) when there is none to run."""
    try:
        if choice == UPLOAD:
            up = st.file_uploader("Question file (JSONL)", type=["jsonl", "json"], key="eval-upload")
            if up is None:
                return None
            return evalview.parse_qa_text(up.getvalue().decode("utf-8", errors="replace"), up.name)
        return load_qa(evalview.EVAL_DIR / choice)
    except EvalError as e:
        st.error(str(e), icon=":material/error:")
        return None


def _run(rt: Runtime, questions, k: int, generate: bool) -> dict:
    with st.status(f"Running {len(questions)} questions…", expanded=True) as box:
        bar = st.progress(0.0, text=f"0 of {len(questions)}")

        def progress(i: int, n: int, row) -> None:
            bar.progress(i / max(n, 1), text=f"{i} of {n} — {row.qa.question[:80]}")

        report = run_eval(rt.engine, questions, k=k, generate=generate, progress=progress)
        box.update(label=f"Evaluated {len(questions)} questions", state="complete", expanded=False)
    return report


def _show(report: dict) -> None:
    o = report["overall"]
    cols = st.columns(3)
    cols[0].metric("Recall@5 (page)", f"{o.get('recall@5', 0):.2f}")
    cols[1].metric("MRR@10", f"{o.get('mrr@10', 0):.2f}")
    if "accuracy" in o:
        cols[2].metric("Answer accuracy", f"{o['accuracy']:.2f}")
    else:
        cols[2].metric("Retrieval p95", f"{o.get('retrieval_p95_ms', 0):.0f} ms")
    st.subheader("Metrics", anchor=False)
    st.dataframe(evalview.metrics_rows(report), hide_index=True, width="stretch")
    failures = evalview.failure_rows(report)
    st.subheader(f"Failures ({len(failures)})", anchor=False)
    if failures:
        st.dataframe(
            failures,
            hide_index=True,
            width="stretch",
            column_config={
                "question": st.column_config.TextColumn(width="medium"),
                "answer": st.column_config.TextColumn(width="medium"),
            },
        )
    else:
        answered = "accuracy" in report["overall"]
        st.success(
            "Every question found its gold page in the top 5"
            + (", and every answer was right and cited (near misses refused)." if answered else "."),
            icon=":material/check:",
        )


def render_page(rt: Runtime) -> None:
    st.title("Evaluation", anchor=False)
    st.caption(
        "Measure retrieval (and optionally answers) on a question file: one JSON object per line with "
        "question, answer, doc, page and kind — see `rag eval --help`."
    )
    files = [p.name for p in evalview.bundled_question_files()]
    default = files.index("sample_docs.jsonl") if "sample_docs.jsonl" in files else 0
    choice = st.selectbox("Question file", [*files, UPLOAD], index=default, key="eval-file")
    questions = _questions(choice)
    if questions is not None:
        st.caption(f"{len(questions)} questions")
    c1, c2 = st.columns(2)
    retrieval_only = c1.toggle(
        "Retrieval only",
        value=True,
        key="eval-retrieval-only",
        help="Skip answer generation (much faster; answers take seconds each on a CPU).",
    )
    k = c2.number_input("Passages per question (k)", 1, 50, 10, key="eval-k")
    if st.button("Run evaluation", type="primary", icon=":material/play_arrow:", disabled=questions is None):
        st.session_state["eval-report"] = _run(rt, questions, int(k), generate=not retrieval_only)
    report = st.session_state.get("eval-report")
    if report is not None:
        _show(report)


if __name__ == "__main__":
    run_page(render_page)
