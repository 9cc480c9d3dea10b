"""Word, PowerPoint, Excel and CSV files as located pages, through their own libraries.

- DOCX (python-docx): paragraphs, headings and tables in document order; one page per
  page of the file where it records page breaks (Word's rendered breaks, else explicit
  ones), else one per section under a heading ("section 'Travel'").
- PPTX (python-pptx): one page per slide ("slide 7"), its title, text, tables and
  speaker notes.
- XLSX (openpyxl, cached values, never formulas) and CSV (csv): one page per sheet, or
  per block of rows of a long one ("sheet 'Budget' rows 2-31"), each block under the
  sheet's header line so that its rows read as table rows (ingest/tabular.py).

Every archive is checked by ingest/safety.py before a library opens it.
"""

from __future__ import annotations

import csv
import io
import logging

from ingest.clean import clean_text, strip_repeated_lines
from ingest.safety import open_zip
from ingest.tabular import cell_text, looks_like_header, table_text, trim
from rag.errors import IngestError
from rag.types import Page

logger = logging.getLogger(__name__)

BLOCK_CHARS = 700  # a block of a sheet's rows: about one chunk, so each chunk has its header
MAX_COLUMNS = 100
MAX_CELLS = 2_000_000

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class Pages:
    """Collects located pages under the loader's limits."""

    def __init__(self, name: str, limits, what: str = "pages") -> None:
        self.name, self.limits, self.what = name, limits, what
        self.pages: list[Page] = []
        self.warnings: list[str] = []
        self.count = 0  # locations seen, empty ones included

    def add(self, text: str, label: str = "") -> None:
        self.count += 1
        if self.count > self.limits.max_pages:
            raise IngestError(
                self.name,
                f"file has over {self.limits.max_pages} {self.what}, over the limit (raise RAG_MAX_PAGES to allow it)",
            )
        if len(text) > self.limits.max_page_chars:
            self.warnings.append(
                f"{label or f'page {self.count}'}: text cut to {self.limits.max_page_chars} characters (RAG_MAX_PAGE_CHARS)"
            )
            text = text[: self.limits.max_page_chars]
        text = clean_text(text)
        if text:
            self.pages.append(Page(self.count, text, label))


class Sections:
    """Splits a stream of headings and text into pages, one per section: "section 'Travel'".

    A heading starts a new section once the current one has text under its heading (a
    chapter title right above its first sub-heading stays with it); text before the first
    heading is the "beginning". A document without headings is one page."""

    def __init__(self, out: Pages) -> None:
        self.out = out
        self.parts: list[str] = []
        self.label = ""
        self.has_body = False
        self.any_heading = False

    def heading(self, text: str) -> None:
        if not text.strip():
            return
        self.any_heading = True
        if self.has_body:
            self.flush()
        self.label = f"section '{_short(text)}'"
        self.parts.append(text)

    def text(self, text: str) -> None:
        if text.strip():
            self.has_body = True
            self.parts.append(text)

    def flush(self) -> None:
        if self.parts:
            label = self.label or ("beginning" if self.any_heading else "")
            self.out.add("\n".join(self.parts), label)
        self.parts, self.has_body = [], False

    def finish(self) -> None:
        self.flush()  # without any heading: one page, "page 1"


# -- DOCX -------------------------------------------------------------------------------
def load_docx(name: str, data: bytes, limits):
    from ingest.loaders import Loaded

    open_zip(name, data, "DOCX")
    try:
        import docx
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = docx.Document(io.BytesIO(data))
        blocks = list(document.iter_inner_content())
    except IngestError:
        raise
    except Exception as e:  # noqa: BLE001 - python-docx raises many types on broken files
        raise IngestError(name, f"corrupt DOCX file ({type(e).__name__}: {str(e)[:120]})") from None
    body = document.element.body
    rendered = any(True for _ in body.iter(f"{_W}lastRenderedPageBreak"))
    explicit = any(_is_page_break(el) for el in body.iter(f"{_W}br", f"{_W}pageBreakBefore"))
    by_page = rendered or explicit
    out = Pages(name, limits, "pages" if by_page else "sections")
    parts: list[str] = []  # the text of the current page
    sections = Sections(out)
    for block in blocks:
        if isinstance(block, Table):
            if by_page:
                parts.append(_docx_table(block))
            else:
                sections.text(_docx_table(block))
        elif isinstance(block, Paragraph) and by_page:
            for k, piece in enumerate(_split_at_breaks(block._p, rendered)):
                if k:
                    out.add("\n".join(parts))
                    parts = []
                parts.append(piece)
        elif isinstance(block, Paragraph):
            (sections.heading if _heading_level(block) else sections.text)(block.text)
    if by_page:
        out.add("\n".join(parts))
    else:
        sections.finish()
    if not out.pages:
        raise IngestError(name, "no text: the document is empty")
    return Loaded(pages=out.pages, n_pages=out.count, warnings=out.warnings)


def _is_page_break(el) -> bool:
    if el.tag == f"{_W}pageBreakBefore":
        return el.get(f"{_W}val", "true") not in ("0", "false", "off")
    return el.get(f"{_W}type") == "page"


def _split_at_breaks(p, rendered: bool) -> list[str]:
    """A paragraph's text, split where a new page begins (Word's rendered page breaks when
    the file has them, else explicit breaks and 'page break before')."""
    pieces = [""]
    ppr = p.find(f"{_W}pPr")
    if not rendered and ppr is not None:
        before = ppr.find(f"{_W}pageBreakBefore")
        if before is not None and _is_page_break(before):
            pieces.append("")
    for el in p.iter(f"{_W}t", f"{_W}tab", f"{_W}br", f"{_W}cr", f"{_W}lastRenderedPageBreak"):
        tag = el.tag[len(_W) :]
        if tag == "t":
            pieces[-1] += el.text or ""
        elif tag == "tab":
            pieces[-1] += "\t"
        elif tag == "lastRenderedPageBreak":
            if rendered:
                pieces.append("")
        elif tag == "br" and el.get(f"{_W}type") == "page":
            if not rendered:
                pieces.append("")
        else:
            pieces[-1] += "\n"
    return pieces


def _heading_level(paragraph) -> int:
    try:
        style = (paragraph.style.name or "") if paragraph.style is not None else ""
    except Exception:  # noqa: BLE001 - a style the file refers to but lacks
        style = ""
    if style == "Title":
        return 1
    if style.startswith("Heading"):
        digits = style[len("Heading") :].strip()
        return int(digits) if digits.isdigit() else 1
    return 0


def _docx_table(table) -> str:
    rows: list[list[str]] = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is listed once per column it spans
                continue
            seen.add(id(cell._tc))
            cells.append(cell_text(cell.text))
        rows.append(cells[:MAX_COLUMNS])
    return _table(rows)


def _table(rows: list[list[str]]) -> str:
    rows = trim(rows)
    if not rows:
        return ""
    if looks_like_header(rows[0], rows[1:]):
        return table_text(rows[0], rows[1:])
    return table_text(None, rows)


def _short(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# -- PPTX -------------------------------------------------------------------------------
def load_pptx(name: str, data: bytes, limits):
    from ingest.loaders import Loaded

    open_zip(name, data, "PPTX")
    try:
        from pptx import Presentation

        slides = list(Presentation(io.BytesIO(data)).slides)
    except IngestError:
        raise
    except Exception as e:  # noqa: BLE001 - python-pptx raises many types on broken files
        raise IngestError(name, f"corrupt PPTX file ({type(e).__name__}: {str(e)[:120]})") from None
    out = Pages(name, limits, "slides")
    texts: list[tuple[str, str]] = []
    for i, slide in enumerate(slides, 1):
        title = slide.shapes.title
        parts = [title.text_frame.text] if title is not None and title.has_text_frame else []
        for shape in _shapes(slide.shapes):
            if title is not None and shape.shape_id == title.shape_id:
                continue
            if getattr(shape, "has_table", False) and shape.has_table:
                rows = [[cell_text(c.text) for c in r.cells][:MAX_COLUMNS] for r in shape.table.rows]
                parts.append(_table(rows))
            elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                parts.append(shape.text_frame.text)
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None and notes.text.strip():
                parts.append("Speaker notes: " + notes.text)
        texts.append(("\n".join(p for p in parts if p.strip()), f"slide {i}"))
    # A footer on every slide ("Acme — Confidential") is noise in every chunk.
    cleaned = strip_repeated_lines([clean_text(t) for t, _ in texts])
    for (_, label), text in zip(texts, cleaned):
        out.add(text, label)
    if not out.pages:
        raise IngestError(name, "no text: the presentation has no text on any slide")
    return Loaded(pages=out.pages, n_pages=out.count, warnings=out.warnings)


def _shapes(shapes):
    """Every shape, those inside groups included, top to bottom then left to right."""
    flat = []
    for shape in shapes:
        if getattr(shape, "shape_type", None) is not None and hasattr(shape, "shapes"):
            flat.extend(_shapes(shape.shapes))
        else:
            flat.append(shape)
    return sorted(flat, key=lambda s: ((s.top or 0) // 10_000, s.left or 0))


# -- XLSX and CSV -----------------------------------------------------------------------
def load_xlsx(name: str, data: bytes, limits):
    from ingest.loaders import Loaded

    open_zip(name, data, "XLSX")
    try:
        import openpyxl

        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except IngestError:
        raise
    except Exception as e:  # noqa: BLE001 - openpyxl raises many types on broken files
        raise IngestError(name, f"corrupt XLSX file ({type(e).__name__}: {str(e)[:120]})") from None
    out = Pages(name, limits, "pages (blocks of rows)")
    cells = 0
    try:
        for ws in wb.worksheets:
            rows: list[tuple[int, list[str]]] = []
            for n, values in enumerate(ws.iter_rows(min_row=1, values_only=True), 1):
                cells += len(values)
                if cells > MAX_CELLS:
                    raise IngestError(name, f"the workbook has over {MAX_CELLS:,} cells, over the limit")
                row = [cell_text(v) for v in values[:MAX_COLUMNS]]
                if any(row):
                    rows.append((n, row))
            sheet_blocks(out, f"sheet '{ws.title}'", rows)
    finally:
        wb.close()
    if not out.pages:
        raise IngestError(name, "no text: every sheet is empty")
    return Loaded(pages=out.pages, n_pages=out.count, warnings=out.warnings)


def load_csv(name: str, data: bytes, limits):
    from ingest.loaders import Loaded

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise IngestError(
            name, f"not valid UTF-8 text (invalid byte 0x{data[e.start]:02x} at offset {e.start}); save it as UTF-8"
        ) from None
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    out = Pages(name, limits, "pages (blocks of rows)")
    rows: list[tuple[int, list[str]]] = []
    try:
        for n, values in enumerate(csv.reader(io.StringIO(text), dialect), 1):
            row = [cell_text(v) for v in values[:MAX_COLUMNS]]
            if any(row):
                rows.append((n, row))
            if len(rows) * max(1, len(row)) > MAX_CELLS:
                raise IngestError(name, f"the file has over {MAX_CELLS:,} cells, over the limit")
    except csv.Error as e:
        raise IngestError(name, f"malformed CSV ({e})") from None
    sheet_blocks(out, "", rows)
    if not out.pages:
        raise IngestError(name, "no text: the file is empty or only separators")
    return Loaded(pages=out.pages, n_pages=out.count, warnings=out.warnings)


def sheet_blocks(out: Pages, sheet: str, rows: list[tuple[int, list[str]]]) -> None:
    """Add a sheet's rows (sheet row number, cells) as pages: the header line, then blocks
    of rows of about BLOCK_CHARS each, every block under the header again. A sheet that
    fits in one block is one page named by the sheet alone."""
    if not rows:
        return
    width = max(len(r) for _, r in rows)
    rows = [(n, [*r, *[""] * (width - len(r))]) for n, r in rows]
    grid = trim([r for _, r in rows])
    rows = [(n, g) for (n, _), g in zip(rows, grid)]
    header = rows[0][1] if looks_like_header(rows[0][1], [r for _, r in rows[1:]]) else None
    body = rows[1:] if header else rows
    if not body:
        out.add(table_text(None, [header]) if header else "", sheet)
        return
    blocks: list[list[tuple[int, list[str]]]] = [[]]
    size = 0
    for n, row in body:
        line = len(table_text(None, [row])) + 1
        if blocks[-1] and size + line > BLOCK_CHARS:
            blocks.append([])
            size = 0
        blocks[-1].append((n, row))
        size += line
    for block in blocks:
        text = table_text(header, [r for _, r in block])
        span = f"rows {block[0][0]}-{block[-1][0]}" if len(block) > 1 else f"row {block[0][0]}"
        if len(blocks) == 1 and sheet:
            label = sheet
        else:
            label = f"{sheet} {span}".strip()
        out.add(text, label)
