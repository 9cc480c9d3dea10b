"""Loaders turn a file's bytes into cleaned pages. Each raises IngestError with a reason.

Loaders are pure in the sense that they take bytes and limits and return pages; the
pipeline runs them in a worker process so a hostile file cannot hang or exhaust the
main process.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ingest.clean import clean_text, strip_repeated_lines
from ingest.ocr import MIN_PAGE_CHARS, open_pdfium, page_has_image
from rag.errors import IngestError
from rag.types import Page

logger = logging.getLogger(__name__)

PDF_SUFFIXES = {".pdf"}
TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst"}
# Formats read by their own libraries (ingest/office.py, ingest/web.py, ingest/ocr.py).
OFFICE_SUFFIXES = {".docx", ".pptx", ".xlsx", ".xlsm", ".csv"}
WEB_SUFFIXES = {".html", ".htm", ".eml", ".mbox", ".epub"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
SUPPORTED_SUFFIXES = PDF_SUFFIXES | TEXT_SUFFIXES | OFFICE_SUFFIXES | WEB_SUFFIXES | IMAGE_SUFFIXES
_ZIP_SUFFIXES = {".docx", ".pptx", ".xlsx", ".xlsm"}


@dataclass(frozen=True)
class LoadLimits:
    max_bytes: int = 100 * 1024 * 1024
    max_pages: int = 5000
    max_page_chars: int = 200_000
    passwords: tuple[str, ...] = ()
    ocr: str = "auto"  # RAG_OCR: auto | off | rapidocr (ingest/ocr.py)


@dataclass
class Loaded:
    pages: list[Page]
    n_pages: int  # physical pages in the file (a PDF page may be empty)
    warnings: list[str]


def sniff(data: bytes) -> str:
    """A short description of what the bytes look like, for error messages.

    Signatures are matched exactly (case-sensitive, at the start), so a text file that
    merely begins with "GIF89a" or mentions "%PDF-" in its first lines is still text.
    """
    if not data:
        return "empty"
    head = data[:1024]
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n\f")
    if stripped.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf16"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")):
        return "image"
    low = stripped.lower()
    if low.startswith((b"<!doctype html", b"<html")) or b"<html" in low[:200]:
        return "html"
    if b"%PDF-" in head and not _is_utf8(data[:4096]):
        return "pdf"  # readers accept a PDF header after up to 1 KB of junk
    if b"\x00" in data[:4096]:
        return "binary"
    return "text"


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(data) - 3  # a character cut at the end of the sample is fine
    return True


def load_bytes(name: str, data: bytes, limits: LoadLimits) -> Loaded:
    """Dispatch on the file name's suffix and check the content matches it."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(
            name,
            f"unsupported file type '{suffix or 'none'}' "
            "(supported: PDF, TXT, MD, DOCX, PPTX, XLSX, CSV, HTML, EML, MBOX, EPUB, PNG, JPEG)",
        )
    if not data:
        raise IngestError(name, "empty file (0 bytes)")
    if len(data) > limits.max_bytes:
        raise IngestError(
            name,
            f"file is {len(data) / 1e6:.1f} MB, over the limit of {limits.max_bytes / 1e6:.0f} MB "
            "(raise RAG_MAX_FILE_MB to allow it)",
        )
    kind = sniff(data)
    if suffix in PDF_SUFFIXES:
        if kind != "pdf":
            raise IngestError(name, f"not a PDF: the file contains {_describe(kind)}")
        return load_pdf(name, data, limits)
    if suffix in _ZIP_SUFFIXES:
        from ingest import office

        if kind != "zip":
            raise IngestError(name, f"not a {suffix[1:].upper()} file: the file contains {_describe(kind)}")
        loader = {".docx": office.load_docx, ".pptx": office.load_pptx}.get(suffix, office.load_xlsx)
        return loader(name, data, limits)
    if suffix == ".epub":
        from ingest.archives import load_epub

        if kind != "zip":
            raise IngestError(name, f"not an EPUB file: the file contains {_describe(kind)}")
        return load_epub(name, data, limits)
    if suffix in IMAGE_SUFFIXES:
        from ingest.ocr import load_image

        if kind != "image":
            raise IngestError(name, f"not an image: the file contains {_describe(kind)}")
        return load_image(name, data, limits, _ocr(name, limits))
    if kind in ("pdf", "zip", "image", "binary", "utf16"):
        what = {".csv": "CSV", ".eml": "e-mail", ".mbox": "mbox"}.get(
            suffix, "HTML" if suffix in WEB_SUFFIXES else "text"
        )
        if kind == "utf16":
            raise IngestError(name, "UTF-16 text, not UTF-8: save it as UTF-8 and try again")
        raise IngestError(name, f"not a {what} file: the file contains {_describe(kind)}")
    if suffix == ".csv":
        from ingest.office import load_csv

        return load_csv(name, data, limits)
    if suffix in (".html", ".htm"):
        from ingest.web import load_html

        return load_html(name, data, limits)
    if suffix == ".eml":
        from ingest.web import load_eml

        return load_eml(name, data, limits)
    if suffix == ".mbox":
        from ingest.archives import load_mbox

        return load_mbox(name, data, limits)
    if kind == "utf16":
        raise IngestError(name, "UTF-16 text, not UTF-8: save it as UTF-8 and try again")
    if kind in ("pdf", "zip", "image", "binary"):
        raise IngestError(name, f"not a text file: the file contains {_describe(kind)}")
    return load_text(name, data, limits)


def _ocr(name: str, limits: LoadLimits):
    from ingest.ocr import OCR

    try:
        return OCR(limits.ocr)
    except ValueError as e:
        raise IngestError(name, str(e)) from None


def _describe(kind: str) -> str:
    return {
        "html": "HTML",
        "zip": "a ZIP archive (e.g. DOCX)",
        "image": "an image",
        "binary": "binary data",
        "text": "plain text",
        "pdf": "a PDF",
        "empty": "nothing",
        "utf16": "UTF-16 text",
    }.get(kind, kind)


def load_text(name: str, data: bytes, limits: LoadLimits) -> Loaded:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise IngestError(
            name,
            f"not valid UTF-8 text (invalid byte 0x{data[e.start]:02x} at offset {e.start}); "
            "save it as UTF-8 and try again",
        ) from None
    text = clean_text(text)
    if not text:
        raise IngestError(name, "no text: the file is empty or only whitespace")
    return Loaded(pages=[Page(1, text)], n_pages=1, warnings=[])


def load_pdf(name: str, data: bytes, limits: LoadLimits) -> Loaded:
    """Extract the text of each page. Limits: pages, characters per page; pypdf's own stream limits."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import FileNotDecryptedError, PdfReadError
    except ImportError as e:  # pragma: no cover - pypdf is a hard dependency
        raise IngestError(name, f"pypdf is not installed ({e})") from None
    try:
        from pypdf.errors import LimitReachedError
    except ImportError:  # pragma: no cover - pypdf < 5 has no safety limits of its own

        class LimitReachedError(Exception):  # type: ignore[no-redef]
            pass

    if not _has_eof_marker(data):
        raise IngestError(
            name, "truncated PDF: the end of the file is missing (no %%EOF marker); download or export it again"
        )
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            _decrypt(name, reader, limits.passwords)
        declared = _declared_pages(reader)
        if declared > limits.max_pages:
            raise IngestError(name, _too_many_pages(declared, limits))
        n_pages = len(reader.pages)
    except IngestError:
        raise
    except FileNotDecryptedError:
        raise IngestError(name, "encrypted PDF: password required (add it to RAG_PDF_PASSWORDS)") from None
    except LimitReachedError as e:
        raise IngestError(name, f"the PDF exceeds a safety limit of the reader ({_short(e)})") from None
    except RecursionError:
        raise IngestError(name, "malformed PDF: objects nest too deeply or refer to themselves") from None
    except Exception as e:  # noqa: BLE001 - pypdf raises many types on broken files
        if _caused_by(e, RecursionError):
            raise IngestError(name, "malformed PDF: objects nest too deeply or refer to themselves") from None
        if isinstance(e, (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError)):
            raise IngestError(name, f"corrupt PDF ({_short(e)})") from None
        raise
    if n_pages == 0:
        raise IngestError(name, "PDF has no pages")
    if n_pages > limits.max_pages:
        raise IngestError(name, _too_many_pages(n_pages, limits))
    pages: list[Page] = []
    warnings: list[str] = []
    failed = 0
    ocr = None  # created when a page needs it
    pdfium = None  # likewise: PDFium's reading of pages whose words pypdf ran together
    scanned = 0  # pages with an image and (almost) no text
    for i in range(n_pages):
        try:
            raw = reader.pages[i].extract_text() or ""
        except LimitReachedError:
            raise IngestError(
                name, f"page {i + 1} inflates beyond the reader's safety limit (possible decompression bomb)"
            ) from None
        except MemoryError:
            raise IngestError(name, f"page {i + 1} is too large to extract (possible decompression bomb)") from None
        except RecursionError:
            failed += 1
            warnings.append(f"page {i + 1}: malformed content (objects nest too deeply); page skipped")
            continue
        except Exception as e:  # noqa: BLE001 - pypdf raises many types on broken pages
            failed += 1
            warnings.append(f"page {i + 1}: could not extract text ({_short(e)}); page skipped")
            continue
        if len(raw) > limits.max_page_chars:
            warnings.append(f"page {i + 1}: text cut to {limits.max_page_chars} characters (RAG_MAX_PAGE_CHARS)")
            raw = raw[: limits.max_page_chars]
        text = clean_text(raw)
        if run_together(text):
            pdfium = pdfium if pdfium is not None else _PdfiumText(data, limits.passwords)
            text = pdfium.better(i, text, limits.max_page_chars)
        label = ""
        if len(text) < MIN_PAGE_CHARS and page_has_image(reader.pages[i]):
            scanned += 1
            ocr = ocr if ocr is not None else _ocr(name, limits)
            if ocr:
                found = _recognise_pdf_page(name, data, i, limits, ocr, warnings)
                if len(found) > len(text):
                    text, label = found, f"page {i + 1} (OCR)"
        if text:
            pages.append(Page(i + 1, text, label))
    if pdfium is not None:
        pdfium.close()
    if not pages:
        if failed == n_pages:
            raise IngestError(name, f"corrupt PDF: no page could be read ({warnings[0].split(': ', 1)[1]})")
        if scanned and ocr:
            raise IngestError(name, f"no text: the PDF has only images, and {ocr.name} recognised no text in them")
        raise IngestError(
            name,
            "no text layer — needs OCR (the PDF contains only images or scanned pages; "
            f"{ocr.why_not if ocr is not None else 'OCR found nothing to read'})",
        )
    texts = strip_repeated_lines([p.text for p in pages])
    if any(texts):  # a document of identical pages keeps its text
        pages = [Page(p.number, t, p.label) for p, t in zip(pages, texts) if t]
    return Loaded(pages=pages, n_pages=n_pages, warnings=warnings)


_LONG_RUN = re.compile(r"[^\W\d_]{20,}")  # 20 letters without a break: words run together
_LETTER = re.compile(r"[^\W\d_]")


def run_together(text: str) -> bool:
    """Whether a page's words look run together ("powerwithveryclearsyntax"): a PDF that
    spaces its words by glyph positions instead of space characters (common in CID fonts)
    is read by pypdf without the spaces. A fifth of the letters in 20-letter runs; English
    prose has none, and even long compounds stay far below."""
    letters = len(_LETTER.findall(text))
    return letters >= 200 and sum(len(m) for m in _LONG_RUN.findall(text)) >= 0.2 * letters


class _PdfiumText:
    """PDFium's text of pages, which places spaces by glyph positions; opened once per file."""

    def __init__(self, data: bytes, passwords: tuple[str, ...]) -> None:
        self.data, self.passwords, self.doc = data, passwords, None

    def better(self, index: int, text: str, max_chars: int) -> str:
        """PDFium's text of page ``index`` when it splits into clearly more words, else ``text``."""
        try:
            self.doc = self.doc if self.doc is not None else open_pdfium(self.data, self.passwords)
            page = self.doc[index]
            other = clean_text(page.get_textpage().get_text_range()[:max_chars])
        except Exception:  # noqa: BLE001 - PDFium raises its own errors; pypdf's text stands
            return text
        return other if len(other.split()) >= 1.3 * len(text.split()) else text

    def close(self) -> None:
        if self.doc is not None:
            self.doc.close()


def _recognise_pdf_page(name: str, data: bytes, i: int, limits: LoadLimits, ocr, warnings: list[str]) -> str:
    """The OCR text of page ``i`` (0-based), rendered by PDFium; "" with a warning if it fails."""
    from ingest.ocr import render_pdf_page

    try:
        image = render_pdf_page(data, i, limits.passwords)
    except MemoryError:
        raise IngestError(name, f"page {i + 1} is too large to render for OCR (possible decompression bomb)") from None
    except Exception as e:  # noqa: BLE001 - PDFium raises its own errors on broken pages
        warnings.append(f"page {i + 1}: could not be rendered for OCR ({_short(e)})")
        return ""
    return clean_text(ocr.recognise(image))[: limits.max_page_chars]


def _has_eof_marker(data: bytes) -> bool:
    """True if ``%%EOF`` is within the last 1024 bytes, where readers such as Acrobat require it."""
    return b"%%EOF" in data.rstrip(b"\x00\t\n\r\f ")[-1024:]


def _declared_pages(reader) -> int:
    """The page count the file declares (``/Root /Pages /Count``), read before walking the page tree."""
    try:
        return int(reader.trailer["/Root"]["/Pages"]["/Count"])
    except Exception:  # noqa: BLE001 - missing or malformed: the page tree walk decides
        return 0


def _too_many_pages(n: int, limits: LoadLimits) -> str:
    return f"PDF has {n} pages, over the limit of {limits.max_pages} (raise RAG_MAX_PAGES to allow it)"


def _caused_by(e: BaseException, kind: type[BaseException]) -> bool:
    seen = 0
    cur: BaseException | None = e
    while cur is not None and seen < 20:
        if isinstance(cur, kind):
            return True
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return False


def _decrypt(name: str, reader, passwords: tuple[str, ...]) -> None:
    for pw in ("", *passwords):
        try:
            if reader.decrypt(pw):
                return
        except Exception as e:  # noqa: BLE001
            if type(e).__name__ == "DependencyError":  # AES needs an optional package
                raise IngestError(
                    name,
                    "encrypted PDF (AES): install the 'cryptography' package to open it (pip install cryptography)",
                ) from None
            raise IngestError(name, f"encrypted PDF that cannot be opened ({_short(e)})") from None
    if passwords:
        raise IngestError(name, "encrypted PDF: none of the passwords in RAG_PDF_PASSWORDS opens it")
    raise IngestError(name, "encrypted PDF: password required (add it to RAG_PDF_PASSWORDS)")


def _short(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return msg[:160]
