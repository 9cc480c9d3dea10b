"""Finding the passage sentence that best answers a question (pure functions).

Used when the model's reply cannot be verified against the passages: instead of an
unsourced answer, the user gets the best-matching sentence quoted from the page, with
its citation — or an honest abstention when no sentence matches well enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ingest.chunking import split_sentences
from rag.citations import content_words, numbers
from rag.types import Hit


@dataclass
class Quote:
    n: int  # 1-based passage number
    start: int  # offsets in the passage text
    end: int
    text: str
    lexical: float  # share of the question's content words in the sentence's context
    semantic: float
    score: float


def question_coverage(question: str, text: str) -> float:
    """Share of the question's content words (and all of its numbers) found in ``text``."""
    qw = content_words(question)
    if not qw:
        return 0.0
    if numbers(question) - numbers(text):
        return 0.0
    return len(qw & content_words(text)) / len(qw)


def best_quote(
    question: str,
    hits: Sequence[Hit],
    embed: Callable[[Sequence[str]], np.ndarray] | None = None,
    max_passages: int = 3,
    max_chars: int = 400,
) -> Quote | None:
    """The sentence of the top passages that best answers ``question``.

    A sentence is scored by how many of the question's content words occur in it or
    its immediate neighbours (answers often sit next to the words of the question)
    and by embedding similarity to the question; earlier passages get a small bonus.
    """
    cands: list[tuple[int, int, int, str, float]] = []  # n, start, end, text, lexical
    for n, hit in enumerate(hits[:max_passages], 1):
        spans = split_sentences(hit.text)
        for i, (s, e) in enumerate(spans):
            if e - s < 12 or e - s > max_chars:
                continue
            lo = spans[max(0, i - 1)][0]
            hi = spans[min(len(spans) - 1, i + 1)][1]
            own = question_coverage(question, hit.text[s:e])
            ctx = question_coverage(question, hit.text[lo:hi])
            cands.append((n, s, e, hit.text[s:e], 0.7 * own + 0.3 * ctx))
    if not cands:
        return None
    if embed is not None:
        vecs = embed([question] + [c[3] for c in cands])
        sem = vecs[1:] @ vecs[0]
    else:
        sem = np.zeros(len(cands))
    best: Quote | None = None
    for (n, s, e, text, lex), sv in zip(cands, sem):
        score = 0.55 * lex + 0.45 * float(sv) - 0.03 * (n - 1)
        if best is None or score > best.score:
            best = Quote(n, s, e, text, lex, float(sv), score)
    return best
