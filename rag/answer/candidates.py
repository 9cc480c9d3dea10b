"""Answer candidates from the top passages: sentences, short runs of consecutive sentences,
and table rows read under their column names (pure functions). A candidate whose last
sentence announces a list carries the items that follow, shown when it is the answer.

Candidates only say where an answer could be; :mod:`rag.answer.features` and the fitted
scorer decide which one answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ingest.chunking import split_sentences
from rag.answer.tables import caption_after, plain_text, read_row, table_rows
from rag.types import Hit

MAX_WIDTH = 3  # sentences in a run: an answer and the sentences that complete it
MAX_SENTENCE_CHARS = 400
MAX_RUN_CHARS = 600
MIN_SENTENCE_CHARS = 12  # shorter pieces ("CIS 9, 12", a page number) are no candidates
MAX_ITEMS = 8  # the entries a sentence that announces a list is read with
MAX_LIST_CHARS = 1200


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
    # When its last sentence announces a list ("... defines three levels:"): where the items
    # that follow end in the passage, and the items as the answer reads them.
    completion: tuple[int, str] | None = None

    def completed(self, passage: str) -> Candidate:
        """The candidate with the items it announces, as the answer shows it: the answer to
        "what are the levels?" is the levels, not only the sentence that counts them."""
        if self.completion is None:
            return self
        end, items = self.completion
        sep = " " if self.shown[-1:] in ".!?:" else "; "
        return replace(self, end=end, text=passage[self.start : end], shown=self.shown + sep + items, completion=None)


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


_COUNTS = {w: i for i, w in enumerate("two three four five six seven eight nine ten eleven twelve".split(), 2)}
# A count and, within three words, a plural noun: "three levels", "5 essential characteristics".
_ANNOUNCED = re.compile(r"\b(\d{1,2}|" + "|".join(_COUNTS) + r")\s+(?:[a-z-]+\s+){0,2}[a-z-]+s\b", re.I)


def announced(sentence: str) -> int | None:
    """How many items ``sentence`` announces: the count it names ("defines three levels
    of ...", "the following 4 steps"), 0 when it ends with a colon and names none, None when
    it announces no list."""
    m = _ANNOUNCED.search(sentence)
    if m:
        word = m.group(1).lower()
        n = int(word) if word.isdigit() else _COUNTS[word]
        if 2 <= n <= MAX_ITEMS:
            return n
    return 0 if sentence.rstrip().endswith(":") else None


def _list_items(i: int, spans: list[tuple[int, int]], blocks: list[int], entries: list[bool], count: int) -> list[int]:
    """The sentences after sentence ``i`` that are the items it announces: the list entries
    (bullets, numbers, "Label: ...") that follow when it ends its paragraph, ``count`` of
    them (a list entry is one item however many sentences it has), or all that follow when
    it names no count. Empty when fewer follow than announced: prose after a sentence that
    happens to name a number ("Three years later, ...") is no list."""
    j = i + 1
    if j >= len(spans) or blocks[j] == blocks[i]:
        return []
    out: list[int] = []
    items: list[int] = []  # the block of each item
    while j < len(spans) and entries[blocks[j]]:
        if blocks[j] not in items:
            if len(items) == (count or MAX_ITEMS):
                break
            items.append(blocks[j])
        if spans[j][1] - spans[i][0] > MAX_LIST_CHARS:
            return []
        out.append(j)
        j += 1
    return out if len(items) >= max(count, 2) else []


def generate(question: str, hits: Sequence[Hit], max_passages: int = 5) -> Pool:
    cands: list[Candidate] = []
    units: list[str] = []
    unit_passage: list[int] = []
    for n, hit in enumerate(hits[:max_passages], 1):
        text = hit.text
        spans, blocks = [], []  # each sentence, and the block (paragraph, section) it is in
        parts = _blocks(text)
        entries = [bool(_ENTRY.match(text, bs)) for bs, _ in parts]
        for b, (bs, be) in enumerate(parts):
            for s, e in split_sentences(text[bs:be]):
                if e - s >= MIN_SENTENCE_CHARS:
                    spans.append((bs + s, bs + e))
                    blocks.append(b)
        rows = table_rows(text)
        in_rows = [(s, e) for (s, e), _ in rows]
        completions: dict[int, tuple[int, str]] = {}
        for i, (s, e) in enumerate(spans):
            count = announced(text[s:e])
            items = _list_items(i, spans, blocks, entries, count) if count is not None else []
            if items:
                shown = ""
                for a, b in (spans[j] for j in items):
                    piece = plain_text(text[a:b]).rstrip(";,")
                    shown += piece if not shown else (" " if shown[-1] in ".!?:" else "; ") + piece
                completions[i] = (spans[items[-1]][1], shown)
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
                        completions.get(i + width - 1),
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
