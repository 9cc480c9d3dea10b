"""Optional cross-encoder reranking of retrieved passages (off by default).

A cross-encoder reads the question and a passage together and scores how well the
passage answers it; it is slower than the bi-encoder but more precise, so it only
re-orders the fused candidates (``RAG_CANDIDATES``) before the top ``k`` are kept.
No cross-encoder is bundled: set ``RAG_RERANKER_MODEL`` to a sentence-transformers
``CrossEncoder`` name (e.g. ``cross-encoder/ms-marco-MiniLM-L-6-v2`` when online) or a
local folder.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from rag.errors import ModelError
from rag.types import Hit

logger = logging.getLogger(__name__)


class Reranker(Protocol):
    """Re-orders hits for a query, best first, with the reranker's scores."""

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]: ...


class CrossEncoderReranker:
    """A sentence-transformers ``CrossEncoder``, loaded on first use."""

    def __init__(self, model_name_or_path: str, device: str = "auto", batch_size: int = 32) -> None:
        self.name = model_name_or_path
        self._device = device
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        from rag.embedders import pick_device

        try:
            from sentence_transformers import CrossEncoder
        except ImportError as e:  # pragma: no cover
            raise ModelError("sentence-transformers is not installed: run `make setup`") from e
        device = pick_device(self._device)
        try:
            model = CrossEncoder(self.name, device=device)
        except Exception as e:  # noqa: BLE001 - surface any loading failure as a ModelError
            raise ModelError(
                f"cannot load reranker model '{self.name}' ({e}); set RAG_RERANKER_MODEL to a "
                "sentence-transformers CrossEncoder name or folder, or unset it to turn reranking off"
            ) from None
        logger.info("reranker %s on %s", self.name, device)
        return model

    def scores(self, query: str, texts: Sequence[str]) -> list[float]:
        """Relevance of each text to ``query`` (higher is better)."""
        if not texts:
            return []
        raw = self.model.predict(
            [(query, t) for t in texts], batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )
        return [float(s) for s in (raw.reshape(len(texts), -1)[:, -1] if raw.ndim > 1 else raw)]

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """Return ``hits`` sorted by cross-encoder score (best first); ``score`` is replaced."""
        hits = list(hits)
        scores = self.scores(query, [h.text for h in hits])
        for h, s in zip(hits, scores):
            h.score = s
        order = sorted(range(len(hits)), key=lambda i: (-scores[i], i))
        return [hits[i] for i in order]
