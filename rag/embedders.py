"""Embedders: the ``Embedder`` protocol and its sentence-transformers implementation."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

import numpy as np

from rag.errors import ModelError
from rag.settings import BUNDLED, Settings

logger = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    name: str  # identifies the vector space; stored with the index
    dim: int
    max_tokens: int  # word pieces the model reads per passage (prefix excluded)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]: ...


def pick_device(wanted: str) -> str:
    if wanted and wanted != "auto":
        return wanted
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:  # pragma: no cover
        return "cpu"


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bfloat16 instructions (AVX512-BF16 or AMX), where it is fast."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def pick_dtype(wanted: str, device: str) -> str:
    """``auto``: float16 on CUDA, bfloat16 on CPUs that compute it natively, else float32.

    On such a CPU bfloat16 embeds ~1.7x faster (same process, interleaved); vectors stay
    within cosine 0.996 of float32, and page Recall@5 on eval/corpus.jsonl and
    eval/sample_docs.jsonl was unchanged (0.947 and 1.0; docs/benchmarks.md).
    """
    if wanted and wanted != "auto":
        return wanted
    if device.startswith("cuda"):
        return "float16"
    return "bfloat16" if device == "cpu" and cpu_has_native_bf16() else "float32"


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use.

    ``model`` is "bundled" (all-MiniLM-L6-v2 from the installed package), a model name
    (downloaded by sentence-transformers when online) or a local folder.
    """

    def __init__(
        self,
        model: str = BUNDLED,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 64,
        device: str = "auto",
        dtype: str = "auto",
    ) -> None:
        from rag.models import EMBED_NAME

        self.model_ref = model
        self.name = EMBED_NAME if model == BUNDLED else model
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self._device = device
        self._dtype = dtype
        self._model = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, s: Settings) -> SentenceTransformerEmbedder:
        return cls(
            s.embed_model,
            s.embed_query_prefix,
            s.embed_passage_prefix,
            s.embed_batch_size,
            s.embed_device,
            getattr(s, "embed_dtype", "auto"),
        )

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        from rag.models import bundled_embedding_dir

        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:  # pragma: no cover
            raise ModelError("sentence-transformers is not installed: run `make setup`") from e
        path = str(bundled_embedding_dir()) if self.model_ref == BUNDLED else self.model_ref
        device = pick_device(self._device)
        try:
            model = SentenceTransformer(path, device=device)
        except Exception as e:  # noqa: BLE001 - surface any loading failure as a ModelError
            raise ModelError(f"cannot load embedding model '{self.name}' ({e})") from None
        dtype = pick_dtype(self._dtype, device)
        if dtype != "float32":
            import torch

            model = model.to(getattr(torch, dtype))
        logger.info("embedding model %s on %s (%s)", self.name, device, dtype)
        return model

    @property
    def device(self) -> str:
        return str(self.model.device)

    @property
    def dim(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    @property
    def max_tokens(self) -> int:
        limit = int(self.model.max_seq_length) - 2  # [CLS] and [SEP]
        if self.passage_prefix:
            limit -= len(self.model.tokenizer(self.passage_prefix, add_special_tokens=False)["input_ids"])
        return max(8, limit)

    def offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        tok = self.model.tokenizer
        enc = tok(list(texts), add_special_tokens=False, return_offsets_mapping=True, truncation=False)
        return [[(int(a), int(b)) for a, b in o] for o in enc["offset_mapping"]]

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = [self.passage_prefix + t for t in texts]
        vecs = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        model = self.model
        with _one_thread(model):
            vec = model.encode(
                [self.query_prefix + text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        return np.ascontiguousarray(vec[0], dtype=np.float32)


_threads_lock = threading.Lock()
_threads_users = 0
_threads_before = 0


@contextmanager
def _one_thread(model) -> Iterator[None]:
    """Run one short text on one CPU thread.

    A single query is too little work to share: a second thread only adds
    synchronisation, and on a busy machine its spin-waiting made queries ~8x slower
    (bench/search.py). torch's setting is process-wide, so overlapping queries share
    one counter and the last one out restores the previous value. GPUs are left alone.
    """
    global _threads_users, _threads_before
    import torch

    if model.device.type != "cpu":
        yield
        return
    with _threads_lock:
        if _threads_users == 0:
            _threads_before = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_before)
