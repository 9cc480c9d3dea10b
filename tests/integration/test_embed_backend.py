"""The bundled model exported for ONNX Runtime and OpenVINO into a data directory: its vectors
against torch's, the cache, and one index shared by backends of the same vector space."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embedders import ExportedEmbedder, SentenceTransformerEmbedder, export_cache_dir
from rag.engine import RAG
from rag.errors import IndexMismatchError
from rag.models import EMBED_NAME, bundled_embedding_dir
from tests.fakes import FakeGenerator
from tests.unit.inprocess import parse_in_process  # noqa: F401 (autouse)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEXTS = [
    "How many days of paid annual leave does a full-time Acme employee get?",
    "Full-time employees receive 25 days of paid annual leave per calendar year, in addition to public holidays.",
    "Purple sea urchins (Strongylocentrotus purpuratus) were counted in 14 quadrats; the 2023 survey found 1,204.",
    "Brew coffee with water between 90 and 96 °C.",
    "Table 3 — Tier 3: Repeatable. The organization's risk management practices are formally approved. " * 6,
    "x",
]
# The lowest cosine to torch float32 each backend keeps on every text. ONNX and OpenVINO run the
# same float model (OpenVINO in bfloat16 on CPUs with native bfloat16, as torch does).
# Dynamic int8 loses more (0.978 on the corpus chunks, docs/benchmarks.md), so it is a vector
# space of its own (rag/embedders.py DISTINCT_SPACE).
FLOOR = {"onnx": 0.99, "openvino": 0.99, "onnx-int8": 0.97}


@pytest.fixture(scope="module")
def torch_vectors():
    emb = SentenceTransformerEmbedder(dtype="float32")
    return emb, emb.embed_passages(TEXTS), np.stack([emb.embed_query(t) for t in TEXTS[:2]])


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8", "openvino"])
def test_the_exported_model_gives_torchs_vectors(backend, torch_vectors, tmp_path):
    ref, passages, queries = torch_vectors
    cache = export_cache_dir(tmp_path, bundled_embedding_dir(), EMBED_NAME, backend)
    assert not cache.exists()
    emb = ExportedEmbedder(backend=backend, data_dir=tmp_path)
    vecs = emb.embed_passages(TEXTS)
    assert cache.is_dir() and any(cache.iterdir())  # exported once, into the data directory
    assert vecs.shape == passages.shape == (len(TEXTS), 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    cosines = (vecs * passages).sum(axis=1)
    assert cosines.min() > FLOOR[backend], cosines
    q = np.stack([emb.embed_query(t) for t in TEXTS[:2]])  # the one-thread runtime
    assert ((q * queries).sum(axis=1) > FLOOR[backend]).all()
    # The question is still nearest its answer.
    assert int(np.argmax(passages[1:] @ q[0])) == int(np.argmax(vecs[1:] @ q[0])) == 0
    assert emb.dim == ref.dim and emb.max_tokens == ref.max_tokens
    assert emb.offsets(TEXTS[:3]) == ref.offsets(TEXTS[:3])

    # A second process (a fresh embedder) loads the cached export instead of exporting again.
    before = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    again = ExportedEmbedder(backend=backend, data_dir=tmp_path).embed_passages(TEXTS[:2])
    # Another batch: float noise for the float backends; int8 scales its activations per batch,
    # so a text's vector moves with its batch-mates (0.991 here).
    assert ((again * vecs[:2]).sum(axis=1) > (0.999 if backend != "onnx-int8" else FLOOR[backend])).all()
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == before
    assert [p.name for p in (tmp_path / "models").iterdir()] == [cache.name]  # no temporary left


def test_an_index_built_with_openvino_is_searched_with_torch_and_int8_is_refused(settings, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ferry.md").write_text("The ferry leaves at noon from pier seven.\n\nThe harbour tide rises twice daily.")
    (docs / "coffee.md").write_text("Brew coffee with water between 90 and 96 degrees Celsius.")
    s = settings.replace(embed_backend="openvino")
    built = RAG(s, generator=FakeGenerator())
    assert built.ingest_paths([docs]).count("added") == 2
    assert isinstance(built.embedder, ExportedEmbedder) and built.store.get_meta("embed_model") == EMBED_NAME
    built.store.close()
    torch_rag = RAG(settings.replace(embed_backend="torch"), generator=FakeGenerator())
    assert torch_rag.search("When does the ferry leave?", k=1)[0].doc == "ferry.md"
    torch_rag.store.close()
    with pytest.raises(IndexMismatchError, match="rag reindex"):
        RAG(settings.replace(embed_backend="onnx-int8"), generator=FakeGenerator()).search("ferry")
