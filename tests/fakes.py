"""Deterministic fakes for fast unit tests (the real models are tested in integration/)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence

import numpy as np

from ingest.chunking import WhitespaceTokenizer
from rag.generators.base import Message, approx_tokens

_WORD = re.compile(r"\w+")


class FakeEmbedder:
    """Bag-of-words hashing embedder: texts sharing words get similar vectors.

    Each word maps to a sha256-seeded random direction; a text is the normalised sum.
    """

    name = "fake-hash-embedder"
    passage_prefix = ""

    def __init__(self, dim: int = 64, max_tokens: int = 64) -> None:
        self.dim = dim
        self.max_tokens = max_tokens
        self._tok = WhitespaceTokenizer()
        self.calls = 0

    def _word(self, w: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(w.encode()).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)

    def _one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for w in _WORD.findall(text.lower()):
            v += self._word(w)
        n = np.linalg.norm(v)
        if n == 0:
            v[0] = 1.0
            return v
        return v / n

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._one(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._one(text)

    def offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        return self._tok.offsets(texts)


class FakeGenerator:
    """Replies with a scripted answer (or echoes the first passage sentence, cited)."""

    name = "fake-generator"

    def __init__(self, reply: str | None = None, context_window: int = 4096) -> None:
        self.reply = reply
        self._window = context_window
        self.prompts: list[list[Message]] = []

    @property
    def context_window(self) -> int:
        return self._window

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)

    def describe(self) -> dict:
        return {"backend": "fake", "model": self.name, "loaded": True}

    def stream(self, messages: Sequence[Message], max_new_tokens: int | None = None) -> Iterator[str]:
        self.prompts.append(list(messages))
        reply = self.reply
        if reply is None:
            m = re.search(r"\[1\] .*?:\n<<<(.*?)>>>", messages[-1]["content"], re.S)
            first = re.split(r"(?<=[.!?])\s", m.group(1))[0] if m else "The documents do not contain the answer."
            reply = first.rstrip(".") + " [1]."
        for word in reply.split(" "):
            yield word + " "
