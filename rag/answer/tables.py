"""Tables read as their reader would: rows under their column names, a table of figures
whole (pure functions over a page's text).

A PDF's table arrives as lines of cells; chunking cuts it the way it cuts prose. These
functions find the rows of a passage's tables with their header lines, read a row as
words ("Hermit crab — 2021: 389"), and widen a passage that cuts a table of figures to the
whole table. They generate answer candidates; they decide nothing.
"""

from __future__ import annotations

import re

from rag.text import content_words, numbers, share

_CELL_NUMBER = re.compile(r"^[-+$€£(]?\d(?:[\d,.:]*\d)?%?\)?$|^0x[0-9a-fA-F]+$")
_RULE = re.compile(r"^[\s\-=_+|:]+$")
_MEASURE = re.compile(r"(?<![\w.])\d*\.\d+%?(?![\w.])|\d%")


def _is_row(line: str) -> bool:
    """A line of a table: short, cells split by spaces, some of them numbers (a line of
    prose with one number in it has too many words)."""
    cells = line.split()
    if not 2 <= len(cells) or len(line) > 120:
        return False
    nums = sum(1 for c in cells if _CELL_NUMBER.match(c))
    return nums >= 1 and (len(cells) <= 8 or nums >= 0.3 * len(cells))


def _value_cells(row: str) -> int:
    """How many cells at the end of a row are numbers."""
    n = 0
    for c in reversed(row.split()):
        if not _CELL_NUMBER.match(c):
            break
        n += 1
    return n


def _names_columns(line: str, row: str) -> bool:
    """A header line with a name for each of the row's number cells (or one more, for the
    label column)."""
    v = _value_cells(row)
    return v >= 2 and len(line.split()) in (v, v + 1) and not _is_row(line)


def _groups_columns(line: str, row: str) -> bool:
    """A header line of column groups above the column names: fewer names than the row has
    numbers, each over as many columns ("NQ HotpotQA WoW" over six), and no title (a title
    has small words: "Ranking of Pseudo RAG Systems")."""
    v, words = _value_cells(row), line.split()
    return (
        1 < len(words) < v
        and v % len(words) == 0
        and not _is_row(line)
        and not any(w.isalpha() and w.islower() and len(w) <= 4 for w in words)
    )


def table_rows(text: str) -> list[tuple[tuple[int, int], tuple[int, int] | None]]:
    """The rows of the tables in ``text``, each with its header line: ((start, end), (start, end)).

    A table is a run of at least two row lines (rule lines like "---- ----" may sit in it);
    its header is the line just above the run when that line is short and not a sentence,
    or else the run's first line ("Animal 2020 2021 2022 2023"), which then is no row,
    unless it holds measurements (decimals, percentages): then the table has no header.
    A row label wrapped onto a line of its own ("Kendall's Tau for" over "ARES LLM Judge
    0.89 1.0 ...") belongs to the row below it; a header's lines of column groups above it
    ("NQ HotpotQA WoW" over "C.R. A.R. C.R. A.R. C.R. A.R.") belong to the header.
    """
    lines = _line_spans(text)
    texts = [text[s:e].strip() for s, e in lines]
    out = []
    i = 0
    while i < len(lines):
        j = i
        run = []
        first = {}  # row line -> the line its wrapped label begins on
        if i + 1 < len(lines) and _is_fragment(texts[i]) and _is_row(texts[i + 1]) and i > 0:
            if _names_columns(texts[i - 1], texts[i + 1]):  # "C.R A.R. ...", "Kendall's Tau for", a row
                first[i + 1] = i
                j = i + 1
        while j < len(lines):
            line = texts[j]
            if _is_row(line):
                run.append(j)
            elif (
                run
                and j + 1 < len(lines)
                and _is_fragment(line)
                and _is_row(texts[j + 1])
                and _value_cells(texts[run[-1]]) == _value_cells(texts[j + 1]) >= 2
            ):
                first[j + 1] = j  # the rows above and below have as many figures: one table
            elif not (line and _RULE.match(line)):
                break
            j += 1
        if len(run) >= 2:
            top = first.get(run[0], run[0])
            above = texts[top - 1] if top > 0 else ""
            if above and len(above) <= 120 and not _SENTENCE_END.search(above) and not _is_row(above):
                h = top - 1
                while h > 0 and top - h < 3 and _groups_columns(texts[h - 1], texts[run[0]]):
                    h -= 1  # a line of column groups above the column names
                header = (lines[h][0], lines[top - 1][1])
            elif _MEASURE.search(texts[run[0]]):
                header = None
            else:
                header = lines[run[0]]
                run = run[1:]
            for r in run:
                s, e = lines[first.get(r, r)][0], lines[r][1]
                ls = len(text[s:e]) - len(text[s:e].lstrip())
                rs = len(text[s:e].rstrip())
                out.append(((s + ls, s + rs), header))
        i = max(j, i + 1)
    taken = {r for r, _ in out}
    return out + [r for r in _wrapped_rows(text, lines, texts) if r[0] not in taken]


_KEYED = re.compile(r"^\s*(\d{1,3})\s+\S")  # "2 START_PENDING Some other hart has ..."
_MAX_WRAP = 6  # lines a wrapped row's description may take


def _is_column_header(line: str) -> bool:
    """A line of column names ("State ID State Name Description"): a few words, most of them
    capitalised, no sentence, number or address."""
    words = line.split()
    return (
        2 <= len(words) <= 12
        and not line.endswith((".", "!", "?", ":"))
        and not _KEYED.match(line)
        and "://" not in line
        and sum(w[0].isupper() for w in words) >= 0.5 * len(words)
    )


def _wrapped_rows(
    text: str, lines: list[tuple[int, int]], texts: list[str]
) -> list[tuple[tuple[int, int], tuple[int, int] | None]]:
    """The rows of a table whose first column numbers them (0, 1, 2, ...) and whose last
    wraps over several lines, as a PDF prints a table of states or codes:

        State ID State Name Description
        0 STARTED The hart is physically powered-up and executing
        normally.
        1 STOPPED The hart is not executing in supervisor-mode ...

    Each row runs from its numbered line to the line before the next one (the last row to
    its first line that ends a sentence, within as many lines as the longest row above).
    At least three rows numbered in sequence, under a line of column names, make such a
    table, when some row wraps (rows of one line each are read by ``table_rows``). ``lines``
    are the spans of ``text``'s lines, ``texts`` their stripped text."""
    out = []
    i = 1
    while i < len(lines):
        m = _KEYED.match(texts[i])
        head = texts[i - 1]
        if not (m and _is_column_header(head)):
            i += 1
            continue
        keyed, key = [i], int(m.group(1))
        j = i + 1
        while j < len(lines) and j - keyed[-1] <= _MAX_WRAP and texts[j]:
            k = _KEYED.match(texts[j])
            if k and int(k.group(1)) == key + 1:
                keyed.append(j)
                key += 1
            j += 1
        wrap = max(b - a for a, b in zip(keyed, keyed[1:])) if len(keyed) >= 3 else 1
        if wrap == 1:  # rows of one line each are read by table_rows itself
            i += 1
            continue
        end = keyed[-1]  # the last row ends at its first line that ends a sentence
        while end < min(len(lines) - 1, keyed[-1] + wrap - 1) and not texts[end].endswith((".", "!", "?")):
            end += 1
        bounds = [*keyed, end + 1]
        for a, b in zip(bounds, bounds[1:]):
            s, e = lines[a][0], lines[b - 1][1]
            ls = len(text[s:e]) - len(text[s:e].lstrip())
            out.append(((s + ls, s + len(text[s:e].rstrip())), lines[i - 1]))
        i = end + 1
    return out


def row_named(row: str, qwords: set[str], qnums: set[str]) -> bool:
    """The question names the row: most words of its label ("hermit crab", "evaluation set
    [size]"), or one of its numbers ("implementation ID 4"). A row the question does not
    name answers something else (the sea urchin count, asked about sea otters)."""

    def label(text: str) -> set[str]:
        return content_words(" ".join(c for c in text.split() if not _CELL_NUMBER.match(c)))

    # A label wrapped over lines ("Mean over" / "Drip irrigation 6.1 ..."): either all of it,
    # or its line with the figures.
    named = any(share(label(t), qwords) >= 0.66 for t in {row, row.rsplit("\n", 1)[-1]})
    return named or bool(numbers(row) & qnums)


def read_row(header: str | None, row: str, question: str = "") -> str:
    """A table row as words: numbers paired with their column names when the header's last
    words name the row's last (number) cells ("Animal 2020 2021", "Hermit crab 405 389" ->
    "Hermit crab — 2020: 405, 2021: 389"), or else "header: row". A header of two lines
    names each column by its group and its own name ("NQ WoW" over "C.R. A.R. C.R. A.R."
    -> "NQ C.R.: 79.3%, NQ A.R.: 97.2%, ..."). When ``question`` names some of the columns
    ("on NQ", "in 2021", "context relevance" for "C.R."), only those are read."""
    cells = row.split()
    if header is None:
        return " ".join(cells)
    *groups, bottom = header.split("\n")
    head = bottom.split()
    v = _value_cells(row)
    if v >= 1 and len(head) in (v, v + 1) and len(cells) > v:
        names = head[-v:]
        levels = [names]
        g = groups[-1].split() if groups else []
        if g and len(g) < v and v % len(g) == 0:
            levels.insert(0, [g[k * len(g) // v] for k in range(v)])
        label = " ".join(cells[: len(cells) - v])
        keep = _named_columns(levels, question, label) if question else range(v)
        values = cells[-v:]
        cols = [" ".join(level[k] for level in levels) for k in range(v)]
        return f"{label} — " + ", ".join(f"{cols[k]}: {values[k]}" for k in keep)
    return f"{' '.join(head)}: {' '.join(cells)}"


def _abbreviates(name: str, question: str, label: str = "") -> bool:
    """A column name that is the question's words, or their initials ("C.R." for "context
    relevance", "2021" for "in 2021"); the words that name the row do not count ("ARES
    reach" is no "A.R." in "What did ARES reach ...?" of the row "ARES Accuracy")."""
    if content_words(name) and content_words(name) <= content_words(question):
        return True
    letters = re.sub(r"[^A-Za-z]", "", name)
    if not (2 <= len(letters) <= 4 and "." in name and letters.isupper()):
        return False
    own = content_words(label)
    words = [w for w in re.findall(r"[A-Za-z]+", question.lower()) if not content_words(w) & own]
    return any("".join(w[0] for w in words[i : i + len(letters)]) == letters.lower() for i in range(len(words)))


def _named_columns(levels: list[list[str]], question: str, label: str) -> list[int]:
    """The columns the question names at every header level it names anything of; all of
    them when it names none (or every one)."""
    v = len(levels[0])
    keep = set(range(v))
    for level in levels:
        named = {k for k in range(v) if _abbreviates(level[k], question, label)}
        if named and len(named) < v:
            keep &= named
    return sorted(keep) if keep else list(range(v))


_MD_LINE = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+\u2022•][ \t]+)", re.M)
_MD_EMPHASIS = re.compile(r"(?<!\w)(\*\*|\*|`)(?=\S)(.+?)(?<=\S)\1(?!\w)")


def plain_text(text: str) -> str:
    """A quote as prose: Markdown heading, list and quote markers, emphasis and code marks
    removed ("### a.pdf\n- Title: *FIPS PUB 199*" -> "a.pdf Title: FIPS PUB 199"), spaces
    collapsed. Only the answer's wording changes; the citation keeps the page's exact text."""
    text = _MD_EMPHASIS.sub(r"\2", _MD_LINE.sub("", text))
    text = re.sub(r"(?<=\w)\s*\u2014\s*(?=\w)", " \u2014 ", text)  # "Functions—Identify" -> "Functions — Identify"
    # The PDF's "multi -tenant" -> "multi-tenant"; a command's options stay ("git tag -s -m").
    text = re.sub(r"(?<=[a-z]{4}) -(?=[a-z]{5})", "-", text)
    return " ".join(text.split())


_TABLE_CAPTION = re.compile(r"^\s*Table\s+\d+\s*[:.]", re.I)
_MAX_TABLE_CHARS = 3000
_SENTENCE_END = re.compile(r"(?<!\b[A-Z])(?<!\b[A-Z]\.[A-Z])[.!?]$")  # "... normally.", not "C.R. A.R."


def _line_spans(text: str) -> list[tuple[int, int]]:
    lines, pos = [], 0
    for line in text.split("\n"):
        lines.append((pos, pos + len(line)))
        pos += len(line) + 1
    return lines


def _is_fragment(line: str) -> bool:
    """A short piece of a table that is neither a row nor prose: a column name, a row label
    wrapped onto its own line ("Kendall's Tau for")."""
    return (
        0 < len(line.split()) <= 6
        and len(line) <= 60
        and re.search(r"[A-Za-z]", line) is not None
        and not line.endswith((".", "!", "?"))
    )


def caption_after(text: str, end: int) -> str:
    """The first line of the caption right below a table that ends at ``end`` ("Table 5:
    ARES Ranking on Real-World RAG Systems: ..."), or ""."""
    line = text[end:].lstrip("\n").split("\n", 1)[0]
    return line.strip() if _TABLE_CAPTION.match(line) else ""


def table_extent(page: str, start: int, end: int) -> tuple[int, int]:
    """The span of ``page`` to read a passage ``page[start:end]`` in, when it cuts a table of
    figures (rows of three numbers or more): the whole table, from the lines that name its columns to the first two lines of its
    caption ("Table 1: ..."), so that a row is read with its column names and a caption with
    its rows. A passage that cuts no table keeps its own span."""
    lines = _line_spans(page)
    texts = [page[s:e].strip() for s, e in lines]
    rows = [i for i, t in enumerate(texts) if _is_row(t) and sum(map(bool, map(_CELL_NUMBER.match, t.split()))) >= 3]
    lo, hi = start, end
    i = 0
    while i < len(rows):
        first = last = rows[i]
        j = i + 1
        # Rows, with up to two wrapped label lines between them, make one table.
        while j < len(rows) and rows[j] - last <= 3 and all(_is_fragment(texts[k]) for k in range(last + 1, rows[j])):
            last = rows[j]
            j += 1
        if j - i >= 2:
            top = first
            while (
                top > 0
                and first - top < 4
                and 0 < len(texts[top - 1]) <= 120
                and not _SENTENCE_END.search(texts[top - 1])
            ):
                top -= 1  # the lines that name the columns ("C.R. A.R. C.R. A.R.") and the title
            bottom = last
            if bottom + 1 < len(lines) and _TABLE_CAPTION.match(texts[bottom + 1]):
                bottom = min(len(lines) - 1, bottom + 2)
            s, e = lines[top][0], lines[bottom][1]
            if s < end and start < e and e - s <= _MAX_TABLE_CHARS:
                lo, hi = min(lo, s), max(hi, e)
        i = j
    return lo, hi
