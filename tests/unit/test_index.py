"""The FAISS index: exact and approximate search, kept in step with the database."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import rag.index as index_mod
from rag.index import VectorIndex
from rag.store import Store
from rag.types import ChunkSpan, Page

DIM = 32


def clustered(n: int, seed: int = 0, clusters: int = 40) -> np.ndarray:
    """Unit vectors around a few centres (like text embeddings, unlike uniform noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, DIM))
    v = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, DIM))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def queries(vecs: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    """Stored vectors moved by noise: near a cluster, without exact ties between neighbours."""
    rng = np.random.default_rng(seed)
    q = vecs[rng.integers(0, len(vecs), n)] + 0.5 * rng.standard_normal((n, DIM)) / np.sqrt(DIM)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def exact(vecs: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    scores = vecs @ q
    return [int(ids[i]) for i in np.argsort(-scores, kind="stable")[:k]]


def put(store: Store, name: str, vecs: np.ndarray):
    chunks = [ChunkSpan(1, 0, 5, f"chunk {i} of {name}", 4) for i in range(len(vecs))]
    return store.put_document(name, f"sha-{name}", 1, 1, [Page(1, f"text of {name}")], chunks, vecs)


def db_ids(store: Store) -> list[int]:
    return [r[0] for r in store.db.execute("SELECT id FROM chunks ORDER BY id")]


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "data")


def test_a_small_collection_is_searched_exactly(store):
    vecs = clustered(300)
    change = put(store, "a.pdf", vecs)
    index = VectorIndex(store, DIM)
    index.apply(change, vecs)
    ids = np.array(change.added_ids)
    assert not index.is_approximate
    for q in queries(vecs, 20):
        assert [i for i, _ in index.search(q, 10)] == exact(vecs, ids, q, 10)


def test_the_approximate_index_returns_the_exact_neighbours_on_small_cases():
    vecs = clustered(4000)
    ids = np.arange(10, 4010, dtype=np.int64)
    index = VectorIndex.from_arrays(ids, vecs, kind="ivf")
    assert index.is_approximate
    found, truth = [], []
    for q in queries(vecs, 100):
        got = index.search(q, 10)
        found.append([i for i, _ in got])
        truth.append(exact(vecs, ids, q, 10))
        assert got[0][1] == pytest.approx(float(vecs[ids == got[0][0]][0] @ q), abs=1e-5)  # true cosine
    assert [f[0] for f in found] == [t[0] for t in truth]
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    assert recall >= 0.98


def test_the_approximate_index_honours_an_id_filter_exactly():
    vecs = clustered(4000)
    ids = np.arange(4000, dtype=np.int64)
    index = VectorIndex.from_arrays(ids, vecs, kind="ivf")
    allowed = np.arange(0, 4000, 37, dtype=np.int64)  # scattered over every cluster
    for q in queries(vecs, 10):
        got = [i for i, _ in index.search(q, 5, allowed)]
        assert got == exact(vecs[allowed], allowed, q, 5)
    assert index.search(queries(vecs, 1)[0], 5, np.zeros(0, dtype=np.int64)) == []


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_the_index_agrees_with_the_database_after_adds_and_removes(store, kind):
    index = VectorIndex(store, DIM, kind=kind, background=False)
    a, b, c = clustered(900, seed=1), clustered(700, seed=2), clustered(600, seed=3)
    for name, vecs in (("a.pdf", a), ("b.pdf", b), ("c.pdf", c)):
        index.apply(put(store, name, vecs), vecs)
    gone = store.find_document("b.pdf")
    index.apply(store.delete_document(gone.id))
    replaced = clustered(500, seed=4)  # 1100 vectors remain: enough for an IVF index
    index.apply(put(store, "a.pdf", replaced), replaced)
    assert list(index.ids()) == db_ids(store)
    assert index.is_approximate == (kind == "ivf")
    # A deleted document's passages are never returned; the replacement's are.
    hit_ids = {i for q in b[:5] for i, _ in index.search(q, 10)}
    assert hit_ids <= set(db_ids(store))
    new_ids = {r[0] for r in store.db.execute("SELECT id FROM chunks WHERE doc_id=(SELECT MAX(id) FROM documents)")}
    assert index.search(replaced[0], 1)[0][0] in new_ids


def test_a_stale_index_file_is_brought_up_to_date(store):
    first = clustered(200, seed=1)
    index = VectorIndex(store, DIM)
    index.apply(put(store, "a.pdf", first), first)
    assert (store.data_dir / f"index-v{store.index_version()}.faiss").exists()
    # Another writer changed the database but never wrote the index file (e.g. it crashed).
    second = clustered(150, seed=2)
    put(store, "b.pdf", second)
    store.delete_document(store.find_document("a.pdf").id)
    fresh = VectorIndex(store, DIM)
    assert list(fresh.ids()) == db_ids(store)
    assert fresh.search(second[3], 1)[0][0] == db_ids(store)[3]
    files = sorted(p.name for p in store.data_dir.glob("index-v*.faiss"))
    assert files == [f"index-v{store.index_version()}.faiss"]


def test_an_unreadable_index_file_is_rebuilt(store):
    vecs = clustered(100)
    index = VectorIndex(store, DIM)
    index.apply(put(store, "a.pdf", vecs), vecs)
    path = store.data_dir / f"index-v{store.index_version()}.faiss"
    path.write_bytes(b"not a faiss index")
    fresh = VectorIndex(store, DIM)
    assert list(fresh.ids()) == db_ids(store)
    assert path.stat().st_size > 1000


def test_a_change_by_another_process_is_seen_by_a_loaded_index(store):
    reader = VectorIndex(store, DIM)
    first = clustered(100, seed=1)
    writer = VectorIndex(store, DIM)
    writer.apply(put(store, "a.pdf", first), first)
    assert reader.ntotal == 100
    second = clustered(50, seed=2)
    writer.apply(put(store, "b.pdf", second), second)
    assert list(reader.ids()) == db_ids(store)
    assert reader.search(second[0], 1)[0][0] == db_ids(store)[100]


def test_a_deferred_save_writes_the_file_once_on_flush(store):
    index = VectorIndex(store, DIM)
    for i in range(3):
        vecs = clustered(50, seed=i)
        index.apply(put(store, f"{i}.pdf", vecs), vecs, save=False)
    current = store.data_dir / f"index-v{store.index_version()}.faiss"
    assert not current.exists()
    index.flush()
    assert current.exists()
    assert VectorIndex(store, DIM).ntotal == 150


def test_crossing_the_threshold_rebuilds_in_the_background_while_searches_continue(store, monkeypatch):
    release = threading.Event()
    started = threading.Event()
    real_build = index_mod.build_ivf

    def slow_build(*args, **kwargs):
        started.set()
        assert release.wait(30)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(index_mod, "build_ivf", slow_build)
    index = VectorIndex(store, DIM, ann_threshold=1500)
    first = clustered(1000, seed=1)
    index.apply(put(store, "a.pdf", first), first)
    assert not index.is_approximate
    second = clustered(600, seed=2)
    index.apply(put(store, "b.pdf", second), second)  # 1600 >= 1500: a rebuild starts
    assert started.wait(30)
    assert "rebuilding in the background" in index.description
    # Meanwhile the old exact index serves searches and takes new documents.
    third = clustered(100, seed=3)
    index.apply(put(store, "c.pdf", third), third)
    assert index.search(third[0], 1)[0][0] == db_ids(store)[1600]
    release.set()
    assert index.wait(60)
    assert index.is_approximate
    assert list(index.ids()) == db_ids(store)  # the document added during the build is in
    assert index.search(third[0], 1)[0][0] == db_ids(store)[1600]
    assert VectorIndex(store, DIM, ann_threshold=1500).is_approximate  # saved as IVF
