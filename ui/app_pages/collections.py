"""Collections: named spaces of documents — create, rename, delete, and who may use them."""

from __future__ import annotations

import logging

import streamlit as st

from rag import access
from rag.store import DEFAULT_COLLECTION
from ui import auth, render
from ui.state import Runtime, run_page

logger = logging.getLogger(__name__)


def _create(rt: Runtime) -> None:
    with st.form("create-collection", clear_on_submit=True, border=False):
        name = st.text_input("New collection", placeholder="e.g. finance-2024", key="new-collection")
        if st.form_submit_button("Create", icon=":material/add:"):
            rt.engine.store.create_collection(name)
            st.toast(f"Created '{name.strip()}'", icon=":material/check:")
            st.rerun()


def _rename(rt: Runtime, names: list[str]) -> None:
    with st.form("rename-collection", clear_on_submit=True, border=False):
        old = st.selectbox("Collection", names, key="rename-from")
        new = st.text_input("New name", key="rename-to")
        if st.form_submit_button("Rename", icon=":material/edit:") and old:
            rt.engine.store.rename_collection(old, new)
            st.toast(f"Renamed '{old}' to '{new.strip()}'", icon=":material/check:")
            st.rerun()


def _delete(rt: Runtime, colls: list[dict]) -> None:
    counts = {c["name"]: c["documents"] for c in colls}
    name = st.selectbox("Collection", list(counts), key="delete-pick")
    if name is None:
        return
    if st.button("Delete…", icon=":material/delete:", key="collection-delete"):
        st.session_state["confirm-collection"] = name
    if st.session_state.get("confirm-collection") != name:
        return
    n = counts[name]
    extra = " It is recreated empty, because new uploads go there." if name == DEFAULT_COLLECTION else ""
    st.warning(
        f"Delete the collection **{render.md_escape(name)}** and its {n} document{'s' if n != 1 else ''}? "
        f"This cannot be undone.{extra}",
        icon=":material/warning:",
    )
    with st.container(horizontal=True, gap="small"):
        if st.button("Yes, delete", type="primary", key="collection-delete-yes"):
            with st.spinner(f"Deleting '{name}'…"):
                rt.engine.delete_collection(name)
            st.session_state.pop("confirm-collection", None)
            st.toast(f"Deleted '{name}'", icon=":material/delete:")
            st.rerun()
        if st.button("Cancel", key="collection-delete-no"):
            st.session_state.pop("confirm-collection", None)
            st.rerun()


def _access(rt: Runtime, colls: list[dict]) -> None:
    """Admins edit who may read and who may upload to a collection."""
    st.caption(
        "Comma-separated emails, `@domain` for everyone with that email domain, or `*` for every "
        "signed-in user. Empty = admins only. Uploaders may also read. Applies when sign-in is configured "
        "(see docs/team.md)."
    )
    rows = {c["name"]: c for c in colls}
    name = st.selectbox("Collection", list(rows), key="access-pick")
    if name is None:
        return
    with st.form(f"access-{name}", border=False):
        readers = st.text_input("Readers", value=rows[name]["readers"], key=f"access-readers-{name}")
        uploaders = st.text_input("Uploaders", value=rows[name]["uploaders"], key=f"access-uploaders-{name}")
        if st.form_submit_button("Save access", icon=":material/lock:"):
            try:
                readers, uploaders = access.format_entries(readers), access.format_entries(uploaders)
            except ValueError as e:
                st.error(str(e), icon=":material/error:")
                return
            rt.engine.store.set_collection_access(name, readers, uploaders)
            st.toast(f"Saved who may use '{name}'", icon=":material/check:")
            st.rerun()


def render_page(rt: Runtime) -> None:
    st.title("Collections", anchor=False)
    st.caption("Every document belongs to one collection; Ask and Search can be limited to some of them.")
    readable = auth.readable(rt)
    colls = [c for c in rt.engine.store.collections() if readable is None or c["name"] in readable]
    admin = auth.is_admin()
    st.dataframe(
        [
            {"collection": c["name"], "documents": c["documents"], "created": render.human_time(c["created_at"])}
            | ({"readers": c["readers"] or "(admins)", "uploaders": c["uploaders"] or "(admins)"} if admin else {})
            for c in colls
        ],
        hide_index=True,
        width="stretch",
    )
    if not admin:
        st.caption("Only admins create, rename or delete collections and decide who may use them.")
        return
    create, rename, delete, who = st.tabs(["Create", "Rename", "Delete", "Access"])
    with create:
        _create(rt)
    with rename:
        _rename(rt, [c["name"] for c in colls])
    with delete:
        _delete(rt, colls)
    with who:
        _access(rt, colls)


if __name__ == "__main__":
    run_page(render_page)
