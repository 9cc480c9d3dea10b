"""Plain value types shared by ingestion, retrieval and answering."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Page:
    """One page of extracted, cleaned text. ``number`` is 1-based (physical page in a PDF).

    ``number`` is the location index everything uses (chunks, citations, the page viewer);
    ``label`` is what a reader looks for in the file: "slide 7", "sheet 'Budget' rows 2-41",
    "section 'Travel'", "page 3 (OCR)". Empty means "page <number>".
    """

    number: int
    text: str
    label: str = ""

    @property
    def location(self) -> str:
        return location_label(self.number, self.label)


def location_label(page: int, label: str = "") -> str:
    """The location a citation shows: the page's label, or "page N"."""
    return label or f"page {page}"


@dataclass(frozen=True)
class ChunkSpan:
    """A chunk of one page: text plus character offsets into the cleaned page text."""

    page: int
    start: int
    end: int
    text: str
    n_tokens: int = 0


@dataclass
class Hit:
    """A retrieved passage."""

    chunk_id: int
    doc: str
    page: int
    text: str
    score: float
    rank: int = 0
    start: int = 0
    end: int = 0
    doc_id: int = 0
    collection: str = ""
    dense_score: float | None = None
    location: str = ""  # the page's label ("slide 7"); see Page

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            "chunk_id": self.chunk_id,
            "doc": self.doc,
            "page": self.page,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "collection": self.collection,
            "location": location_label(self.page, self.location),
        }


@dataclass
class Citation:
    """A citation ``[n]`` mapped back to its passage, with the supporting quote."""

    n: int
    doc: str
    page: int
    chunk_id: int
    quote: str
    quote_start: int = -1  # character offsets of the quote within the page text
    quote_end: int = -1
    doc_id: int = 0
    location: str = ""  # the page's label ("slide 7"); see Page

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["location"] = location_label(self.page, self.location)
        return out


@dataclass
class Claim:
    text: str
    citations: list[int] = field(default_factory=list)
    supported: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "citations": list(self.citations), "supported": self.supported}


@dataclass
class Answer:
    question: str
    answer: str
    citations: list[Citation]
    sources: list[Hit]
    abstained: bool
    claims: list[Claim] = field(default_factory=list)
    standalone_question: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    raw_answer: str = ""
    mode: str = ""  # generated | quoted | abstained
    # The selector's probability that the quoted answer is right; ``unsure`` when it is low
    # enough that the answer is shown as the closest passage, not as the answer.
    confidence: float | None = None
    unsure: bool = False

    def to_json(self) -> dict[str, Any]:
        out = {
            "question": self.question,
            "answer": self.answer,
            "citations": [c.to_json() for c in self.citations],
            "sources": [h.to_json() for h in self.sources],
            "abstained": self.abstained,
            "claims": [c.to_json() for c in self.claims],
            "mode": self.mode,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }
        if self.confidence is not None:
            out["confidence"] = round(self.confidence, 3)
            out["unsure"] = self.unsure
        if self.standalone_question and self.standalone_question != self.question:
            out["standalone_question"] = self.standalone_question
        return out
