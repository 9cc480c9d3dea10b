"""The FAISS index: derived state, rebuilt from the database whenever they disagree.

Vectors are L2-normalised, so inner product is cosine similarity; FAISS ids are chunk
ids. The file on disk carries the database's ``index_version`` in its name
(``index-v{N}.faiss``) and is replaced atomically (write to a temporary file, then
``os.replace``), so a crash at any point leaves either the old file (detected as stale
and rebuilt) or the new one.

Below ``ann_threshold`` vectors the index is exact (``IndexFlatIP``); above it an
inverted-file index (``IVF``, flat lists) is trained on the stored vectors and
searched with enough probes for recall@10 >= 0.98 against exact search.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.store import Change, Store

logger = logging.getLogger(__name__)


def _faiss():
    try:
        import faiss
    except ImportError as e:  # pragma: no cover
        raise ImportError("faiss is required: pip install faiss-cpu") from e
    return faiss


class VectorIndex:
    """A FAISS index over chunk embeddings, synchronised with a :class:`Store`."""

    def __init__(
        self,
        store: Store,
        dim: int,
        kind: str = "auto",
        ann_threshold: int = 50_000,
        nprobe: int = 0,
    ) -> None:
        self.store = store
        self.dim = dim
        self.kind = kind
        self.ann_threshold = ann_threshold
        self.nprobe = nprobe
        self._index = None
        self._version = -1
        self._lock = threading.RLock()

    # -- construction --------------------------------------------------------------
    def _want_ivf(self, n: int) -> bool:
        return self.kind == "hnsw" or (self.kind == "auto" and n >= self.ann_threshold)

    def _empty_flat(self):
        faiss = _faiss()
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def _build(self, n: int):
        faiss = _faiss()
        if not self._want_ivf(n):
            index = self._empty_flat()
            for ids, vecs in self.store.iter_embeddings():
                index.add_with_ids(vecs, ids)
            return index
        nlist = max(16, int(4 * math.sqrt(n)))
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = _sample(self.store, min(n, nlist * 40))
        ivf.train(sample)
        ivf.nprobe = self.nprobe or max(8, nlist // 32)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
        for ids, vecs in self.store.iter_embeddings():
            ivf.add_with_ids(vecs, ids)
        logger.info("built IVF index: %d vectors, nlist=%d, nprobe=%d", n, nlist, ivf.nprobe)
        return ivf

    def _file(self, version: int) -> Path:
        return self.store.data_dir / f"index-v{version}.faiss"

    def load(self) -> None:
        """Make the in-memory index match the database (load the file or rebuild)."""
        faiss = _faiss()
        with self._lock:
            version = self.store.index_version()
            if self._index is not None and version == self._version:
                return
            path = self._file(version)
            index = None
            if path.exists():
                try:
                    index = faiss.read_index(str(path))
                    if index.ntotal != self.store.chunk_count() or index.d != self.dim:
                        logger.warning("%s disagrees with the database; rebuilding", path.name)
                        index = None
                except RuntimeError as e:
                    logger.warning("cannot read %s (%s); rebuilding", path.name, e)
                    index = None
            if index is None:
                n = self.store.chunk_count()
                logger.info("rebuilding the FAISS index from %d stored chunks", n)
                index = self._build(n)
                self._index, self._version = index, version
                self._save(version)
            else:
                self._index, self._version = index, version

    def _save(self, version: int) -> None:
        faiss = _faiss()
        path = self._file(version)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        faiss.write_index(self._index, str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        for old in self.store.data_dir.glob("index-v*.faiss"):
            if old != path:
                old.unlink(missing_ok=True)
        for old in self.store.data_dir.glob("index-v*.tmp*"):
            if not old.name.endswith(f".tmp{os.getpid()}"):
                try:
                    old.unlink()
                except OSError:
                    pass

    def apply(self, change: Change, added: np.ndarray | None = None) -> None:
        """Apply one committed change (see :class:`rag.store.Change`) and save the file.

        If the in-memory index was not at ``change.before`` (another process wrote in
        between), it is reloaded from disk or rebuilt from the database instead.
        """
        with self._lock:
            if self._index is None or self._version != change.before:
                self.load()
                return
            if change.removed_ids:
                self._index.remove_ids(np.asarray(change.removed_ids, dtype=np.int64))
            if change.added_ids:
                self._index.add_with_ids(
                    np.ascontiguousarray(added, dtype=np.float32),
                    np.asarray(change.added_ids, dtype=np.int64),
                )
            self._version = change.after
            self._save(change.after)
            if self.store.index_version() != change.after:
                self.load()

    @property
    def ntotal(self) -> int:
        self.load()
        return int(self._index.ntotal)

    @property
    def description(self) -> str:
        self.load()
        faiss = _faiss()
        if isinstance(self._index, faiss.IndexIVF):
            return f"IVF (approximate, nlist={self._index.nlist}, nprobe={self._index.nprobe})"
        return "flat (exact)"

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Return (chunk_id, cosine) best first; ``allowed`` restricts the ids searched."""
        faiss = _faiss()
        self.load()
        with self._lock:
            index = self._index
            if index.ntotal == 0 or k <= 0:
                return []
            q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
            params = None
            if allowed is not None:
                if len(allowed) == 0:
                    return []
                sel = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
                if isinstance(index, faiss.IndexIVF):
                    params = faiss.SearchParametersIVF(sel=sel, nprobe=index.nprobe)
                else:
                    params = faiss.SearchParameters(sel=sel)
            scores, ids = index.search(q, min(k, index.ntotal), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]


def _sample(store: Store, n: int) -> np.ndarray:
    rows = store.db.execute("SELECT embedding FROM chunks ORDER BY random() LIMIT ?", (n,)).fetchall()
    return np.vstack([np.frombuffer(r[0], dtype=np.float32) for r in rows])
