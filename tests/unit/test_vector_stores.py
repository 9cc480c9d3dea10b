"""Deleting, re-ingesting and catching up, on FAISS + SQLite full text and on Milvus Lite
(what only Milvus does is in test_milvus.py)."""

from __future__ import annotations

import pytest

from rag.engine import RAG
from tests.conftest import VECTOR_STORES, on_vector_store
from tests.fakes import FakeEmbedder, FakeGenerator
from tests.unit.inprocess import parse_in_process  # noqa: F401 (autouse)

settings = pytest.fixture(params=VECTOR_STORES)(on_vector_store)

TEXTS = {
    "heron.md": "The grey heron waits motionless in the reeds before striking at fish.",
    "tides.md": "Spring tides happen near the full moon and the new moon.",
    "coffee.md": "A French press brews coffee by steeping grounds for four minutes.",
}


def library(rag: RAG, tmp_path, collection: str = "default", names=tuple(TEXTS)) -> None:
    folder = tmp_path / f"in-{collection}"
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_text(TEXTS[name])
    rag.ingest_paths([folder / n for n in names], collection=collection)


@pytest.fixture
def rag(settings):
    return RAG(settings, embedder=FakeEmbedder(), generator=FakeGenerator())


def docs(rag: RAG, query: str, mode: str = "hybrid", **kw) -> list[str]:
    return [h.doc for h in rag.search(query, k=5, mode=mode, **kw)]


def _index_ids(rag: RAG) -> list[int]:
    ids = rag.index._ids() if hasattr(rag.index, "_ids") else rag.index.ids()
    return sorted(int(i) for i in ids)


def _store_ids(rag: RAG) -> list[int]:
    return [r[0] for r in rag.store.db.execute("SELECT id FROM chunks ORDER BY id")]


def test_the_configured_store_is_the_one_searched(rag, settings, tmp_path):
    library(rag, tmp_path)
    assert type(rag.index).__name__ == ("MilvusIndex" if settings.vector_store == "milvus" else "VectorIndex")
    assert (settings.data_dir / "milvus.db").exists() == (settings.vector_store == "milvus")
    assert _index_ids(rag) == _store_ids(rag)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_a_deleted_document_is_never_found_again(rag, tmp_path, mode):
    library(rag, tmp_path)
    assert "heron.md" in docs(rag, "grey heron reeds", mode)
    doc = next(d for d in rag.store.documents() if d.name == "heron.md")
    rag.delete_document(doc.id)
    assert "heron.md" not in docs(rag, "grey heron reeds", mode)
    assert _index_ids(rag) == _store_ids(rag)


def test_a_deleted_collection_is_gone_from_every_search(rag, tmp_path):
    library(rag, tmp_path, "birds", ["heron.md"])
    library(rag, tmp_path, "other", ["tides.md", "coffee.md"])
    rag.delete_collection("birds")
    for mode in ("hybrid", "dense", "bm25"):
        assert "heron.md" not in docs(rag, "grey heron waits in the reeds", mode)
    assert _index_ids(rag) == _store_ids(rag)


def test_a_document_ingested_again_after_deletion_is_found(rag, tmp_path):
    library(rag, tmp_path, names=["heron.md"])
    rag.delete_document(rag.store.documents()[0].id)
    library(rag, tmp_path, names=["heron.md"])
    assert docs(rag, "grey heron reeds", "bm25") == ["heron.md"]


def test_a_change_the_index_never_saw_is_caught_up_on_the_next_start(rag, settings, tmp_path):
    # As after a crash between the database commit and the index write, or a change made
    # by another process: the next engine compares chunk ids and applies the difference.
    library(rag, tmp_path, names=["heron.md", "tides.md"])
    emb = rag.embedder
    from ingest.chunking import chunk_pages
    from rag.types import Page

    pages = [Page(1, TEXTS["coffee.md"])]
    chunks = chunk_pages(pages, emb, 64, 8)
    rag.store.put_document("coffee.md", "sha-coffee", 1, 1, pages, chunks, emb.embed_passages([c.text for c in chunks]))
    rag.store.delete_document(next(d.id for d in rag.store.documents() if d.name == "heron.md"))
    if hasattr(rag.index, "close"):
        rag.index.close()  # the first engine is gone
    again = RAG(settings, embedder=FakeEmbedder(), generator=FakeGenerator())
    assert docs(again, "French press coffee", "bm25") == ["coffee.md"]
    assert "heron.md" not in docs(again, "grey heron reeds")
    assert _index_ids(again) == _store_ids(again)
