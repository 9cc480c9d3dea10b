"""The plain baseline every answer policy is measured against, in the same run.

For each question: the sentence of the top five retrieved passages with the best mix of
cosine similarity and word overlap with the question, plus the sentence after it. It
never refuses. About twenty lines, on purpose: a policy that does not beat it on sets it
was not tuned on buys nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ingest.chunking import split_sentences
from rag.text import content_words
from rag.types import Hit


def baseline_answer(
    question: str, hits: Sequence[Hit], embed: Callable[[Sequence[str]], np.ndarray], passages: int = 5
) -> tuple[str, Hit | None]:
    """(answer text, the passage it comes from)."""
    sents = [(h, h.text[s:e]) for h in hits[:passages] for s, e in split_sentences(h.text)]
    if not sents:
        return "", None
    vecs = embed([question] + [t for _, t in sents])
    cos = vecs[1:] @ vecs[0]
    q = content_words(question)
    overlap = np.array([len(q & content_words(t)) / max(len(q), 1) for _, t in sents])
    best = int(np.argmax(0.5 * cos + 0.5 * overlap))
    hit, text = sents[best]
    after = sents[best + 1][1] if best + 1 < len(sents) and sents[best + 1][0] is hit else ""
    return " ".join(f"{text} {after}".split()), hit
