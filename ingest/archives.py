"""E-books and mailboxes as located pages.

- EPUB (a ZIP of XHTML chapters, checked by ingest/safety.py before anything is parsed):
  the chapters in the reading order of the book's spine (its OPF package file), each read
  as HTML (ingest/web.py), one page per chapter, located as "chapter 3 'The Time Traveller'"
  (its first heading).
- MBOX (messages one after another, each starting with a "From " line): one page per
  message, read as an EML file is (subject, sender, recipients and date, then the body;
  attachments named), located as "message 4 'Subject'".
"""

from __future__ import annotations

import email
import email.policy
import posixpath
import re
import zipfile

from ingest.office import Pages, _short
from ingest.safety import open_zip
from ingest.web import _decode, html_events, message_text
from rag.errors import IngestError

_CONTAINER = "META-INF/container.xml"
_XHTML_TYPES = {"application/xhtml+xml", "text/html"}
_OPF = "{http://www.idpf.org/2007/opf}"


def load_epub(name: str, data: bytes, limits):
    from ingest.loaders import Loaded

    zf = open_zip(name, data, "EPUB", strict_xml=False)
    chapters = _spine(name, zf)
    if not chapters:
        raise IngestError(name, "not an EPUB book: it holds no XHTML chapters")
    out = Pages(name, limits, "chapters")
    for number, part in enumerate(chapters, 1):
        try:
            html = _decode(name, zf.read(part))
        except KeyError:
            out.warnings.append(f"chapter {number}: '{part[:80]}' is listed but missing; skipped")
            continue
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as e:
            raise IngestError(name, f"corrupt EPUB part '{part[:80]}' ({str(e)[:120]})") from None
        try:
            events = html_events(html)
        except RecursionError:
            raise IngestError(name, f"malformed chapter '{part[:80]}': elements nest too deeply") from None
        except ValueError as e:
            raise IngestError(name, f"chapter '{part[:80]}' too large to read ({e})") from None
        heading = next((text for kind, text in events if kind == "heading" and text), "")
        text = "\n\n".join(text for _, text in events)
        out.add(text, f"chapter {number} '{_short(heading)}'" if heading else f"chapter {number}")
    if not out.pages:
        raise IngestError(name, "no text: the book's chapters have no readable text")
    return Loaded(pages=out.pages, n_pages=out.count, warnings=out.warnings)


def _spine(name: str, zf: zipfile.ZipFile) -> list[str]:
    """The chapters' part names in reading order: the OPF spine, else every XHTML part by name."""
    from defusedxml import ElementTree

    names = set(zf.namelist())
    if _CONTAINER not in names:
        raise IngestError(name, f"not an EPUB book: no {_CONTAINER} (is it another kind of ZIP file?)")
    try:
        container = ElementTree.fromstring(zf.read(_CONTAINER))
        rootfile = next(
            (e.get("full-path") for e in container.iter() if e.tag.endswith("rootfile") and e.get("full-path")), None
        )
        if rootfile is None or rootfile not in names:
            raise ValueError("no package file")
        opf = ElementTree.fromstring(zf.read(rootfile))
    except Exception as e:  # noqa: BLE001 - defusedxml and ElementTree raise several kinds
        if "Forbidden" in type(e).__name__ or "Entities" in type(e).__name__:
            raise IngestError(name, "EPUB file declares XML entities: refused") from None
        return sorted(n for n in names if re.search(r"\.x?html?$", n, re.I))
    base = posixpath.dirname(rootfile)
    manifest = {
        item.get("id"): (posixpath.normpath(posixpath.join(base, item.get("href", ""))), item.get("media-type", ""))
        for item in opf.iter(_OPF + "item")
    }
    order = []
    for ref in opf.iter(_OPF + "itemref"):
        href, media = manifest.get(ref.get("idref"), ("", ""))
        if href and media in _XHTML_TYPES and href not in order:
            order.append(href)
    return order or sorted(n for n in names if re.search(r"\.x?html?$", n, re.I))


_FROM_LINE = re.compile(rb"(?m)^From [^\r\n]*\r?\n")


def load_mbox(name: str, data: bytes, limits):
    from ingest.loaders import Loaded

    if not data.startswith(b"From "):
        raise IngestError(name, "not an mbox mailbox: it does not start with a 'From ' line")
    out = Pages(name, limits, "messages")
    raw = [m for m in _FROM_LINE.split(data) if m.strip()]
    for number, blob in enumerate(raw, 1):
        blob = re.sub(rb"(?m)^>(>*From )", rb"\1", blob)  # mboxrd: ">From " in a body was "From "
        try:
            msg = email.message_from_bytes(blob, policy=email.policy.default)
            text, subject = message_text(name, msg)
        except IngestError as e:
            out.warnings.append(f"message {number}: {e.reason}; skipped")
            out.count += 1
            continue
        except Exception as e:  # noqa: BLE001 - the email package raises many types on broken input
            out.warnings.append(f"message {number}: malformed ({type(e).__name__}); skipped")
            out.count += 1
            continue
        out.add(text, f"message {number} '{_short(subject)}'" if subject else f"message {number}")
    if not out.pages:
        raise IngestError(name, "no text: the mailbox holds no readable message")
    return Loaded(pages=out.pages, n_pages=out.count, warnings=out.warnings)
