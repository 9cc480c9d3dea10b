"""AppTest fixtures: the real app script with an engine built by a test factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.fakes import FakeEmbedder, FakeGenerator

APP = str(ROOT / "ui" / "app.py")


class AppHarness:
    """Runs ``ui/app.py`` in AppTest and gives access to the shared engine."""

    def __init__(self, at) -> None:
        self.at = at

    @property
    def runtime(self):
        return self.at.session_state["runtime"]

    @property
    def engine(self):
        return self.runtime.engine

    def run(self):
        self.at.run()
        assert not self.at.exception, [e.value for e in self.at.exception]
        return self.at

    def goto(self, page: str):
        self.at.switch_page(f"app_pages/{page}.py")
        return self.run()

    def upload(self, files: list[tuple[str, bytes]]):
        """Upload files on the Library page (they are ingested at once)."""
        self.goto("library")
        self.at.file_uploader[0].set_value([(n, data, "application/octet-stream") for n, data in files])
        return self.run()

    def texts(self) -> str:
        """Everything a user reads on the page (markdown, captions, alerts, html)."""
        at = self.at
        parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
        parts += [e.value for kind in (at.error, at.warning, at.info, at.success) for e in kind]
        parts += [h.value for h in at.html]
        return "\n".join(str(p) for p in parts)


@pytest.fixture
def make_app(monkeypatch) -> Callable[..., AppHarness]:
    """Build the app with fake models (or the engine a test passes)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from rag.engine import RAG
    from ui import state

    st.cache_resource.clear()
    st.cache_data.clear()
    built: list[RAG] = []

    def factory_for(generator=None, embedder=None):
        def factory(settings):
            engine = RAG(settings, embedder=embedder or FakeEmbedder(), generator=generator or FakeGenerator())
            built.append(engine)
            return engine

        return factory

    def make(generator=None, embedder=None, timeout: float = 60, wait: bool = True) -> AppHarness:
        monkeypatch.setattr(state, "engine_factory", factory_for(generator, embedder))
        monkeypatch.setenv("RAG_ANSWER_POLICY", "generated")  # the fakes stand in for a capable model
        harness = AppHarness(AppTest.from_file(APP, default_timeout=timeout))
        harness.built = built
        if wait:
            harness.run()
            harness.runtime.warmup.wait(30)
        harness.run()
        return harness

    yield make
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def pdf_bytes(tmp_path) -> bytes:
    """A generated four-page PDF, one distinct fact per page."""
    from tests.integration.multipage_pdf import make_pdf

    return make_pdf(tmp_path / "orchard.pdf").read_bytes()


@pytest.fixture
def tidepools() -> bytes:
    return (ROOT / "sample_docs" / "field-guide-to-tidepools.pdf").read_bytes()


@pytest.fixture
def coffee() -> bytes:
    return Path(ROOT / "sample_docs" / "coffee-brewing.txt").read_bytes()
