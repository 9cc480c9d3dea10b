"""Changing the embedding model of a data directory is detected and explained, never mixed."""

from __future__ import annotations

import pytest

from rag.engine import RAG
from rag.errors import IndexMismatchError
from tests.fakes import FakeEmbedder, FakeGenerator
from tests.integration.test_cli_contract import json_lines, rag_cmd
from tests.unit.inprocess import parse_in_process  # noqa: F401 (autouse)


class OtherEmbedder(FakeEmbedder):
    """Another vector space: different name and dimension."""

    name = "other-model"

    def __init__(self) -> None:
        super().__init__(dim=32)


class PrefixedEmbedder(FakeEmbedder):
    passage_prefix = "passage: "


@pytest.fixture
def built(settings, tmp_path):
    """A data directory indexed with the fake embedder."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ferry.md").write_text("The ferry leaves at noon from pier seven.")
    (docs / "tides.md").write_text("The harbour tide rises twice daily.")
    rag = RAG(settings, FakeEmbedder(), FakeGenerator())
    assert rag.ingest_paths([docs]).count("added") == 2
    rag.store.close()
    return docs


def test_another_model_is_refused_with_instructions(settings, built):
    rag = RAG(settings, OtherEmbedder(), FakeGenerator())
    with pytest.raises(IndexMismatchError) as err:
        rag.search("ferry")
    message = str(err.value)
    assert "rag reindex" in message
    assert FakeEmbedder.name in message and "other-model" in message
    assert str(settings.data_dir) in message
    # Ingesting with the wrong model is refused too, before anything is written.
    with pytest.raises(IndexMismatchError):
        rag.ingest_paths([built / "ferry.md"])
    assert rag.store.get_meta("embed_model") == FakeEmbedder.name


def test_reindex_switches_the_directory_to_the_new_model(settings, built):
    rag = RAG(settings, OtherEmbedder(), FakeGenerator())
    assert rag.reindex() == 2
    assert rag.store.get_meta("embed_model") == "other-model"
    assert rag.store.get_meta("embed_dim") == "32"
    assert rag.search("ferry pier", k=1)[0].doc == "ferry.md"
    # A fresh process with the new model works; the old model is now the mismatch.
    assert RAG(settings, OtherEmbedder(), FakeGenerator()).search("tide", k=1)[0].doc == "tides.md"
    with pytest.raises(IndexMismatchError):
        RAG(settings, FakeEmbedder(), FakeGenerator()).search("tide")


def test_a_changed_passage_prefix_is_a_mismatch_too(settings, built):
    with pytest.raises(IndexMismatchError, match="RAG_EMBED_PASSAGE_PREFIX"):
        RAG(settings, PrefixedEmbedder(), FakeGenerator()).search("ferry")
    rag = RAG(settings, PrefixedEmbedder(), FakeGenerator())
    rag.reindex()
    assert RAG(settings, PrefixedEmbedder(), FakeGenerator()).search("ferry", k=1)[0].doc == "ferry.md"


def test_an_interrupted_reindex_is_detected_and_can_be_finished(settings, built):
    class Failing(OtherEmbedder):
        def embed_passages(self, texts):
            if self.calls >= 1:
                raise KeyboardInterrupt  # the user pressed Ctrl-C after the first document
            return super().embed_passages(texts)

    with pytest.raises(KeyboardInterrupt):
        RAG(settings, Failing(), FakeGenerator()).reindex()
    for emb in (FakeEmbedder(), OtherEmbedder()):
        with pytest.raises(IndexMismatchError, match="interrupted") as err:
            RAG(settings, emb, FakeGenerator()).search("ferry")
        assert "rag reindex" in str(err.value)
    rag = RAG(settings, OtherEmbedder(), FakeGenerator())
    assert rag.reindex() == 2
    assert {h.doc for h in rag.search("ferry tide", k=5)} == {"ferry.md", "tides.md"}


def test_an_empty_directory_adopts_any_model(settings):
    rag = RAG(settings, FakeEmbedder(), FakeGenerator())
    assert rag.search("anything") == []
    other = RAG(settings, OtherEmbedder(), FakeGenerator())
    assert other.search("anything") == []
    assert other.store.get_meta("embed_model") == "other-model"


@pytest.mark.integration
def test_cli_explains_the_mismatch_and_reindex_fixes_it(settings, built):
    """A directory built with another model, opened by ``rag`` with the bundled MiniLM."""
    data = settings.data_dir
    result = rag_cmd("search", "--json", "When does the ferry leave?", data_dir=data)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "rag reindex" in result.stderr and FakeEmbedder.name in result.stderr

    result = rag_cmd("reindex", data_dir=data)
    assert result.returncode == 0, result.stderr
    assert "re-indexed 2 documents" in result.stderr

    result = rag_cmd("search", "--json", "When does the ferry leave?", data_dir=data)
    assert result.returncode == 0, result.stderr
    (r,) = json_lines(result.stdout)
    assert r["hits"][0]["doc"] == "ferry.md"
    rag = RAG(settings, FakeEmbedder(), FakeGenerator())
    assert rag.store.get_meta("embed_model") == "all-MiniLM-L6-v2"
    assert rag.store.get_meta("embed_dim") == "384"
