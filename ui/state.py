"""Process-wide engine (one per server process) and per-browser-session state.

The engine and its models are created once per process with ``st.cache_resource``;
a background thread warms the models up so the first question does not wait for them.
Tests replace :data:`engine_factory` to run the app with fake models.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from rag.engine import RAG
from rag.errors import RAGError
from rag.settings import Settings

logger = logging.getLogger(__name__)


def default_engine_factory(settings: Settings) -> RAG:
    return RAG(settings)


# The one seam tests use: a callable that builds the engine from settings.
engine_factory: Callable[[Settings], RAG] = default_engine_factory


class Warmup:
    """Loads the models in a background thread and reports how far it got."""

    def __init__(self, engine: RAG) -> None:
        self.engine = engine
        self.error: str | None = None
        self.started = time.time()
        self.seconds: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rag-warmup", daemon=True)

    def start(self) -> Warmup:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.engine.warm_up()
            self.engine.fill_sentence_vectors_in_background()  # documents stored without them
        except RAGError as e:
            self.error = str(e)
        except Exception as e:  # noqa: BLE001 - reported on the Status page and in the log
            logger.exception("model warm-up failed")
            self.error = f"the models could not be loaded ({e.__class__.__name__}: {e})"
        finally:
            self.seconds = time.time() - self.started
            self._done.set()

    @property
    def loading(self) -> bool:
        return not self._done.is_set()

    @property
    def ready(self) -> bool:
        return self._done.is_set() and self.error is None

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)


@dataclass
class Runtime:
    """What every page receives: settings, the shared engine and its warm-up."""

    settings: Settings
    engine: RAG
    warmup: Warmup


@st.cache_resource(show_spinner=False)
def _shared_runtime(key: str, _settings: Settings) -> Runtime:
    engine = engine_factory(_settings)
    return Runtime(_settings, engine, Warmup(engine).start())


def get_runtime(settings: Settings) -> Runtime:
    """The process-wide runtime for ``settings`` (created on the first call)."""
    return _shared_runtime(repr(settings), settings)


def session(key: str, default: Any) -> Any:
    """``st.session_state[key]``, initialised to ``default`` the first time."""
    if key not in st.session_state:
        st.session_state[key] = default
    return st.session_state[key]


def guarded(render: Callable[[Runtime], None], rt: Runtime) -> None:
    """Run a page body; errors become messages, never tracebacks."""
    try:
        render(rt)
    except RAGError as e:
        st.error(str(e), icon=":material/error:")
    except Exception as e:  # noqa: BLE001 - logged with its traceback; the user sees one line
        logger.exception("page failed")
        st.error(
            f"Something went wrong ({e.__class__.__name__}: {e}). The details are in the server log.",
            icon=":material/error:",
        )


def run_page(render: Callable[[Runtime], None]) -> None:
    """Entry of every page script: the runtime ``ui/app.py`` prepared, then the guarded body."""
    rt = st.session_state.get("runtime")
    if rt is None:  # a page script run on its own, without ui/app.py
        st.error("Start the app with `rag serve` (or `streamlit run ui/app.py`).")
        return
    guarded(render, rt)
