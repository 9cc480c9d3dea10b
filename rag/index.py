"""The FAISS index: derived state, rebuilt from the database whenever they disagree.

Vectors are L2-normalised, so inner product is cosine similarity; FAISS ids are chunk
ids. The SQLite database stays the single source of truth: this index can always be
rebuilt from its ``embedding`` column. The file on disk carries the database's
``index_version`` in its name (``index-v{N}.faiss``) and is replaced atomically (write
to a temporary file, then ``os.replace``), so a crash leaves either an old file
(detected as stale and reconciled or rebuilt) or the new one.

Below ``ann_threshold`` vectors the index is exact (``IndexFlatIP``). Above it an
inverted-file index (``IVFFlat``, about sqrt(n) lists) is trained on a sample of the
stored vectors, and ``nprobe`` is calibrated at build time to reach recall@10 >= 0.99
against exact search on synthetic queries (real questions measured in
``bench/search.py``). Crossing the threshold (or growing 4x past the size an IVF index
was trained for) starts a rebuild in a background thread; searches keep using the old
index until the new one has caught up with the database and is swapped in.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.store import Change, Store

logger = logging.getLogger(__name__)

RECALL_TARGET = 0.99  # calibrated recall@10; leaves a margin above the 0.98 promised
CALIBRATION_QUERIES = 200
TRAIN_PER_LIST = 40  # k-means sample size per inverted list (FAISS warns below 39)
MIN_IVF = 1_000  # fewer vectors than this are always searched exactly
EXACT_SUBSET = 20_000  # an allowed-id filter this small is searched exactly
SEARCH_THREADS = 1  # one query is too little work to share; extra threads only spin


def _faiss():
    try:
        import faiss
    except ImportError as e:  # pragma: no cover
        raise ImportError("faiss is required: pip install faiss-cpu") from e
    return faiss


# -- where vectors come from ---------------------------------------------------------
class VectorSource(Protocol):
    """The vectors an index is built from (the database, or arrays in benchmarks)."""

    data_dir: Path | None  # where index files are saved; None = never saved

    def version(self) -> int: ...

    def count(self) -> int: ...

    def batches(self, size: int = 50_000) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...

    def vectors(self, ids: np.ndarray) -> np.ndarray: ...

    def snapshot_ids(self) -> tuple[int, np.ndarray]: ...


class StoreSource:
    """The chunk embeddings stored in SQLite."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.data_dir: Path | None = store.data_dir

    def version(self) -> int:
        return self.store.index_version()

    def count(self) -> int:
        return self.store.chunk_count()

    def batches(self, size: int = 50_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self.store.iter_embeddings(size)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        found: dict[int, np.ndarray] = {}
        ids_list = [int(i) for i in ids]
        for i in range(0, len(ids_list), 500):
            part = ids_list[i : i + 500]
            rows = self.store.db.execute(
                f"SELECT id, embedding FROM chunks WHERE id IN ({','.join('?' * len(part))})", part
            ).fetchall()
            found.update((r[0], np.frombuffer(r[1], dtype=np.float32)) for r in rows)
        return np.vstack([found[i] for i in ids_list]) if ids_list else np.zeros((0, 0), np.float32)

    def snapshot_ids(self) -> tuple[int, np.ndarray]:
        """The version and the chunk ids, read in one transaction (a consistent pair)."""
        db = self.store.db
        own = not db.in_transaction
        if own:
            db.execute("BEGIN")
        try:
            version = int(db.execute("SELECT value FROM meta WHERE key='index_version'").fetchone()[0])
            ids = np.array([r[0] for r in db.execute("SELECT id FROM chunks ORDER BY id")], dtype=np.int64)
        finally:
            if own:
                db.execute("COMMIT")
        return version, ids


class ArraySource:
    """Fixed in-memory vectors (benchmarks, tests): never saved to disk."""

    data_dir: Path | None = None

    def __init__(self, ids: np.ndarray, vectors: np.ndarray, version: int = 0) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        self._version = version
        self._pos = {int(i): p for p, i in enumerate(self.ids)} if len(self.ids) <= 200_000 else None

    def version(self) -> int:
        return self._version

    def count(self) -> int:
        return len(self.ids)

    def batches(self, size: int = 50_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i in range(0, len(self.ids), size):
            yield self.ids[i : i + size], self.vecs[i : i + size]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        if self._pos is not None:
            return self.vecs[[self._pos[int(i)] for i in ids]]
        return self.vecs[np.searchsorted(self.ids, ids)]  # large arrays are built with sorted ids

    def snapshot_ids(self) -> tuple[int, np.ndarray]:
        return self._version, self.ids


# -- pure building and searching ----------------------------------------------------------
def nlist_for(n: int) -> int:
    """Inverted lists for ``n`` vectors: about sqrt(n), with enough training points each."""
    return int(max(1, min(round(math.sqrt(n)), n // TRAIN_PER_LIST, 65_536)))


def _topk_merge(d: np.ndarray, i: np.ndarray, d2: np.ndarray, i2: np.ndarray, k: int):
    dd, ii = np.hstack([d, d2]), np.hstack([i, i2])
    order = np.argsort(-dd, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(dd, order, 1), np.take_along_axis(ii, order, 1)


def build_flat(dim: int, batches) -> tuple[object, np.ndarray]:
    """An exact inner-product index over all batches; returns (index, ids)."""
    faiss = _faiss()
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    parts = []
    for ids, vecs in batches:
        index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), ids)
        parts.append(ids)
    return index, (np.concatenate(parts) if parts else np.zeros(0, np.int64))


def build_ivf(
    dim: int, n: int, train: np.ndarray, batches, nprobe: int = 0, seed: int = 0
) -> tuple[object, np.ndarray]:
    """An IVF index trained on ``train``, filled from ``batches``; returns (index, ids).

    ``nprobe`` = 0 calibrates it: the smallest power of two whose recall@10 against exact
    search reaches :data:`RECALL_TARGET` on queries made by mixing pairs of stored vectors
    (their nearest-neighbour similarity, ~0.5 to 0.75, resembles real questions').
    """
    faiss = _faiss()
    nlist = nlist_for(n)
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.niter = 10
    ivf.cp.seed = seed
    ivf.train(np.ascontiguousarray(train, dtype=np.float32))
    ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, len(train), size=(min(CALIBRATION_QUERIES, len(train)), 2))
    queries = train[pairs[:, 0]] + train[pairs[:, 1]]
    queries = np.ascontiguousarray(queries / np.linalg.norm(queries, axis=1, keepdims=True), dtype=np.float32)
    k = 10
    best_d = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.full((len(queries), k), -1, dtype=np.int64)
    parts = []
    for ids, vecs in batches:
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        ivf.add_with_ids(vecs, ids)
        parts.append(ids)
        d, i = faiss.knn(queries, vecs, min(k, len(vecs)), metric=faiss.METRIC_INNER_PRODUCT)
        best_d, best_i = _topk_merge(best_d, best_i, d, ids[i], k)
    ivf.nprobe = nprobe or calibrate_nprobe(ivf, queries, best_i)
    logger.info("built IVF index: %d vectors, nlist=%d, nprobe=%d", ivf.ntotal, nlist, ivf.nprobe)
    return ivf, (np.concatenate(parts) if parts else np.zeros(0, np.int64))


def recall_at(truth: np.ndarray, found: np.ndarray) -> float:
    """Mean fraction of each row of ``truth`` ids present in the same row of ``found``."""
    hits = [len(set(t[t >= 0]) & set(f[f >= 0])) / max(1, int((t >= 0).sum())) for t, f in zip(truth, found)]
    return float(np.mean(hits)) if hits else 1.0


def calibrate_nprobe(ivf, queries: np.ndarray, truth: np.ndarray, target: float = RECALL_TARGET) -> int:
    nprobe = 4
    while nprobe < ivf.nlist:
        ivf.nprobe = nprobe
        _, found = ivf.search(queries, truth.shape[1])
        if recall_at(truth, found) >= target:
            return nprobe
        nprobe *= 2
    return int(ivf.nlist)


def index_ids(index) -> np.ndarray:
    """Every id stored in a flat (IDMap) or IVF index, sorted."""
    faiss = _faiss()
    if isinstance(index, faiss.IndexIVF):
        lists = index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(index.nlist)
            if lists.list_size(i)
        ]
        ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    else:
        ids = faiss.vector_to_array(index.id_map)
    return np.sort(ids.astype(np.int64))


def search_faiss(index, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
    """Return (id, score) best first; ``allowed`` restricts the ids searched."""
    faiss = _faiss()
    if index.ntotal == 0 or k <= 0 or (allowed is not None and len(allowed) == 0):
        return []
    q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(SEARCH_THREADS)  # per calling thread in OpenMP
    try:
        ivf = isinstance(index, faiss.IndexIVF)
        params = None
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=np.int64)
            if ivf and len(allowed) <= EXACT_SUBSET:
                try:
                    vecs = index.reconstruct_batch(allowed)
                except RuntimeError:  # an id deleted meanwhile: fall back to the filtered search
                    vecs = None
                if vecs is not None:
                    scores = vecs @ q[0]
                    top = np.argsort(-scores, kind="stable")[:k]
                    return [(int(allowed[i]), float(scores[i])) for i in top]
            sel = faiss.IDSelectorBatch(allowed)
            if ivf:
                # A filter hides most of each list: probe proportionally more lists.
                boost = math.ceil(index.ntotal / max(1, len(allowed)))
                params = faiss.SearchParametersIVF(sel=sel, nprobe=min(index.nlist, index.nprobe * boost))
            else:
                params = faiss.SearchParameters(sel=sel)
        scores, ids = index.search(q, min(k, index.ntotal), params=params)
    finally:
        faiss.omp_set_num_threads(threads)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]


def _is_ivf(index) -> bool:
    return isinstance(index, _faiss().IndexIVF)


# -- the index kept in step with the database ----------------------------------------------
class VectorIndex:
    """A FAISS index over chunk embeddings, synchronised with a :class:`Store`.

    ``kind``: "auto" (exact below ``ann_threshold``, IVF above), "flat" (always exact),
    "ivf" or "hnsw" (always approximate; "hnsw" is an alias kept for old settings).
    """

    def __init__(
        self,
        store: Store | VectorSource,
        dim: int,
        kind: str = "auto",
        ann_threshold: int = 50_000,
        nprobe: int = 0,
        background: bool = True,
    ) -> None:
        self.source: VectorSource = StoreSource(store) if isinstance(store, Store) else store
        self.dim = dim
        self.kind = kind
        self.ann_threshold = ann_threshold
        self.nprobe = nprobe
        self.background = background
        self._index = None
        self._version = -1
        self._dirty = False
        self._lock = threading.RLock()
        self._builder: threading.Thread | None = None

    @classmethod
    def from_arrays(
        cls, ids: np.ndarray, vectors: np.ndarray, kind: str = "auto", ann_threshold: int = 50_000, nprobe: int = 0
    ) -> VectorIndex:
        """An index over fixed in-memory vectors (no database, nothing saved), built now."""
        index = cls(ArraySource(ids, vectors), int(vectors.shape[1]), kind, ann_threshold, nprobe, background=False)
        index.load()
        return index

    # -- choosing and building -----------------------------------------------------------
    def _want_ivf(self, n: int, current_ivf: bool = False) -> bool:
        if n < MIN_IVF or self.kind == "flat":
            return False
        if self.kind in ("ivf", "hnsw"):
            return True
        # Hysteresis: an IVF index stays until the collection shrinks well below the threshold.
        return n >= (self.ann_threshold // 2 if current_ivf else self.ann_threshold)

    def _needs_rebuild(self, index) -> bool:
        ivf = _is_ivf(index)
        if self._want_ivf(index.ntotal, ivf) != ivf:
            return True
        return ivf and nlist_for(index.ntotal) >= 2 * index.nlist  # grew ~4x since training

    def _build(self) -> tuple[object, np.ndarray]:
        n = self.source.count()
        if not self._want_ivf(n):
            return build_flat(self.dim, self.source.batches())
        _, ids = self.source.snapshot_ids()
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(ids, size=min(len(ids), nlist_for(len(ids)) * TRAIN_PER_LIST), replace=False))
        train = self.source.vectors(sample)
        return build_ivf(self.dim, len(ids), train, self.source.batches(), self.nprobe)

    def _diff(self, held: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        """(source version, ids to add, ids to remove) for an index holding ``held`` (sorted).

        Chunk ids are never reused (AUTOINCREMENT) and a chunk's vector never changes, so
        the difference of the two id sets is all an index needs to catch up.
        """
        version, ids = self.source.snapshot_ids()
        return version, np.setdiff1d(ids, held, assume_unique=True), np.setdiff1d(held, ids, assume_unique=True)

    def _catch_up(self, index, added: np.ndarray, removed: np.ndarray) -> None:
        if len(removed):
            index.remove_ids(removed)
        for i in range(0, len(added), 50_000):
            part = added[i : i + 50_000]
            index.add_with_ids(np.ascontiguousarray(self.source.vectors(part), dtype=np.float32), part)
        if len(removed) or len(added):
            logger.info("index caught up with the database: +%d -%d vectors", len(added), len(removed))

    def _reconcile(self, index, held: np.ndarray) -> int:
        """Bring ``index`` (holding ids ``held``) in line with the source; return its version."""
        version, added, removed = self._diff(held)
        self._catch_up(index, added, removed)
        return version

    def _rebuild_in_background(self) -> None:
        if self._builder is not None and self._builder.is_alive():
            return
        self._builder = threading.Thread(target=self._background_build, name="faiss-rebuild", daemon=True)
        self._builder.start()

    def _background_build(self) -> None:
        try:
            index, ids = self._build()
            with self._lock:
                version = self._reconcile(index, ids)
                self._index, self._version = index, version
                logger.info("swapped in the rebuilt index: %s", self.description)
                self._save()
        except Exception:  # noqa: BLE001 - keep serving the old index; the next change retries
            logger.exception("background rebuild of the FAISS index failed")

    def _maintain(self) -> None:
        """Start (or do) a rebuild when the index kind no longer fits its size."""
        if not self._needs_rebuild(self._index):
            return
        if self.background and self._want_ivf(self._index.ntotal, _is_ivf(self._index)):
            self._rebuild_in_background()
        else:  # small enough (or no background): rebuild now
            self._index, ids = self._build()
            self._version = self._reconcile(self._index, ids)
            self._dirty = True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background rebuild; True when none is running."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)
            return not builder.is_alive()
        return True

    # -- persistence -------------------------------------------------------------------
    def _file(self, version: int) -> Path:
        assert self.source.data_dir is not None
        return self.source.data_dir / f"index-v{version}.faiss"

    def load(self) -> None:
        """Make the in-memory index match the database (reconcile, read the file, or build)."""
        with self._lock:
            version = self.source.version()
            if self._index is not None and version == self._version:
                return
            if self._index is not None:
                # Another process wrote (and saves its own file): apply the difference.
                self._version = self._reconcile(self._index, index_ids(self._index))
            else:
                self._index, self._version = self._open()
            self._maintain()
            if self._dirty:
                self._save()

    def _open(self) -> tuple[object, int]:
        """The newest readable index file caught up with the database, or a fresh build."""
        index = self._read_newest()
        if index is not None:
            version, added, removed = self._diff(index_ids(index))
            if len(added) + len(removed) <= index.ntotal // 2:
                self._catch_up(index, added, removed)
                self._dirty = bool(len(added) or len(removed))
                return index, version
            logger.info("the index file is too far behind the database; rebuilding")
        logger.info("building the FAISS index from %d stored chunks", self.source.count())
        index, ids = self._build()
        self._dirty = True
        return index, self._reconcile(index, ids)

    def _read_newest(self):
        data_dir = self.source.data_dir
        if data_dir is None:
            return None
        files = []
        for path in data_dir.glob("index-v*.faiss"):
            m = re.fullmatch(r"index-v(\d+)\.faiss", path.name)
            if m and int(m.group(1)) <= self.source.version():
                files.append((int(m.group(1)), path))
        faiss = _faiss()
        for _, path in sorted(files, reverse=True):
            try:
                index = faiss.read_index(str(path))
            except RuntimeError as e:
                logger.warning("cannot read %s (%s)", path.name, e)
                continue
            if index.d == self.dim and index.ntotal > 0:
                return index
            logger.warning("%s does not fit the configured embedding model; ignoring it", path.name)
        return None

    def flush(self) -> None:
        """Save the index file if changes were applied with ``save=False``."""
        with self._lock:
            if self._dirty and self._index is not None:
                self._save()

    def _save(self) -> None:
        self._dirty = False
        data_dir = self.source.data_dir
        if data_dir is None or self._version != self.source.version():
            return  # never write a file named after a version the index does not hold
        faiss = _faiss()
        path = self._file(self._version)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        try:
            faiss.write_index(self._index, str(tmp))
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except (OSError, RuntimeError) as e:  # the file is a cache: the next load rebuilds it
            logger.warning("cannot save %s (%s)", path.name, e)
            tmp.unlink(missing_ok=True)
            return
        for old in data_dir.glob("index-v*.faiss"):
            m = re.fullmatch(r"index-v(\d+)\.faiss", old.name)
            if m and int(m.group(1)) < self._version:
                old.unlink(missing_ok=True)
        for old in data_dir.glob("index-v*.tmp*"):
            # Left by a killed process; never the file another live process is writing now.
            pid = old.suffix.removeprefix(".tmp")
            if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                old.unlink(missing_ok=True)

    # -- changes and queries -----------------------------------------------------------
    def apply(self, change: Change, added: np.ndarray | None = None, save: bool = True) -> None:
        """Apply one committed change (see :class:`rag.store.Change`).

        ``save=False`` defers writing the file to :meth:`flush` (a batch of documents
        then costs one write, not one per document). If the in-memory index was not at
        ``change.before`` (another process wrote in between), it is reconciled instead.
        """
        with self._lock:
            if self._index is None or self._version != change.before:
                self.load()
                return
            if change.removed_ids:
                self._index.remove_ids(np.asarray(change.removed_ids, dtype=np.int64))
            if change.added_ids:
                vecs = added if added is not None else self.source.vectors(np.asarray(change.added_ids))
                self._index.add_with_ids(
                    np.ascontiguousarray(vecs, dtype=np.float32), np.asarray(change.added_ids, dtype=np.int64)
                )
            self._version = change.after
            self._dirty = True
            if self.source.version() != change.after:
                self.load()
            self._maintain()
            if save:
                self._save()

    @property
    def ntotal(self) -> int:
        self.load()
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """The chunk ids in the index, sorted."""
        self.load()
        with self._lock:
            return index_ids(self._index)

    @property
    def faiss_index(self):
        """The FAISS object searched now (for benchmarks and diagnostics; do not mutate)."""
        self.load()
        return self._index

    @property
    def is_approximate(self) -> bool:
        self.load()
        return _is_ivf(self._index)

    @property
    def description(self) -> str:
        index = self._index
        if index is None:
            return "not loaded"
        text = f"IVF (approximate, nlist={index.nlist}, nprobe={index.nprobe})" if _is_ivf(index) else "flat (exact)"
        if self._builder is not None and self._builder.is_alive():
            text += "; rebuilding in the background"
        return text

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Return (chunk_id, cosine) best first; ``allowed`` restricts the ids searched."""
        self.load()
        with self._lock:
            return search_faiss(self._index, query, k, allowed)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True
