"""Saved web pages, exported wikis and e-mail as located pages.

- HTML (BeautifulSoup over the standard library's html.parser): the main text (``<main>``
  or the largest ``<article>`` when there is one; scripts, styles, navigation, headers,
  footers and forms left out), headings, lists and tables, one page per section under
  a heading ("section 'Install'").
- EML (the standard library's email package): one page per message, its subject, sender,
  recipients and date at the top of the text, then the plain body (or the HTML body as
  text); attachments are named, not read. Located as "message 'Subject'". (Mailboxes and
  e-books: ingest/archives.py.)
"""

from __future__ import annotations

import email
import email.policy
import logging

from ingest.office import Pages, Sections, _short, _table
from ingest.tabular import MAX_CELL_CHARS, cell_text
from rag.errors import IngestError

logger = logging.getLogger(__name__)

_SKIP = {
    "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed",
    "nav", "header", "footer", "aside", "form", "button", "select", "head",
}  # fmt: skip
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCKS = {
    "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "pre", "blockquote",
    "figure", "figcaption", "hr", "address", "details", "summary", "body", "html", "caption",
}  # fmt: skip
MAX_HTML_ELEMENTS = 500_000


def html_events(html: str) -> list[tuple[str, str]]:
    """The page's reading order as ("heading" | "text", text) events (pure)."""
    from bs4 import BeautifulSoup, Comment, Doctype, NavigableString, ProcessingInstruction

    soup = BeautifulSoup(html, "html.parser")
    root = _main(soup)
    events: list[tuple[str, str]] = []
    buf: list[str] = []

    def flush() -> None:
        text = "".join(buf).strip()
        buf.clear()
        if text:
            events.append(("text", text))

    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    # An explicit stack, not recursion: a page may nest elements thousands deep.
    stack: list = [iter(root.children)]
    closing: list[str | None] = [None]
    seen = 0
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            if closing.pop() is not None:
                flush()
            continue
        seen += 1
        if seen > MAX_HTML_ELEMENTS:
            raise ValueError(f"over {MAX_HTML_ELEMENTS:,} elements")
        if isinstance(node, (Comment, Doctype, ProcessingInstruction)):
            continue
        if isinstance(node, NavigableString):
            buf.append(str(node))
            continue
        tag = node.name
        if tag in _SKIP or node.get("hidden") is not None or node.get("aria-hidden") == "true":
            continue
        if tag == "br":
            buf.append("\n")
        elif tag in _HEADINGS:
            flush()
            events.append(("heading", node.get_text(" ", strip=True)))
        elif tag == "table":
            flush()
            rows = [
                [cell_text(c.get_text(" ", strip=True))[:MAX_CELL_CHARS] for c in tr.find_all(["th", "td"])]
                for tr in node.find_all("tr")
            ]
            events.append(("text", _table(rows)))
        elif tag in _BLOCKS:
            flush()
            if tag == "li":
                buf.append("- ")
            stack.append(iter(node.children))
            closing.append(tag)
        else:
            stack.append(iter(node.children))
            closing.append(None)
    flush()
    if title and not any(kind == "heading" for kind, _ in events[:1]):
        events.insert(0, ("heading", title))
    return events


def _main(soup):
    """The element that holds the page's own text: <main>, else its largest <article>, else <body>."""
    main = soup.find("main") or soup.find(attrs={"role": "main"})
    if main is not None:
        return main
    articles = soup.find_all("article")
    if articles:
        return max(articles, key=lambda a: len(a.get_text()))
    return soup.body or soup


def load_html(name: str, data: bytes, limits):
    from ingest.loaders import Loaded

    html = _decode(name, data)
    try:
        events = html_events(html)
    except RecursionError:
        raise IngestError(name, "malformed HTML: elements nest too deeply") from None
    except ValueError as e:
        raise IngestError(name, f"HTML page too large to read ({e})") from None
    out = Pages(name, limits, "sections")
    sections = Sections(out)
    for kind, text in events:
        (sections.heading if kind == "heading" else sections.text)(text)
    sections.finish()
    if not out.pages:
        raise IngestError(name, "no text: the page has no readable text (scripts or images only?)")
    return Loaded(pages=out.pages, n_pages=out.count, warnings=out.warnings)


def _decode(name: str, data: bytes) -> str:
    """HTML bytes as text: a BOM, else the <meta charset> the page declares, else UTF-8,
    else Windows-1252 (what browsers assume for a page that declares nothing)."""
    from bs4.dammit import EncodingDetector

    for enc in EncodingDetector(data[:65536], known_definite_encodings=["utf-8"]).encodings:
        try:
            return data.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("cp1252", errors="replace")


def load_eml(name: str, data: bytes, limits):
    from ingest.loaders import Loaded

    try:
        msg = email.message_from_bytes(data, policy=email.policy.default)
    except Exception as e:  # noqa: BLE001 - the email package raises many types on broken input
        raise IngestError(name, f"malformed e-mail ({type(e).__name__}: {str(e)[:120]})") from None
    text, subject = message_text(name, msg)
    out = Pages(name, limits, "messages")
    out.add(text, f"message '{_short(subject)}'" if subject else "message")
    return Loaded(pages=out.pages, n_pages=1, warnings=out.warnings)


def message_text(name: str, msg) -> tuple[str, str]:
    """One e-mail message as a page's text (its headers, then its body; attachments named)
    and its subject; IngestError if it is no message or has neither subject nor body."""
    if not any(msg.get(h) for h in ("From", "Subject", "Date", "To", "Message-ID")):
        raise IngestError(name, "not an e-mail message: no From, To, Subject or Date header")
    head = []
    for key in ("Subject", "From", "To", "Cc", "Date"):
        value = _header(msg, key)
        if value:
            head.append(f"{key}: {value}")
    body, attachments = _body(name, msg)
    if attachments:
        head.append("Attachments: " + ", ".join(attachments))
    subject = _header(msg, "Subject")
    if not body.strip() and not subject:
        raise IngestError(name, "no text: the message has no subject and no body")
    return "\n".join(head) + "\n\n" + body, subject


def _header(msg, key: str) -> str:
    try:
        value = msg.get(key)
    except Exception:  # noqa: BLE001 - a malformed header value
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _body(name: str, msg) -> tuple[str, list[str]]:
    attachments = []
    for part in msg.walk():
        if part.is_attachment():
            attachments.append(part.get_filename() or part.get_content_type())
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
        if part is None:
            return "", attachments
        content = part.get_content()
    except Exception as e:  # noqa: BLE001 - a body in an unknown charset or encoding
        raise IngestError(name, f"the message body cannot be decoded ({type(e).__name__}: {str(e)[:120]})") from None
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    if part.get_content_subtype() == "html":
        content = "\n".join(text for _, text in html_events(content))
    return content, attachments
