"""The Streamlit app (``rag serve`` runs ``streamlit run ui/app.py``).

The entry point: it reads the settings from the environment (the only place in the
UI that does), builds the one shared engine of this process, starts the model warm-up
and hands the pages a :class:`ui.state.Runtime`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from rag.errors import RAGError  # noqa: E402
from rag.settings import BUNDLED, Settings  # noqa: E402
from ui import auth, render, state  # noqa: E402

logger = logging.getLogger(__name__)

# The page scripts live in app_pages/, not pages/: a pages/ folder beside the main script
# switches Streamlit to its older multipage mode for URLs opened before the first run.
PAGES = [
    ("app_pages/ask.py", "Ask", ":material/chat:"),
    ("app_pages/library.py", "Library", ":material/folder_open:"),
    ("app_pages/search.py", "Search", ":material/search:"),
    ("app_pages/collections.py", "Collections", ":material/workspaces:"),
    ("app_pages/evaluation.py", "Evaluation", ":material/analytics:"),
    ("app_pages/status.py", "Status", ":material/monitor_heart:"),
]

# Pages that read every collection: admins only in team mode.
ADMIN_PAGES = {"Evaluation"}


def _environment() -> None:
    if all(os.environ.get(v, BUNDLED) in ("", BUNDLED) for v in ("RAG_EMBED_MODEL", "RAG_LLM_MODEL")):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the bundled models never need the network
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for noisy in ("transformers", "sentence_transformers", "httpx", "urllib3", "faiss"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _sidebar_model_state(rt: state.Runtime) -> None:
    """A small indicator that polls while the models load, then redraws the app once."""
    if not rt.warmup.loading:
        if rt.warmup.error:
            st.sidebar.error("Models failed to load — see Status.", icon=":material/error:")
        return

    @st.fragment(run_every=2)
    def indicator() -> None:
        if rt.warmup.loading:
            st.caption(":material/hourglass_top: Loading the models…")
        else:
            st.rerun(scope="app")

    with st.sidebar:
        indicator()


def main() -> None:
    st.set_page_config(page_title="rag — ask your documents", page_icon=":material/description:", layout="wide")
    # No "Deploy" button or developer menu, and never a traceback in the browser: set in
    # .streamlit/config.toml and on the command line `rag serve` builds (st.set_option here
    # would only take effect after the first rerun).
    st.html(render.APP_CSS)  # style only: takes no room on the page
    _environment()
    try:
        settings = Settings.from_env()
        rt = state.get_runtime(settings)
    except RAGError as e:
        st.error(str(e), icon=":material/error:")
        st.stop()
    auth.sign_in(settings)  # team mode: a sign-in screen until signed in
    st.session_state["runtime"] = rt
    pages = [p for p in PAGES if auth.is_admin() or p[1] not in ADMIN_PAGES]
    nav = st.navigation(
        [st.Page(path, title=title, icon=icon, default=(i == 0)) for i, (path, title, icon) in enumerate(pages)]
    )
    _sidebar_model_state(rt)
    nav.run()


main()
