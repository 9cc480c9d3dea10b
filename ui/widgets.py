"""Streamlit pieces shared by several pages: scope filters, sources, the citation viewer."""

from __future__ import annotations

import html
import logging
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path

import streamlit as st

from rag import access
from rag.engine import RAG
from rag.types import Citation, Hit
from ui import auth, render
from ui.pdfview import PageImage, render_page

logger = logging.getLogger(__name__)


def show_html(body: str) -> None:
    """Show trusted markup (callers escape every piece of document text) with the app's CSS."""
    st.html(render.CSS + body)


def scope_filters(engine: RAG, key: str, where=None) -> tuple[list[str] | None, list[int] | None]:
    """Collection and document pickers; an empty choice means "everything"."""
    where = where or st
    readable = access.readable_collections(engine.store, auth.principal())  # None = all (single-user)
    names = [c["name"] for c in engine.store.collections() if readable is None or c["name"] in readable]
    chosen = where.multiselect(
        "Collections",
        names,
        key=f"{key}-collections",
        placeholder="All collections",
        help="Only search these collections (leave empty for all).",
    )
    allowed = access.restrict(chosen or None, readable)
    docs = engine.store.documents(allowed)
    labels = {d.id: f"{render.short_name(d.name)} ({d.collection})" for d in docs}
    current = [i for i in st.session_state.get(f"{key}-docs", []) if i in labels]
    if st.session_state.get(f"{key}-docs") is not None and current != st.session_state[f"{key}-docs"]:
        st.session_state[f"{key}-docs"] = current  # drop documents that left the scope
    doc_ids = where.multiselect(
        "Documents",
        list(labels),
        format_func=lambda i: labels.get(i, str(i)),
        key=f"{key}-docs",
        placeholder="All documents",
        help="Only search these documents (leave empty for all).",
    )
    return allowed, (doc_ids or None)


def source_label(n: int, hit: Hit) -> str:
    return f"[{n}] {render.short_name(hit.doc, 40)} · p. {hit.page}"


def sources_list(hits: Sequence[Hit], cited: Mapping[int, int] | None = None, expanded: bool = False) -> None:
    """The passages an answer was built from, in retrieval order, each expandable.

    ``cited`` maps a passage's chunk id to the number the answer cites it by: those passages
    carry their [n], the others say they were not cited. Without it (while the answer is
    being written) passages carry no number, so none can be taken for a citation."""
    if not hits:
        return
    label = f"Sources ({len(hits)}" + (f" · {len(set(cited.values()))} cited)" if cited is not None else ")")
    with st.expander(label, expanded=expanded, icon=":material/library_books:"):
        for h in hits:
            n = (cited or {}).get(h.chunk_id)
            mark = f"<b>[{n}]</b> " if n else ""
            tail = ' <span class="rag-uncited">· not cited</span>' if cited is not None and not n else ""
            show_html(
                f'<div class="rag-name">{mark}{html.escape(h.doc)} · {html.escape(render.where(h.page, h.location))}'
                f"{tail}</div>"
                f'<div class="rag-passage">{html.escape(h.text)}</div>'
            )


@st.cache_data(max_entries=64, show_spinner=False)
def _page_image(path: str, mtime: float, page: int, quote: str) -> PageImage:
    return render_page(Path(path), page, quote)


def _page_text_span(engine: RAG, doc_id: int, c: Citation) -> tuple[str, int, int]:
    """The page text and the quote's offsets in it (found again if the offsets are stale)."""
    text = engine.store.page_text(doc_id, c.page)
    start, end = c.quote_start, c.quote_end
    if not (0 <= start < end <= len(text)) or text[start:end].strip() != c.quote.strip():
        spans = render.locate(text, c.quote)
        start, end = (spans[0][0], spans[-1][1]) if spans else (0, 0)
    return text, start, end


def citation_viewer(engine: RAG, c: Citation, key: str) -> None:
    """The cited page with the supporting quote highlighted, plus a download of the original."""
    doc = engine.store.document(c.doc_id) if c.doc_id else None
    if doc is None:
        st.warning(f"{c.doc} is no longer in the library (it was deleted after this answer).")
        return
    path = engine.store.data_dir / doc.stored_path if doc.stored_path else None
    is_pdf = path is not None and path.suffix.lower() == ".pdf" and path.exists()
    if is_pdf:
        page, details = st.columns([2, 1], gap="medium")
    else:
        details, page = st.container(), st.container()
    with details:
        at = render.where(c.page, c.location)
        of = (
            f"page {c.page} of {doc.n_pages}"
            if at == f"page {c.page}"
            else f"{html.escape(at)} ({c.page} of {doc.n_pages})"
        )
        show_html(f'<div class="rag-name"><b>{html.escape(doc.name)}</b><br>{of}</div>')
    with page:
        located = False
        if is_pdf:
            with st.spinner("Rendering the page…"):
                img = _page_image(str(path), path.stat().st_mtime, c.page, c.quote)
            st.image(img.image, width="stretch", alt=f"{doc.name}, page {c.page}, the cited passage highlighted")
            located = bool(img.boxes)
        if not located:
            if is_pdf:
                st.caption("The passage could not be located on the page image; here it is in the extracted text:")
            text, start, end = _page_text_span(engine, doc.id, c)
            show_html(render.passage_html(text, start, end))
    with details:
        if located:
            show_html(f'<blockquote class="rag-quote">{html.escape(c.quote)}</blockquote>')
        if path is not None and path.exists():
            st.download_button(
                "Download the original",
                data=lambda p=path: p.read_bytes(),
                file_name=Path(doc.name).name,
                mime=mimetypes.guess_type(doc.name)[0] or "application/octet-stream",
                key=f"{key}-download",
                icon=":material/download:",
                on_click="ignore",
            )
