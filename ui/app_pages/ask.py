"""Ask: a chat over the documents. Each [n] opens the cited page with the passage highlighted.

Files attached to a message (or dropped on the empty library's welcome, or the sample
documents) are ingested in the conversation, with their progress, before the question
typed with them is answered.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import streamlit as st

from ingest.pipeline import IngestReport, Source
from rag.errors import RAGError
from rag.types import Answer
from ui import auth, render, uploads
from ui.state import Runtime, run_page, session
from ui.widgets import citation_viewer, scope_filters, show_html, sources_list

logger = logging.getLogger(__name__)

HISTORY_TURNS = 6  # prior messages passed to the engine to resolve follow-up questions
CHAT_PLACEHOLDER = "Ask a question, or attach files to ask about"
SAMPLES_LABEL = "Try the sample documents"
# Questions the sample documents answer (docs/sample_docs.md), offered once they are added.
SAMPLE_QUESTIONS = [
    "How many days of paid annual leave does a full-time Acme employee get?",
    "How many purple sea urchins were counted in the 2023 survey?",
    "What water temperature should I use for brewing coffee?",
]


def _history(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for m in messages[-HISTORY_TURNS:]:
        if m["role"] == "assistant" and m.get("answer") is not None:
            out.append({"role": "assistant", "content": m["answer"].answer})
        elif m["role"] == "user" and m["content"]:
            out.append({"role": "user", "content": m["content"]})
    return out


def _copy_text(a: Answer) -> str:
    lines = [a.answer]
    if a.citations:
        lines.append("")
        lines += [f"[{c.n}] {c.doc}, {render.where(c.page, c.location)}" for c in a.citations]
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
    elif len(msgs) >= 2 and msgs[-1].get("kind") == "ingest" and msgs[-2]["content"]:
        st.session_state["pending_answer"] = msgs[-2]["content"]  # asked with files: they stay added


def _ask_sample(question: str) -> None:
    st.session_state["pending_question"] = question


def _want_samples() -> None:
    st.session_state["add-samples"] = True


def _reset() -> None:
    st.session_state["messages"] = []
    st.session_state.pop("pending_question", None)
    st.session_state.pop("pending_answer", None)


def _show_user(m: dict[str, Any]) -> None:
    """A user message: the question (or what was clicked), then the files it brought."""
    if m["content"] or m.get("note"):
        st.markdown(render.md_escape(m["content"] or m["note"]))
    if m.get("files"):
        names = ", ".join(render.md_escape(render.short_name(n, 40)) for n in m["files"])
        st.caption(f":material/attach_file: {names}")


def _show_ingest(m: dict[str, Any], last: bool) -> None:
    """An earlier ingestion in the conversation: its summary, and sample questions to try."""
    if m.get("error"):
        st.error(m["error"], icon=":material/lock:")
        return
    report: IngestReport = m["report"]
    st.markdown(f"Added to **{render.md_escape(m['collection'])}**:")
    uploads.show_summary(report)
    if m.get("samples") and last and any(r.ok for r in report.results):
        st.markdown("Try asking:")
        with st.container(horizontal=True, gap="small"):
            for i, q in enumerate(SAMPLE_QUESTIONS):
                st.button(q, key=f"sample-q-{m['id']}-{i}", on_click=_ask_sample, args=(q,), icon=":material/help:")


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
            format_func=lambda n: (
                f"[{n}] {render.short_name(by_n[n].doc, 32)} · "
                f"{render.short_name(render.where(by_n[n].page, by_n[n].location, short=True), 32)}"
            ),
            key=f"cite-{m['id']}",
        )
        if chosen is not None:
            with st.container(border=True):
                citation_viewer(rt.engine, by_n[chosen], key=f"view-{m['id']}")
    sources_list(a.sources, {c.chunk_id: c.n for c in a.citations})
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
            # Where each passage is, as its reader looks for it (slide 7, sheet 'Budget' …).
            rt.engine.store.fill_locations([*answer.citations, *answer.sources])
    note.empty()
    return {"role": "assistant", "id": uuid.uuid4().hex[:8], "answer": answer}


def _welcome(may_upload: bool, drop_key: str) -> None:
    """The empty library: a drop zone and the sample documents, one click away."""
    with st.container(border=True):
        st.subheader("Start with your documents", anchor=False)
        if not may_upload:
            st.info("You may not upload to any collection; ask an admin to add you.", icon=":material/lock:")
            return
        st.markdown(
            f"Add {uploads.FORMATS} files, then ask a question about them: every answer points at the "
            "page it comes from. Files can also come with a question: attach them with the **+** of the question box below."
        )
        st.file_uploader(
            "Drop files here to add them to your library",
            type=uploads.UPLOAD_TYPES,
            accept_multiple_files=True,
            key=drop_key,
        )
        if uploads.sample_sources():
            with st.container(horizontal=True, vertical_alignment="center", gap="small"):
                st.button(
                    SAMPLES_LABEL,
                    icon=":material/auto_stories:",
                    type="primary",
                    key="try-samples",
                    on_click=_want_samples,
                )
                st.caption("An employee handbook, a tidepool field guide, coffee brewing notes and solar system notes.")


def _add_files(rt: Runtime, msgs: list[dict[str, Any]], sources: list[Source], collections, samples=False):
    """Ingest in the conversation (live progress in an assistant message); returns the new
    documents' ids, or None when nothing could be added."""
    target = uploads.target_collection(rt, collections)
    record: dict[str, Any] = {"role": "assistant", "kind": "ingest", "id": uuid.uuid4().hex[:8], "samples": samples}
    with st.chat_message("assistant"):
        if target is None:
            record["error"] = "You may not upload to any collection; ask an admin to add you."
            st.error(record["error"], icon=":material/lock:")
            msgs.append(record)
            return None
        report = uploads.ingest(rt, sources, target)
    record.update(report=report, collection=target)
    msgs.append(record)
    store = rt.engine.store
    found = (store.find_document(r.name, target) for r in report.results if r.ok)
    return [d.id for d in found if d is not None]


def render_page(rt: Runtime) -> None:
    msgs: list[dict[str, Any]] = session("messages", [])
    with st.sidebar:
        st.subheader("Scope")
        scope = scope_filters(rt.engine, "ask")
    collections, doc_ids = scope

    # What the welcome's widgets asked for in the run before this one, taken before it is
    # drawn again, so that the ingestion shows in the conversation, not in the welcome.
    gen = session("ask-drop-generation", 0)
    drop_key = f"ask-drop-{gen}"
    incoming: list[Source] = []
    samples = bool(st.session_state.pop("add-samples", False))
    if samples:
        incoming = uploads.sample_sources()
    elif st.session_state.get(drop_key):
        incoming = uploads.sources_from_uploads(st.session_state[drop_key])
        st.session_state["ask-drop-generation"] = gen + 1  # an empty drop zone next time

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
    if not msgs and not incoming and not rt.engine.store.documents(auth.readable(rt)):
        _welcome(bool(auth.uploadable(rt)), drop_key)

    for i, m in enumerate(msgs):
        with st.chat_message(m["role"]):
            last = i == len(msgs) - 1
            if m["role"] == "user":
                _show_user(m)
            elif m.get("kind") == "ingest":
                _show_ingest(m, last)
            else:
                _show_answer(rt, m, last)

    prompt = st.chat_input(CHAT_PLACEHOLDER, accept_file="multiple", file_type=uploads.UPLOAD_TYPES, key="ask-input")
    if prompt is not None and prompt.files:
        incoming = uploads.sources_from_uploads(prompt.files)
    answer_only = st.session_state.pop("pending_answer", None)
    typed = prompt.text if prompt is not None else ""
    question = (typed or st.session_state.pop("pending_question", None) or answer_only or "").strip()
    if not question and not incoming:
        return
    history = _history(msgs)
    if not answer_only:
        if samples:
            user = {"role": "user", "id": uuid.uuid4().hex[:8], "content": "", "note": SAMPLES_LABEL, "files": []}
        else:
            user = {
                "role": "user",
                "id": uuid.uuid4().hex[:8],
                "content": question,
                "files": [x.name for x in incoming],
            }
        msgs.append(user)
        with st.chat_message("user"):
            _show_user(user)
    if incoming:
        added = _add_files(rt, msgs, incoming, collections, samples=samples)
        if doc_ids and added:
            doc_ids = [*doc_ids, *added]  # a question asked with files may read them
    if question and not samples:
        with st.chat_message("assistant"):
            t0 = time.perf_counter()
            try:
                reply = _stream_answer(rt, question, history, (collections, doc_ids))
            except RAGError as e:
                reply = {"role": "assistant", "id": uuid.uuid4().hex[:8], "error": str(e)}
            logger.info("answered in %.1f s", time.perf_counter() - t0)
        msgs.append(reply)
    st.rerun()


if __name__ == "__main__":
    run_page(render_page)
