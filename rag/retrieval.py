"""Hybrid retrieval: dense FAISS search and SQLite FTS5 BM25, fused by rank.

Access filters (collections, documents) are applied *inside* both searches, so a
passage from a collection the caller may not read is never a candidate.
"""

from __future__ import annotations

import logging
import time
from typing import Sequence

import numpy as np

from rag.index import VectorIndex
from rag.settings import Settings
from rag.store import Store
from rag.types import Hit

logger = logging.getLogger(__name__)


def rrf_fuse(rankings: Sequence[Sequence[int]], weights: Sequence[float], k: int = 60) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion of ranked id lists; best first."""
    scores: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, cid in enumerate(ranking):
            scores[cid] = scores.get(cid, 0.0) + w / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


class Retriever:
    def __init__(self, settings: Settings, store: Store, index: VectorIndex, embedder, reranker=None) -> None:
        self.settings = settings
        self.store = store
        self.index = index
        self.embedder = embedder
        self.reranker = reranker
        self.last_timings: dict[str, float] = {}

    def search(
        self,
        query: str,
        k: int | None = None,
        collections: Sequence[str] | None = None,
        doc_ids: Sequence[int] | None = None,
        mode: str | None = None,
    ) -> list[Hit]:
        """Return the ``k`` best passages for ``query`` (ranked, with scores)."""
        s = self.settings
        k = k or s.top_k
        mode = mode or s.retrieval_mode
        query = (query or "").strip()
        if not query:
            return []
        n_cand = max(s.candidates, k)
        t0 = time.perf_counter()
        allowed = None
        if collections is not None or doc_ids is not None:
            allowed = self.store.allowed_chunk_ids(collections, doc_ids)
            if len(allowed) == 0:
                return []
        qvec = self.embedder.embed_query(query) if mode != "bm25" else None
        t1 = time.perf_counter()
        dense: list[tuple[int, float]] = []
        if mode in ("dense", "hybrid"):
            dense = self.index.search(qvec, n_cand, allowed)
        sparse: list[tuple[int, float]] = []
        if mode in ("bm25", "hybrid"):
            sparse = self.store.bm25(query, n_cand, collections, doc_ids)
        t2 = time.perf_counter()
        if mode == "dense":
            fused = dense
        elif mode == "bm25":
            fused = sparse
        else:
            fused = rrf_fuse([[i for i, _ in dense], [i for i, _ in sparse]], [s.dense_weight, s.bm25_weight], s.rrf_k)
        keep = fused[: max(k, s.candidates if self.reranker else k)]
        rows = self.store.hits([cid for cid, _ in keep])
        hits = []
        for cid, score in keep:
            h = rows.get(cid)
            if h is None:  # deleted between the index read and the row fetch
                continue
            h.score = float(score)
            hits.append(h)
        self._attach_dense_scores(hits, qvec, dict(dense))
        if self.reranker is not None and hits:
            hits = self.reranker.rerank(query, hits)
        hits = hits[:k]
        for r, h in enumerate(hits, 1):
            h.rank = r
        self.last_timings = {"embed": t1 - t0, "search": t2 - t1, "total": time.perf_counter() - t0}
        return hits

    def _attach_dense_scores(self, hits: list[Hit], qvec: np.ndarray | None, known: dict[int, float]) -> None:
        """Cosine similarity of every hit to the query (used for abstention)."""
        if qvec is None:
            return
        missing = [h.chunk_id for h in hits if h.chunk_id not in known]
        if missing:
            rows = self.store.db.execute(
                f"SELECT id, embedding FROM chunks WHERE id IN ({','.join('?' * len(missing))})", missing
            ).fetchall()
            for cid, blob in rows:
                known[cid] = float(np.frombuffer(blob, dtype=np.float32) @ qvec)
        for h in hits:
            h.dense_score = known.get(h.chunk_id)
