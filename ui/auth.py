"""Sign-in (team mode) and the signed-in user's access, for the pages.

Team mode is on when the secrets file (``.streamlit/secrets.toml``) has an ``[auth]``
section: Streamlit's built-in OpenID Connect (``st.login``) signs users in, and every
page restricts what it shows and searches with :mod:`rag.access`. Without it the app is
single-user: no sign-in and no restriction (``rag serve`` listens on 127.0.0.1).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import streamlit as st

from rag import access
from rag.access import Principal
from rag.settings import Settings
from ui.state import Runtime

logger = logging.getLogger(__name__)

_KEY = "principal"


def team_mode() -> bool:
    """Whether sign-in is configured (an ``[auth]`` section in the secrets file)."""
    try:
        return bool(st.secrets.load_if_toml_exists() and "auth" in st.secrets)
    except Exception:  # noqa: BLE001 - an unreadable secrets file is reported by Streamlit itself
        logger.warning("could not read the secrets file; running in single-user mode")
        return False


def sign_in(settings: Settings) -> Principal | None:
    """The signed-in principal in team mode (else a sign-in screen and ``st.stop()``); None when single-user."""
    if not team_mode():
        st.session_state[_KEY] = None
        return None
    if not st.user.is_logged_in:
        st.session_state.pop(_KEY, None)
        st.title("rag — ask your documents", anchor=False)
        st.write("Sign in to see the collections you may read.")
        if st.button("Sign in", icon=":material/login:", type="primary", key="sign-in"):
            st.login()
        st.stop()
    email = str(st.user.get("email") or "").strip().lower()
    if "@" not in email:
        st.error("Your identity provider sent no email address, so no collection can be shared with you.")
        if st.button("Sign out", key="sign-out-noemail"):
            st.logout()
        st.stop()
    principal = access.principal_for(email, settings.admins)
    st.session_state[_KEY] = principal
    with st.sidebar:
        st.caption(f":material/person: {email}" + (" · admin" if principal.is_admin else ""))
        if st.button("Sign out", icon=":material/logout:", key="sign-out"):
            st.logout()
    return principal


def principal() -> Principal | None:
    """The signed-in user of this browser session (None in single-user mode).

    Fails closed: in team mode without a signed-in user, a principal that may read nothing.
    """
    p = st.session_state.get(_KEY)
    if p is None and team_mode():
        return Principal(email="")
    return p


def is_admin() -> bool:
    """Whether this session may manage collections (always in single-user mode)."""
    return access.may_manage(principal())


def readable(rt: Runtime) -> list[str] | None:
    """Collections this session may read; None = all (single-user mode)."""
    return access.readable_collections(rt.engine.store, principal())


def scope(rt: Runtime, chosen: Sequence[str] | None) -> list[str] | None:
    """The scope to pass to search/ask: the chosen collections intersected with the readable ones."""
    return access.restrict(chosen, readable(rt))


def uploadable(rt: Runtime) -> list[str]:
    """Existing collections this session may upload to."""
    return access.uploadable_collections(rt.engine.store, principal())


def may_upload(rt: Runtime, collection: str) -> bool:
    return access.may_upload(rt.engine.store, principal(), collection)
