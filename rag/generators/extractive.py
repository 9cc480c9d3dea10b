"""A generator without a language model: it answers with the passage sentences that
best match the question, each cited. Fast, deterministic, and never invents text."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import numpy as np

from ingest.chunking import split_sentences
from rag.citations import content_words
from rag.generators.base import Message, approx_tokens

_PASSAGE = re.compile(r"^\[(\d+)\] .*?:\n<<<(.*?)>>>", re.S | re.M)


class ExtractiveGenerator:
    name = "extractive"

    def __init__(self, embedder=None, max_sentences: int = 2) -> None:
        self.embedder = embedder
        self.max_sentences = max_sentences

    @property
    def context_window(self) -> int:
        return 1_000_000

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)

    def describe(self) -> dict:
        return {"backend": "extractive", "model": "none (answers are passage sentences)", "loaded": True}

    def stream(self, messages: Sequence[Message], max_new_tokens: int | None = None) -> Iterator[str]:
        user = messages[-1]["content"]
        question = user.rsplit("Question:", 1)[-1].replace("Answer:", "").strip()
        sentences: list[tuple[int, str]] = []
        for m in _PASSAGE.finditer(user):
            n, text = int(m.group(1)), m.group(2)
            sentences.extend((n, text[s:e]) for s, e in split_sentences(text))
        if not sentences:
            yield "The documents do not contain the answer."
            return
        qw = content_words(question)
        lex = np.array([len(qw & content_words(t)) / (len(qw) or 1) for _, t in sentences])
        if self.embedder is not None:
            vecs = self.embedder.embed_passages([t for _, t in sentences])
            sem = vecs @ self.embedder.embed_query(question)
        else:
            sem = np.zeros(len(sentences))
        score = 0.5 * lex + 0.5 * sem
        order = np.argsort(-score)[: self.max_sentences]
        picked = [sentences[i] for i in sorted(order, key=lambda i: -score[i]) if score[i] > 0.2] or [
            sentences[order[0]]
        ]
        for i, (n, text) in enumerate(picked):
            text = text.strip()
            if text and text[-1] in ".!?":
                text = text[:-1] + f" [{n}]" + text[-1]
            else:
                text += f" [{n}]."
            yield (" " if i else "") + text
