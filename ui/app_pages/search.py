"""Search: hybrid passage search without the language model, query terms highlighted."""

from __future__ import annotations

import html
import logging

import streamlit as st

from rag.store import query_terms
from rag.types import Hit
from ui import render
from ui.state import Runtime, run_page
from ui.widgets import scope_filters, show_html

logger = logging.getLogger(__name__)


def hit_html(rank: int, hit: Hit, terms: list[str]) -> str:
    head = (
        f'<div class="rag-name"><b>{rank}. {html.escape(hit.doc)}</b> · {html.escape(render.where(hit.page, hit.location))}'
        f' <span style="opacity:0.75">· {html.escape(hit.collection)} · score {hit.score:.3f}</span></div>'
    )
    return head + f'<div class="rag-hit">{render.highlight_terms(hit.text, terms)}</div>'


def render_page(rt: Runtime) -> None:
    st.title("Search", anchor=False)
    st.caption("Finds passages by meaning and by keyword (no language model involved).")
    query = st.text_input(
        "Search the documents",
        key="search-query",
        placeholder="e.g. when is low tide",
        live=True,
        icon=":material/search:",
    )
    with st.expander("Filters", icon=":material/filter_list:"):
        collections, doc_ids = scope_filters(rt.engine, "search")
        k = st.slider("Results", 1, 50, 10, key="search-k")
    query = (query or "").strip()
    if not query:
        return
    with st.spinner("Searching…"):
        hits = rt.engine.search(query, k=k, collections=collections, doc_ids=doc_ids)
        rt.engine.store.fill_locations(hits)
    if not hits:
        st.info("No passage matches this query.", icon=":material/search_off:")
        return
    st.caption(f"{len(hits)} passages")
    terms = query_terms(query)
    for i, h in enumerate(hits, 1):
        with st.container(border=True):
            show_html(hit_html(i, h, terms))


if __name__ == "__main__":
    run_page(render_page)
