"""Text cleaning applied to every extracted page (pure functions)."""

from __future__ import annotations

import re
import unicodedata

_HYPHEN_BREAK = re.compile(r"(\w)-[ \t]*\n[ \t]*([a-z])")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x84\x86-\x9f]")
_LINE_SEPARATORS = re.compile(r"[\x85\u2028\u2029]")
_BLANK_LINES = re.compile(r"\n\s*\n\s*(\n\s*)+")
_SPACE_AROUND_NL = re.compile(r" *\n *")


def clean_text(text: str) -> str:
    """Normalise extracted text.

    Joins words hyphenated across a line end ("exam-\\nple" -> "example"), removes
    control characters and soft hyphens, turns Unicode line separators into line breaks,
    collapses runs of spaces, keeps single line breaks and at most one blank line between
    paragraphs. The result is NFC and cleaning it again changes nothing.
    """
    if not text:
        return ""
    # Character-level fixes first, so that NFC sees the final characters (a ligature or a
    # soft hyphen next to a combining accent would otherwise leave non-NFC text behind).
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00ad", "")
    text = text.replace("\ufb01", "fi").replace("\ufb02", "fl").replace("\ufeff", "")
    text = _LINE_SEPARATORS.sub("\n", text)
    text = _CONTROL.sub(" ", text)
    text = unicodedata.normalize("NFC", text)
    text = _SPACES.sub(" ", text)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    text = _SPACE_AROUND_NL.sub("\n", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


_DIGITS = re.compile(r"\d+")


def _line_key(line: str) -> str:
    key = " ".join(line.lower().split())
    # Page numbers: short lines match whatever their digits ("Page 3 of 9", "- 12 -").
    return _DIGITS.sub("#", key) if len(key) <= 24 else key


def strip_repeated_lines(pages: list[str], min_pages: int = 3, share: float = 0.5) -> list[str]:
    """Remove running headers and footers: short lines repeated on many pages.

    A line (for short lines digits ignored, so "Page 3 of 9" matches "Page 4 of 9") on at
    least ``share`` of the pages of a document with ``min_pages`` or more pages is
    boilerplate; it adds noise to every chunk of every page and is removed.
    """
    if len(pages) < min_pages:
        return pages
    seen: dict[str, int] = {}
    for text in pages:
        for key in {_line_key(line) for line in text.split("\n") if 0 < len(line.strip()) <= 120}:
            seen[key] = seen.get(key, 0) + 1
    limit = max(min_pages, int(share * len(pages) + 0.999))
    boiler = {k for k, n in seen.items() if n >= limit}
    if not boiler:
        return pages
    out = []
    for text in pages:
        kept = [line for line in text.split("\n") if _line_key(line) not in boiler]
        out.append("\n".join(kept).strip())
    return out
