"""Loaders turn a file's bytes into cleaned pages. Each raises IngestError with a reason.

Loaders are pure in the sense that they take bytes and limits and return pages; the
pipeline runs them in a worker process so a hostile file cannot hang or exhaust the
main process.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

from ingest.clean import clean_text
from rag.errors import IngestError
from rag.types import Page

logger = logging.getLogger(__name__)

PDF_SUFFIXES = {".pdf"}
TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst"}
SUPPORTED_SUFFIXES = PDF_SUFFIXES | TEXT_SUFFIXES


@dataclass(frozen=True)
class LoadLimits:
    max_bytes: int = 100 * 1024 * 1024
    max_pages: int = 5000
    max_page_chars: int = 200_000
    passwords: tuple[str, ...] = ()


@dataclass
class Loaded:
    pages: list[Page]
    n_pages: int  # physical pages in the file (a PDF page may be empty)
    warnings: list[str]


def sniff(data: bytes) -> str:
    """A short description of what the bytes look like, for error messages."""
    head = data[:1024].lstrip().lower()
    if not data:
        return "empty"
    if head.startswith(b"%pdf") or b"%pdf-" in data[:1024]:
        return "pdf"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:200]:
        return "html"
    if head.startswith(b"pk\x03\x04"):
        return "zip"
    if head.startswith((b"\x89png", b"\xff\xd8\xff", b"gif8")):
        return "image"
    if b"\x00" in data[:4096]:
        return "binary"
    return "text"


def load_bytes(name: str, data: bytes, limits: LoadLimits) -> Loaded:
    """Dispatch on the file name's suffix and check the content matches it."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(name, f"unsupported file type '{suffix or 'none'}' (supported: PDF, TXT, MD)")
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
    if kind in ("pdf", "zip", "image", "binary"):
        raise IngestError(name, f"not a text file: the file contains {_describe(kind)}")
    return load_text(name, data, limits)


def _describe(kind: str) -> str:
    return {
        "html": "HTML",
        "zip": "a ZIP archive (e.g. DOCX)",
        "image": "an image",
        "binary": "binary data",
        "text": "plain text",
        "pdf": "a PDF",
        "empty": "nothing",
    }.get(kind, kind)


def load_text(name: str, data: bytes, limits: LoadLimits) -> Loaded:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise IngestError(
            name, f"not valid UTF-8 text (invalid byte 0x{data[e.start]:02x} at offset {e.start}); "
            "save it as UTF-8 and try again"
        ) from None
    text = clean_text(text)
    if not text:
        raise IngestError(name, "no text: the file is empty or only whitespace")
    return Loaded(pages=[Page(1, text)], n_pages=1, warnings=[])


def load_pdf(name: str, data: bytes, limits: LoadLimits) -> Loaded:
    try:
        from pypdf import PdfReader
        from pypdf.errors import FileNotDecryptedError, PdfReadError
    except ImportError as e:  # pragma: no cover - pypdf is a hard dependency
        raise IngestError(name, f"pypdf is not installed ({e})") from None

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            _decrypt(name, reader, limits.passwords)
        n_pages = len(reader.pages)
    except IngestError:
        raise
    except FileNotDecryptedError:
        raise IngestError(name, "encrypted PDF: password required (add it to RAG_PDF_PASSWORDS)") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as e:
        raise IngestError(name, f"corrupt or truncated PDF ({_short(e)})") from None
    except RecursionError:
        raise IngestError(name, "malformed PDF: object references nest too deeply or loop") from None
    if n_pages == 0:
        raise IngestError(name, "PDF has no pages")
    if n_pages > limits.max_pages:
        raise IngestError(
            name, f"PDF has {n_pages} pages, over the limit of {limits.max_pages} (raise RAG_MAX_PAGES)"
        )
    pages: list[Page] = []
    warnings: list[str] = []
    failed = 0
    for i in range(n_pages):
        try:
            raw = reader.pages[i].extract_text() or ""
        except RecursionError:
            failed += 1
            warnings.append(f"page {i + 1}: malformed content (references nest too deeply)")
            continue
        except MemoryError:
            raise IngestError(name, f"page {i + 1} is too large to extract (possible decompression bomb)") from None
        except Exception as e:  # noqa: BLE001 - pypdf raises many types on broken pages
            failed += 1
            warnings.append(f"page {i + 1}: could not extract text ({_short(e)})")
            continue
        if len(raw) > limits.max_page_chars:
            warnings.append(f"page {i + 1}: text cut to {limits.max_page_chars} characters")
            raw = raw[: limits.max_page_chars]
        text = clean_text(raw)
        if text:
            pages.append(Page(i + 1, text))
    if not pages:
        if failed == n_pages:
            raise IngestError(name, "corrupt PDF: no page could be read")
        raise IngestError(
            name,
            "no text layer — needs OCR (the PDF contains only images or scanned pages; "
            "OCR is not available in this installation)",
        )
    return Loaded(pages=pages, n_pages=n_pages, warnings=warnings)


def _decrypt(name: str, reader, passwords: tuple[str, ...]) -> None:
    for pw in ("", *passwords):
        try:
            if reader.decrypt(pw):
                return
        except Exception as e:  # noqa: BLE001
            raise IngestError(name, f"encrypted PDF that cannot be opened ({_short(e)})") from None
    if passwords:
        raise IngestError(name, "encrypted PDF: none of the passwords in RAG_PDF_PASSWORDS opens it")
    raise IngestError(name, "encrypted PDF: password required (add it to RAG_PDF_PASSWORDS)")


def _short(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return msg[:160]
