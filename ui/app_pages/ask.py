"""Ask: a chat over the documents. Each [n] opens the cited page with the passage highlighted."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import streamlit as st

from rag.errors import RAGError
from rag.types import Answer
from ui import render
from ui.state import Runtime, run_page, session
from ui.widgets import citation_viewer, scope_filters, show_html, sources_list

logger = logging.getLogger(__name__)

HISTORY_TURNS = 6  # prior messages passed to the engine to resolve follow-up questions


def _history(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for m in messages[-HISTORY_TURNS:]:
        if m["role"] == "assistant" and m.get("answer") is not None:
            out.append({"role": "assistant", "content": m["answer"].answer})
        elif m["role"] == "user":
            out.append({"role": "user", "content": m["content"]})
    return out


def _copy_text(a: Answer) -> str:
    lines = [a.answer]
    if a.citations:
        lines.append("")
        lines += [f"[{c.n}] {c.doc}, page {c.page}" for c in a.citations]
    return "\n".join(lines)


def _toolbar(m: dict[str, Any]) -> None:
    a: Answer | None = m.get("answer")
    with st.container(horizontal=True, gap="small"):
        if a is not None:
            with st.popover("Copy", icon=":material/content_copy:", help="Copy the answer with its sources"):
                st.caption("Use the copy icon of the box.")
                st.code(_copy_text(a), language=None, wrap_lines=True)
        st.button("Regenerate", icon=":material/refresh:", key="regenerate", on_click=_regenerate)
        st.button("New conversation", icon=":material/add_comment:", key="new-conversation-bottom", on_click=_reset)


def _regenerate() -> None:
    msgs = st.session_state.get("messages", [])
    if msgs and msgs[-1]["role"] == "assistant":
        msgs.pop()
    if msgs and msgs[-1]["role"] == "user":
        st.session_state["pending_question"] = msgs.pop()["content"]


def _reset() -> None:
    st.session_state["messages"] = []
    st.session_state.pop("pending_question", None)


def _show_answer(rt: Runtime, m: dict[str, Any], last: bool) -> None:
    if m.get("error"):
        st.error(m["error"], icon=":material/error:")
        if last:
            _toolbar(m)
        return
    a: Answer = m["answer"]
    show_html(render.answer_html(a))
    missing = render.unsupported_count(a)
    if missing:
        st.caption(
            f":material/warning: {missing} statement{'s are' if missing > 1 else ' is'} "
            f"{render.UNSUPPORTED_TIP} (greyed out) — check the sources before relying on "
            f"{'them' if missing > 1 else 'it'}."
        )
    by_n = {c.n: c for c in a.citations}
    if by_n:
        chosen = st.pills(
            "Citations — choose one to see the page",
            list(by_n),
            format_func=lambda n: f"[{n}] {render.short_name(by_n[n].doc, 32)} · p. {by_n[n].page}",
            key=f"cite-{m['id']}",
        )
        if chosen is not None:
            with st.container(border=True):
                citation_viewer(rt.engine, by_n[chosen], key=f"view-{m['id']}")
    sources_list(a.sources)
    if a.timings.get("total"):
        st.caption(f"Answered in {a.timings['total']:.1f} s")
    if last:
        _toolbar(m)


def _stream_answer(rt: Runtime, question: str, history: list[dict[str, str]], scope) -> dict[str, Any]:
    """Stream one answer into the current chat message; returns the message to keep."""
    note = st.empty()
    sources_box = st.container()
    text_box = st.empty()
    note.caption(":material/search: Searching your documents…")
    text = ""
    answer: Answer | None = None
    collections, doc_ids = scope
    for ev in rt.engine.ask_stream(question, history, collections=collections, doc_ids=doc_ids):
        if ev.kind == "sources":
            with sources_box:
                sources_list(ev.value)
            if rt.warmup.loading:
                note.info("The language model is still loading (first start only)…", icon=":material/hourglass_top:")
                rt.warmup.wait()
            note.caption(f":material/edit_note: Writing the answer from {len(ev.value)} passages…")
        elif ev.kind == "token":
            text += ev.value
            text_box.markdown(render.md_escape(text) + " ▌")
        elif ev.kind == "done":
            answer = ev.value
    note.empty()
    return {"role": "assistant", "id": uuid.uuid4().hex[:8], "answer": answer}


def render_page(rt: Runtime) -> None:
    msgs: list[dict[str, Any]] = session("messages", [])
    with st.sidebar:
        st.subheader("Scope")
        scope = scope_filters(rt.engine, "ask")
    top = st.container(horizontal=True, vertical_alignment="center")
    top.title("Ask", anchor=False)
    if msgs:
        top.button("New conversation", icon=":material/add_comment:", key="new-conversation", on_click=_reset)
    if rt.warmup.loading:
        st.info(
            "The models are loading in the background; the first answer starts once they are ready.",
            icon=":material/hourglass_top:",
        )
    elif rt.warmup.error:
        st.error(rt.warmup.error, icon=":material/error:")
    if not msgs and rt.engine.store.chunk_count() == 0:
        st.info("The library is empty: add PDF, TXT or Markdown files first.", icon=":material/info:")
        st.page_link("app_pages/library.py", label="Go to the Library", icon=":material/folder_open:")

    for i, m in enumerate(msgs):
        with st.chat_message(m["role"]):
            if m["role"] == "user":
                st.markdown(render.md_escape(m["content"]))
            else:
                _show_answer(rt, m, last=(i == len(msgs) - 1))

    typed = st.chat_input("Ask a question about your documents")
    question = (typed or st.session_state.pop("pending_question", None) or "").strip()
    if not question:
        return
    history = _history(msgs)
    msgs.append({"role": "user", "id": uuid.uuid4().hex[:8], "content": question})
    with st.chat_message("user"):
        st.markdown(render.md_escape(question))
    with st.chat_message("assistant"):
        t0 = time.perf_counter()
        try:
            reply = _stream_answer(rt, question, history, scope)
        except RAGError as e:
            reply = {"role": "assistant", "id": uuid.uuid4().hex[:8], "error": str(e)}
        logger.info("answered in %.1f s", time.perf_counter() - t0)
    msgs.append(reply)
    st.rerun()


if __name__ == "__main__":
    run_page(render_page)
