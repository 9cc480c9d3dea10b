"""Shared fixtures. Every test gets its own data directory (RAG_DATA_DIR -> tmp_path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fakes import FakeEmbedder, FakeGenerator

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DOCS = ROOT / "sample_docs"


# Where vectors and full-text search live: a module whose retrieval, access and deletion tests
# must hold for both stores overrides its settings fixture with
#     settings = pytest.fixture(params=VECTOR_STORES)(on_vector_store)
VECTOR_STORES = ["faiss", "milvus"]


def on_vector_store(settings, request):
    """``settings`` on the store of ``request.param`` (Milvus Lite in the test's data dir)."""
    yield settings.replace(vector_store=request.param)
    _close_milvus_clients()


def _close_milvus_clients() -> None:
    """Close the Milvus Lite clients the test opened (each runs its own server process)."""
    import sys

    module = sys.modules.get("rag.milvus_index")
    if module is not None:
        module.close_all()


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("RAG_DATA_DIR", str(data))
    for key in list(os.environ):
        if key.startswith("RAG_") and key != "RAG_DATA_DIR":
            monkeypatch.delenv(key, raising=False)
    yield data


@pytest.fixture
def settings(tmp_path):
    from rag.settings import Settings

    # Fake generators stand in for a capable model: its verified words answer first.
    return Settings(data_dir=tmp_path / "data", workers=0, answer_policy="generated")


@pytest.fixture
def fake_embedder():
    return FakeEmbedder()


@pytest.fixture
def fake_rag(settings, fake_embedder):
    """An engine with fake models: fast, deterministic."""
    from rag.engine import RAG

    return RAG(settings, embedder=fake_embedder, generator=FakeGenerator())


@pytest.fixture(scope="session")
def real_embedder():
    """The bundled all-MiniLM-L6-v2, loaded once per test session."""
    from rag.embedders import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder()
    emb.embed_query("warm up")
    return emb


@pytest.fixture(scope="session")
def model_cache_dir():
    """A data directory that keeps the converted bundled generator between test runs."""
    path = ROOT / ".venv" / "rag-test-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def real_generator(model_cache_dir):
    """The bundled SmolLM2-135M-Instruct, loaded once per test session."""
    from rag.generators.transformers_backend import TransformersGenerator

    gen = TransformersGenerator(data_dir=model_cache_dir, max_new_tokens=48)
    gen.warm_up()
    return gen
