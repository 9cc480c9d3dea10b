"""Answer candidates from the top passages: sentences, short runs of consecutive sentences,
and table rows read under their column names (pure functions).

Candidates only say where an answer could be; :mod:`rag.answer.features` and the fitted
scorer decide which one answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.chunking import split_sentences
from rag.answer.tables import caption_after, plain_text, read_row, table_rows
from rag.types import Hit

MAX_WIDTH = 3  # sentences in a run: an answer and the sentences that complete it
MAX_SENTENCE_CHARS = 400
MAX_RUN_CHARS = 600
MIN_SENTENCE_CHARS = 12  # shorter pieces ("CIS 9, 12", a page number) are no candidates


@dataclass(frozen=True)
class Candidate:
    n: int  # 1-based passage number
    start: int  # offsets in the passage text
    end: int
    text: str  # the passage's text[start:end] (what the citation highlights)
    shown: str  # how the answer reads (a row under its column names; prose without Markdown)
    units: tuple[int, ...]  # indices into the selection's unit texts (embedded once each)
    kind: str  # "sentence" | "run" | "row"
    context: str  # the sentences around it (a row: its header, caption and the text above)


@dataclass
class Pool:
    """Every candidate of the passages, with the texts to embed once each (sentences, rows)."""

    candidates: list[Candidate]
    units: list[str]
    unit_passage: list[int]  # the passage number of each unit


_BREAK = re.compile(r"\n[ \t]*\n|\n(?=[ \t]*#{1,6}[ \t])|(?<=\n)(?=[ \t]*#{1,6}[ \t])")


# A line that starts an entry of a list: a bullet, a number, or a label with a colon.
_ENTRY = re.compile(r"(?m)^[ \t]*(?:[-*+\u2022][ \t]|\d{1,2}[.)][ \t]|[A-Z][\w.\-]{0,30}:[ \t])")


def _blocks(text: str) -> list[tuple[int, int]]:
    """The paragraphs of ``text``: split at blank lines and before Markdown headings (a
    heading is a block of its own, not the first words of the sentence below it)."""
    out, pos = [], 0
    for m in _BREAK.finditer(text):
        if m.start() > pos:
            out.append((pos, m.start()))
        pos = m.end()
    if pos < len(text):
        out.append((pos, len(text)))
    heads = []
    for s, e in out:  # a heading line and the paragraph under it, when no blank line parts them
        line_end = text.find("\n", s, e)
        if text[s:e].lstrip().startswith("#") and line_end != -1:
            heads += [(s, line_end), (line_end + 1, e)]
        else:
            heads.append((s, e))
    entries = []
    for s, e in heads:  # a list's entries, one block each ("OR.PR-2: Juice is ...", "- Step two")
        starts = [s] + [s + m.start() for m in _ENTRY.finditer(text[s:e]) if m.start() > 0]
        for a, b in zip(starts, [*starts[1:], e]):
            if not _ENTRY.match(text, a):
                entries.append((a, b))
                continue
            # An entry goes on over the lines that continue its words (lower case); a line
            # that starts anew ("CIS 9, 12", "COBIT 5 APO01.06") is the column beside it.
            cut = re.search(r"\n[ \t]*(?=[A-Z])", text[a:b])
            entries += [(a, a + cut.start()), (a + cut.end(), b)] if cut else [(a, b)]
    return [(a, b) for a, b in entries if text[a:b].strip()]


def generate(question: str, hits: Sequence[Hit], max_passages: int = 5) -> Pool:
    cands: list[Candidate] = []
    units: list[str] = []
    unit_passage: list[int] = []
    for n, hit in enumerate(hits[:max_passages], 1):
        text = hit.text
        spans, blocks = [], []  # each sentence, and the block (paragraph, section) it is in
        for b, (bs, be) in enumerate(_blocks(text)):
            for s, e in split_sentences(text[bs:be]):
                if e - s >= MIN_SENTENCE_CHARS:
                    spans.append((bs + s, bs + e))
                    blocks.append(b)
        rows = table_rows(text)
        in_rows = [(s, e) for (s, e), _ in rows]
        first = len(units)
        units.extend(text[s:e] for s, e in spans)
        unit_passage.extend(n for _ in spans)
        for i in range(len(spans)):
            for width in range(1, MAX_WIDTH + 1):
                if i + width > len(spans) or blocks[i + width - 1] != blocks[i]:
                    break  # a run stays within its paragraph: the next one is another entry
                s, e = spans[i][0], spans[i + width - 1][1]
                if e - s > (MAX_SENTENCE_CHARS if width == 1 else MAX_RUN_CHARS):
                    break
                if sum(1 for a, b in in_rows if s <= a and b <= e) >= 2:
                    continue  # a table read as prose: its rows are candidates of their own
                lo = spans[max(0, i - 1)][0]
                hi = spans[min(len(spans) - 1, i + width)][1]
                cands.append(
                    Candidate(
                        n,
                        s,
                        e,
                        text[s:e],
                        plain_text(text[s:e]),
                        tuple(range(first + i, first + i + width)),
                        "sentence" if width == 1 else "run",
                        text[lo:hi],
                    )
                )
        ends: dict = {}  # each header's last row's end: the caption follows it
        for r, head in rows:
            ends[head] = max(ends.get(head, 0), r[1])
        for (s, e), header in rows:
            head = text[header[0] : header[1]] if header else None
            shown = read_row(head, text[s:e], question)
            top = header[0] if header else s
            below = caption_after(text, ends[header])
            context = f"{text[max(0, top - 200) : top]} {head or ''} {below}"
            units.append(f"{shown} ({below})" if below else shown)
            unit_passage.append(n)
            cands.append(Candidate(n, s, e, text[s:e], shown, (len(units) - 1,), "row", context))
    return Pool(cands, units, unit_passage)
