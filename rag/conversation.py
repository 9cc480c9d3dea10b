"""Follow-up questions: what a question refers back to, carried over from the conversation.

"And who wrote it?" cannot be searched on its own. Without a model able to rewrite it,
the conversation lends it its most specific words: the rarest words (by the library's
own IDF) of the previous question and, weighted less, of the previous answer, that the
follow-up does not already use. These go to retrieval, which fuses three lists (the
question as typed, the question with the carried words, and the passages the previous
answer came from), so that a new, self-contained question in a conversation still finds
its own pages first. No word list of follow-up phrasings is involved.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rag.citations import strip_markers
from rag.generators.base import Message
from rag.text import content_words

logger = logging.getLogger(__name__)

_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9'-]*[A-Za-z0-9]|\d+(?:\.\d+)*")

# How many words a follow-up borrows, and how much less a word of the previous answer
# counts than one of the previous question (an answer is longer and says more besides).
CARRY_WORDS = 4
ANSWER_WEIGHT = 0.7


@dataclass(frozen=True)
class FollowUp:
    """A question read in its conversation."""

    question: str
    carried: list[str] = field(default_factory=list)  # words borrowed from earlier turns
    previous_answer: str = ""  # the last assistant turn, markers removed

    @property
    def query(self) -> str:
        """The question with the borrowed words: what retrieval and the selector read."""
        return " ".join([self.question, *self.carried]) if self.carried else self.question


def _last(history: Sequence[Message], role: str) -> str:
    for m in reversed(history):
        if m.get("role") == role and str(m.get("content", "")).strip():
            return str(m["content"]).strip()
    return ""


def last_answer(history: Sequence[Message]) -> str:
    """The conversation's last answer, without its citation markers."""
    return " ".join(strip_markers(_last(history, "assistant")).split())


def read_follow_up(
    question: str, history: Sequence[Message], idf: Callable[[Sequence[str]], dict[str, float]]
) -> FollowUp:
    """``question`` with the most specific words of the previous turns it does not use.

    ``idf`` maps words to the library's inverse document frequency (0..1, 1 = no chunk
    holds the word); a word no chunk holds cannot help find a page and is not carried.
    """
    prev_q = _last(history, "user")
    prev_a = last_answer(history)
    if not prev_q and not prev_a:
        return FollowUp(question)
    asked = content_words(question)
    scored: dict[str, float] = {}
    for text, weight in ((prev_q, 1.0), (prev_a, ANSWER_WEIGHT)):
        words = [w for w in _TOKEN.findall(text) if content_words(w) and not content_words(w) <= asked]
        known = idf(sorted({w.lower() for w in words}))
        for w in words:
            v = known.get(w.lower(), 1.0)
            if v >= 1.0:
                continue
            key = w.lower()
            scored[key] = max(scored.get(key, 0.0), weight * v)
    stems: set[str] = set()
    carried: list[str] = []
    for w in sorted(scored, key=lambda w: -scored[w]):
        s = content_words(w)
        if s <= stems:
            continue
        stems |= s
        carried.append(w)
        if len(carried) == CARRY_WORDS:
            break
    if carried:
        logger.debug("follow-up %r carries %s from the conversation", question, carried)
    return FollowUp(question, carried, prev_a)
