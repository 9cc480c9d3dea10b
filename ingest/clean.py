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
