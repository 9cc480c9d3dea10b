"""What only the Milvus store does: its own fusion, filters by collection id, stemmed full
text, and a Milvus Lite file that one process holds at a time."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from rag.engine import RAG
from rag.errors import ConfigError
from rag.retrieval import rrf_fuse
from tests.conftest import ROOT
from tests.fakes import FakeEmbedder, FakeGenerator
from tests.unit.inprocess import parse_in_process  # noqa: F401 (autouse)
from tests.unit.test_vector_stores import docs, library


@pytest.fixture
def milvus(settings, tmp_path):
    rag = RAG(settings.replace(vector_store="milvus"), embedder=FakeEmbedder(), generator=FakeGenerator())
    library(rag, tmp_path)
    yield rag
    rag.index.close()


def test_milvus_fuses_dense_and_bm25_as_retrieval_does(milvus):
    # Equal weights: one hybrid_search request, fused by Milvus's RRF ranker; its order is
    # the one rrf_fuse gives the two lists Milvus returns separately.
    index, k = milvus.index, 10
    for query in ("heron reeds", "moon tides", "coffee grounds minutes", "the grey fish"):
        qvec = milvus.embedder.embed_query(query)
        dense, sparse = index.dense(qvec, k), index.bm25(query, k)
        expected = [i for i, _ in rrf_fuse([[i for i, _ in dense], [i for i, _ in sparse]], [1.0, 1.0], 10)]
        assert [i for i, _ in index.hybrid(query, qvec, k, "", 10)] == expected[:k], query
    equal = milvus.settings.replace(dense_weight=1.0, bm25_weight=1.0)
    hits = RAG(equal, embedder=FakeEmbedder(), generator=FakeGenerator()).search("heron reeds", k=3)
    assert hits[0].doc == "heron.md"


def test_milvus_filters_by_collection_id_so_a_renamed_collection_still_filters(milvus, tmp_path):
    library(milvus, tmp_path, "birds", ["heron.md"])
    milvus.store.rename_collection("birds", "waders")
    assert {h.collection for h in milvus.search("grey heron reeds", k=5, collections=["waders"])} == {"waders"}
    assert milvus.search("grey heron reeds", k=5, collections=["birds"]) == []


def test_milvus_full_text_matches_inflected_words(milvus):
    # The terms are stemmed before Milvus indexes them (Milvus Lite's analyzer does not stem).
    assert docs(milvus, "herons waiting", "bm25") == ["heron.md"]


def test_a_milvus_lite_file_held_by_another_process_is_a_clear_error(settings, tmp_path):
    settings = settings.replace(vector_store="milvus")
    uri = tmp_path / "held.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pymilvus import MilvusClient; MilvusClient(sys.argv[1]); "
            "print('open', flush=True); time.sleep(60)",
            str(uri),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        rag = RAG(settings.replace(milvus_uri=str(uri)), embedder=FakeEmbedder(), generator=FakeGenerator())
        t = time.perf_counter()
        with pytest.raises(ConfigError, match=r"RAG_MILVUS_URI=.*held\.db.*one process at a time"):
            rag.search("heron")
        assert time.perf_counter() - t < 60
    finally:
        holder.kill()
        holder.wait()
