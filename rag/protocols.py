"""The seams of the engine: what each component must offer, in one place.

The engine (rag/engine.py) and retrieval (rag/retrieval.py) depend on these, never on a
concrete backend; rag/factory.py is the only place where a setting becomes an object.
A new backend (another vector store, another generator) implements the protocol and is
added to the factory. ``Embedder``, ``Generator`` and ``Reranker`` are defined beside
their implementations and gathered here; the index, the passage store and the answer
scorer are defined here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from rag.embedders import Embedder
from rag.generators.base import Generator, Message
from rag.rerank import Reranker
from rag.types import Hit

__all__ = ["AnswerScorer", "Embedder", "Generator", "Message", "PassageStore", "Reranker", "VectorSearch"]


class VectorSearch(Protocol):
    """Nearest chunks to a query vector, kept in step with the passage store."""

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(chunk id, similarity) of the ``k`` nearest chunks, among ``allowed`` ids if given."""
        ...

    def load(self) -> None:
        """Read or build the index before the first search."""
        ...


class PassageStore(Protocol):
    """Chunks, pages and their full-text index: what retrieval and answering read."""

    def bm25(
        self,
        query: str,
        k: int,
        collections: Sequence[str] | None = None,
        doc_ids: Sequence[int] | None = None,
        identifier_weight: int = 1,
    ) -> list[tuple[int, float]]:
        """(chunk id, score) of the best full-text matches of ``query``."""
        ...

    def hits(self, chunk_ids: Sequence[int]) -> dict[int, Hit]:
        """The passages of these chunks, with document, page and offsets."""
        ...

    def allowed_chunk_ids(self, collections: Sequence[str] | None, doc_ids: Sequence[int] | None) -> np.ndarray:
        """The chunks a search restricted to these collections or documents may return."""
        ...

    def match(
        self, expr: str, k: int, collections: Sequence[str] | None = None, doc_ids: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, score) of the chunks matching a full-text expression ("Tier 3")."""
        ...

    def names_document(self, label: str) -> bool:
        """Whether ``label`` is (part of) a document's name rather than a term in its text."""
        ...

    def page_text(self, doc_id: int, page: int) -> str:
        """The stored text of one page, "" if there is none (a citation's offsets point into it)."""
        ...

    def idf(self, words: Sequence[str]) -> dict[str, float]:
        """Each word's inverse document frequency over the chunks, scaled to 0..1."""
        ...

    def sentence_vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The vectors stored at ingestion for those of ``texts`` that are known."""
        ...


class AnswerScorer(Protocol):
    """The fitted answer selector's two models and its threshold (rag/answer/scorer.py)."""

    threshold: float

    def confidence(self, view: np.ndarray) -> float:
        """The probability that the best candidate (its question-level view) is right."""
        ...
