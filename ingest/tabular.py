"""Tables as text that reads like a PDF's table: a header line, then one line per row.

Spreadsheets, CSV files and the tables of Word and HTML documents all pass through
:func:`table_text`, so that a row question is answered the way it is for a PDF table
(rag/answer/tables.py reads a line of cells split by spaces under the line that names
the columns: "Animal 2020 2021" over "Hermit crab 405 389"). Pure functions.
"""

from __future__ import annotations

import datetime as dt
import re

_SPACES = re.compile(r"\s+")
MAX_CELL_CHARS = 200


def cell_text(value: object) -> str:
    """One cell as text: numbers without a spurious ".0", dates as ISO dates, spaces collapsed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.10g}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    text = _SPACES.sub(" ", str(value)).strip()
    return text[:MAX_CELL_CHARS]


def header_cell(text: str) -> str:
    """A column name as one word ("Unit cost" -> "Unit-cost"), so that each name of the
    header line stands over one cell of the rows below it."""
    return "-".join(text.split()) or "-"


def trim(rows: list[list[str]]) -> list[list[str]]:
    """Drop empty rows and the empty columns at the right of every row."""
    out = [r for r in rows if any(c for c in r)]
    width = max((max((i + 1 for i, c in enumerate(r) if c), default=0) for r in out), default=0)
    return [[*r[:width], *[""] * (width - len(r))] for r in out]


def table_text(header: list[str] | None, rows: list[list[str]]) -> str:
    """The header line (its names joined into one word each) and one line per row, cells
    split by spaces, an empty cell as "-"."""
    lines = []
    if header:
        lines.append(" ".join(header_cell(c) for c in header))
    for r in rows:
        lines.append(" ".join(c or "-" for c in r))
    return "\n".join(lines)


def looks_like_header(row: list[str], below: list[list[str]]) -> bool:
    """Whether ``row``, a table's first, names its columns: some cell of it is a name (not a
    number) and at least half of its cells are filled. Years are names here ("Animal 2020
    2021"): a sheet nearly always begins with its column names."""
    cells = [c for c in row if c]
    if not cells or len(cells) < 0.5 * len(row):
        return False
    return any(not _is_number(c) for c in cells) and (not below or len(row) > 1)


def _is_number(text: str) -> bool:
    return re.fullmatch(r"[-+$€£(]?\d[\d,.:]*%?\)?", text) is not None
