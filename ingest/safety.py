"""Checks run on a container file before any library parses it (pure functions).

DOCX, PPTX, XLSX and EPUB files are ZIP archives of XML parts. A hostile one is small
on disk and huge once inflated (a zip bomb), holds thousands of parts, or declares XML
entities that expand into gigabytes (the "billion laughs"). Office documents never
declare a DTD, so any part that does is refused before a parser sees it. The worker's
memory and time limits (ingest/extract.py) stay the backstop.
"""

from __future__ import annotations

import io
import re
import zipfile

from rag.errors import IngestError

MAX_UNZIPPED_BYTES = 512 * 1024 * 1024  # all parts together, inflated
MAX_PART_BYTES = 128 * 1024 * 1024  # one part, inflated
MAX_RATIO = 200  # inflated / compressed size of a part larger than 1 MB
MAX_PARTS = 10_000
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.I)
# XHTML (EPUB chapters) may name its DOCTYPE; entities and internal subsets are refused all the same.
_ENTITIES = re.compile(rb"<!ENTITY|<!DOCTYPE[^>\[]*\[|<!DOCTYPE[^>]*\bSYSTEM\b", re.I)
_XML_PART = re.compile(r"\.(?:xml|rels|xhtml|html?|opf|ncx|vml)$", re.I)


def open_zip(name: str, data: bytes, kind: str, strict_xml: bool = True) -> zipfile.ZipFile:
    """The archive, once its sizes and its XML parts have been checked; IngestError otherwise."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as e:
        raise IngestError(name, f"corrupt {kind} file: not a readable ZIP archive ({str(e)[:120]})") from None
    if len(infos) > MAX_PARTS:
        raise IngestError(
            name, f"{kind} file has {len(infos)} parts, over the limit of {MAX_PARTS} (possible zip bomb)"
        )
    total = 0
    for info in infos:
        size = info.file_size
        total += size
        if size > MAX_PART_BYTES or (size > 1 << 20 and size > MAX_RATIO * max(1, info.compress_size)):
            raise IngestError(
                name,
                f"{kind} part '{info.filename[:80]}' inflates to {size / 1e6:.0f} MB from "
                f"{info.compress_size / 1e3:.0f} KB (zip bomb)",
            )
        if total > MAX_UNZIPPED_BYTES:
            raise IngestError(name, f"{kind} file inflates to over {MAX_UNZIPPED_BYTES / 1e6:.0f} MB (zip bomb)")
    for info in infos:
        if _XML_PART.search(info.filename) and not info.is_dir():
            check_xml(name, _head(name, zf, info), kind, info.filename, strict_xml)
    return zf


def _head(name: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo, n: int = 4096) -> bytes:
    """The first bytes of a part, where an XML prolog declares its DTD."""
    try:
        with zf.open(info) as f:
            return f.read(n)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as e:
        raise IngestError(name, f"corrupt part '{info.filename[:80]}' ({str(e)[:120]})") from None


def check_xml(name: str, head: bytes, kind: str, part: str = "", strict: bool = True) -> None:
    """Refuse an XML document that declares entities (billion laughs, external entities);
    with ``strict`` (Office files, which never have one), any DTD."""
    if (_DTD if strict else _ENTITIES).search(head):
        where = f" (part '{part[:80]}')" if part else ""
        raise IngestError(
            name,
            f"{kind} file declares XML entities{where}: refused, as a billion-laughs or external-entity attack",
        )
