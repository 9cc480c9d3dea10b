"""Library: upload files (with progress and a summary), list, download, delete and re-index documents."""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path

import streamlit as st

from rag.store import DEFAULT_COLLECTION
from ui import auth, render, uploads
from ui.state import Runtime, run_page, session

logger = logging.getLogger(__name__)


def _upload(rt: Runtime) -> None:
    names = auth.uploadable(rt)
    if not names:
        st.info("You may not upload to any collection; ask an admin to add you.", icon=":material/lock:")
        return
    default = names.index(DEFAULT_COLLECTION) if DEFAULT_COLLECTION in names else 0
    admin = auth.is_admin()
    collection = st.selectbox(
        "Add to collection",
        names,
        index=default,
        key="upload-collection",
        accept_new_options=admin,
        help="Pick a collection, or type a new name to create one." if admin else "Pick a collection.",
    )
    gen = session("uploader-generation", 0)
    files = st.file_uploader(
        f"Upload {uploads.FORMATS} files",
        type=uploads.UPLOAD_TYPES,
        accept_multiple_files=True,
        key=f"uploader-{gen}",
        help="Files are added as soon as they are uploaded; unchanged files are skipped.",
    )
    if files:
        target = collection or names[default]
        if not auth.may_upload(rt, target):
            st.error(f"You may not upload to '{target}'.", icon=":material/lock:")
            return
        report = uploads.ingest(rt, uploads.sources_from_uploads(files), target)
        st.session_state["last-report"] = report
        st.session_state["uploader-generation"] = gen + 1  # an empty uploader for the next batch
        st.rerun()
    report = st.session_state.get("last-report")
    if report is not None:
        uploads.show_summary(report)


def _table(rt: Runtime, docs) -> None:
    rows = [
        {
            "name": d.name,
            "collection": d.collection,
            "pages": d.n_pages,
            "chunks": d.n_chunks,
            "size": render.human_size(d.size),
            "added at": render.human_time(d.added_at),
        }
        for d in docs
    ]
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={"name": st.column_config.TextColumn("name", width="large")},
    )


def _actions(rt: Runtime, docs) -> None:
    by_id = {d.id: d for d in docs}
    doc_id = st.selectbox(
        "Document",
        list(by_id),
        format_func=lambda i: f"{by_id[i].name} ({by_id[i].collection})",
        key="doc-pick",
    )
    if doc_id is None:
        return
    d = by_id[doc_id]
    path = rt.engine.store.data_dir / d.stored_path if d.stored_path else None
    with st.container(horizontal=True, gap="small"):
        if path is not None and path.exists():
            st.download_button(
                "Download original",
                data=lambda p=path: p.read_bytes(),
                file_name=Path(d.name).name,
                mime=mimetypes.guess_type(d.name)[0] or "application/octet-stream",
                icon=":material/download:",
                key="doc-download",
                on_click="ignore",
            )
        if auth.may_upload(rt, d.collection) and st.button("Delete…", icon=":material/delete:", key="doc-delete"):
            st.session_state["confirm-delete"] = d.id
    if st.session_state.get("confirm-delete") == d.id and auth.may_upload(rt, d.collection):
        st.warning(
            f"Delete **{render.md_escape(d.name)}** from '{render.md_escape(d.collection)}'? Its {d.n_chunks} "
            "passages leave the search indexes at once; the original file is removed.",
            icon=":material/warning:",
        )
        with st.container(horizontal=True, gap="small"):
            if st.button("Yes, delete", type="primary", key="doc-delete-yes"):
                with st.spinner(f"Deleting {d.name}…"):
                    rt.engine.delete_document(d.id)
                st.session_state.pop("confirm-delete", None)
                st.toast(f"Deleted {d.name}", icon=":material/delete:")
                st.rerun()
            if st.button("Cancel", key="doc-delete-no"):
                st.session_state.pop("confirm-delete", None)
                st.rerun()


def _reindex(rt: Runtime, n_docs: int) -> None:
    with st.expander("Re-index", icon=":material/sync:"):
        st.caption(
            "Re-chunks and re-embeds every document with the configured embedding model "
            "(needed after changing RAG_EMBED_MODEL). Slow for large libraries."
        )
        if st.button("Re-index all documents", key="reindex", disabled=n_docs == 0):
            with st.status("Re-indexing…", expanded=True) as box:
                bar = st.progress(0.0)
                n = rt.engine.reindex(
                    lambda i, total, name: bar.progress(i / max(total, 1), text=f"{i} of {total} — {name}")
                )
                box.update(label=f"Re-indexed {n} documents", state="complete", expanded=False)


def render_page(rt: Runtime) -> None:
    st.title("Library", anchor=False)
    _upload(rt)
    docs = rt.engine.store.documents(auth.readable(rt))
    st.subheader(f"Documents ({len(docs)})", anchor=False)
    if not docs:
        st.info("No documents yet.", icon=":material/info:")
        return
    _table(rt, docs)
    _actions(rt, docs)
    if auth.is_admin():
        _reindex(rt, len(docs))


if __name__ == "__main__":
    run_page(render_page)
