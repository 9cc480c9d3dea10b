"""Hybrid retrieval: dense FAISS search and SQLite FTS5 BM25, fused by rank (or both in Milvus).

Access filters (collections, documents) are applied *inside* both searches, so a
passage from a collection the caller may not read is never a candidate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ingest.loaders import TEXT_SUFFIXES
from rag.index import VectorIndex
from rag.settings import Settings
from rag.store import Store, numbered_labels
from rag.types import Hit

logger = logging.getLogger(__name__)


def rrf_fuse(rankings: Sequence[Sequence[int]], weights: Sequence[float], k: int = 60) -> list[tuple[int, float]]:
    """Weighted reciprocal rank fusion of ranked id lists; best first."""
    scores: dict[int, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, cid in enumerate(ranking):
            scores[cid] = scores.get(cid, 0.0) + w / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def fuse_passages(lists: Sequence[Sequence[Hit]], weights: Sequence[float], k: int, rrf_k: int = 60) -> list[Hit]:
    """Weighted reciprocal rank fusion of passage lists from several queries.

    Two queries may return the same page region cut differently (merged from other
    chunks): passages of one page that overlap count as one, shown as the first list
    that has it cuts it."""
    groups: list[tuple[Hit, list[float]]] = []
    for hits, w in zip(lists, weights):
        for rank, h in enumerate(hits):
            for first, scores in groups:
                if (first.doc_id, first.page) == (h.doc_id, h.page) and first.start < h.end and h.start < first.end:
                    scores.append(w / (rrf_k + rank + 1))
                    break
            else:
                groups.append((h, [w / (rrf_k + rank + 1)]))
    ranked = sorted(groups, key=lambda g: -sum(g[1]))[:k]
    out = []
    for r, (h, scores) in enumerate(ranked, 1):
        out.append(replace(h, rank=r, score=sum(scores)))
    return out


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
        # A served index (Milvus) holds the full text too: filters, BM25 and fusion run there.
        served = getattr(self.index, "served", False)
        allowed, scope = None, ""
        if served:
            scope = self.index.scope(collections, doc_ids)
            if scope is None:
                return []
        elif collections is not None or doc_ids is not None:
            allowed = self.store.allowed_chunk_ids(collections, doc_ids)
            if len(allowed) == 0:
                return []

        def nearest(vec: np.ndarray) -> list[tuple[int, float]]:
            return self.index.dense(vec, n_cand, scope) if served else self.index.search(vec, n_cand, allowed)

        labels: list[str] = []
        if mode == "hybrid" and s.label_list:
            labels = [p for p in numbered_labels(query) if not self.store.names_document(p)]
        qvec = self.embedder.embed_query(query) if mode != "bm25" else None
        t1 = time.perf_counter()
        dense: list[tuple[int, float]] = []
        sparse: list[tuple[int, float]] = []
        fused: list[tuple[int, float]] | None = None
        if served and mode == "hybrid" and s.dense_weight == s.bm25_weight and not labels and not s.query_feedback:
            # Milvus's own RRF, one request
            fused = self.index.hybrid(query, qvec, n_cand, scope, s.rrf_k, s.bm25_identifier_weight)
        else:
            if mode in ("dense", "hybrid"):
                dense = nearest(qvec)
            if mode in ("bm25", "hybrid"):
                sparse = (
                    self.index.bm25(query, n_cand, scope, s.bm25_identifier_weight)
                    if served
                    else self.store.bm25(query, n_cand, collections, doc_ids, s.bm25_identifier_weight)
                )
        t2 = time.perf_counter()
        if fused is None:  # else Milvus fused the lists
            if mode == "dense":
                fused = dense
            elif mode == "bm25":
                fused = sparse
            else:
                rankings, weights = [[i for i, _ in dense], [i for i, _ in sparse]], [s.dense_weight, s.bm25_weight]
                if labels:
                    # "Tier 3" asked about: the pages that say "Tier 3" rank as a third list.
                    expr = " AND ".join(f'"{p}"' for p in labels)
                    rankings.append([i for i, _ in self.store.match(expr, n_cand, collections, doc_ids)])
                    weights.append(s.bm25_weight)
                fused = rrf_fuse(rankings, weights, s.rrf_k)
                if s.query_feedback and fused:
                    # Pseudo-relevance feedback: the query vector moved towards the best fused
                    # chunks finds pages worded like the answer rather than like the question.
                    top = np.array([cid for cid, _ in fused[: s.query_feedback]], dtype=np.int64)
                    q2 = qvec + s.feedback_weight * self.index.source.vectors(top).mean(axis=0)
                    q2 = (q2 / max(float(np.linalg.norm(q2)), 1e-9)).astype(np.float32)
                    rankings[0] = [i for i, _ in nearest(q2)]
                    fused = rrf_fuse(rankings, weights, s.rrf_k)
        n_keep = max(k, s.candidates if self.reranker else k)
        hits = self._page_hits(fused, n_keep) if s.group_pages else self._chunk_hits(fused[:n_keep])
        self._attach_dense_scores(hits, qvec, dict(dense))
        if self.reranker is not None and hits:
            hits = self.reranker.rerank(query, hits)
        hits = hits[:k]
        for r, h in enumerate(hits, 1):
            h.rank = r
        self.last_timings = {"embed": t1 - t0, "search": t2 - t1, "total": time.perf_counter() - t0}
        return hits

    def _chunk_hits(self, ranked: list[tuple[int, float]]) -> list[Hit]:
        rows = self.store.hits([cid for cid, _ in ranked])
        hits = []
        for cid, score in ranked:
            h = rows.get(cid)
            if h is None:  # deleted between the index read and the row fetch
                continue
            h.score = float(score)
            hits.append(h)
        return hits

    def _page_hits(self, ranked: list[tuple[int, float]], n: int) -> list[Hit]:
        """One hit per page region: chunks of the same page are merged into one passage.

        Overlapping or adjacent chunks of a page would otherwise fill several of the
        k slots with the same page; merged, the slots go to other pages and the
        passage carries the neighbouring text. The page's score is its best chunk's.
        A text or Markdown file is one page, however long: there a chunk farther than
        ``max_merge_chars`` from every passage of the page starts a passage of its own.
        """
        rows = self.store.hits([cid for cid, _ in ranked])
        groups: dict[tuple[int, int, int], list[Hit]] = {}
        regions: dict[tuple[int, int], list[int]] = {}  # page -> the start of each group's best chunk
        order: list[tuple[int, int, int]] = []
        reach = self.settings.max_merge_chars
        for cid, score in ranked:
            h = rows.get(cid)
            if h is None:
                continue
            h.score = float(score)
            # A text or Markdown file is one long page: its distant sections are separate
            # passages, as the pages of a PDF are. Within one passage's reach, chunks merge.
            # A PDF page stays one passage (split, one page would fill two of the k slots).
            starts = regions.setdefault((h.doc_id, h.page), [])
            if Path(h.doc).suffix.lower() in TEXT_SUFFIXES:
                near = next((s for s in starts if abs(h.start - s) <= reach), None)
            else:
                near = starts[0] if starts else None
            if near is None:
                if len(order) >= n:
                    continue
                near = h.start
                starts.append(near)
                groups[(h.doc_id, h.page, near)] = []
                order.append((h.doc_id, h.page, near))
            groups[(h.doc_id, h.page, near)].append(h)
        out = []
        for key in order:
            group = groups[key]
            best = group[0]
            if len(group) > 1:
                best = self._merge(group)
            out.append(best)
        return out

    def _merge(self, group: list[Hit]) -> Hit:
        """Merge chunks of one page into the smallest span covering the touching ones."""
        best = group[0]
        spans = sorted((h.start, h.end) for h in group)
        # Keep the run of overlapping/adjacent spans that contains the best chunk.
        start, end = best.start, best.end
        changed = True
        while changed:
            changed = False
            for s_, e_ in spans:
                if s_ <= end + 1 and e_ >= start - 1 and (s_ < start or e_ > end):
                    if max(end, e_) - min(start, s_) <= self.settings.max_merge_chars:
                        start, end = min(start, s_), max(end, e_)
                        changed = True
        if (start, end) == (best.start, best.end):
            return best
        text = self.store.page_text(best.doc_id, best.page)[start:end]
        return Hit(
            chunk_id=best.chunk_id,
            doc=best.doc,
            page=best.page,
            text=text,
            score=best.score,
            start=start,
            end=end,
            doc_id=best.doc_id,
            collection=best.collection,
        )

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
