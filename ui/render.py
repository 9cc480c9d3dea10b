"""Pure rendering helpers: values in, escaped HTML / text out (no Streamlit calls).

Document text is never trusted: every piece of it goes through :func:`html.escape`
before it is wrapped in markup.
"""

from __future__ import annotations

import datetime as _dt
import html
import logging
import re
import unicodedata
from collections.abc import Sequence
from difflib import SequenceMatcher
from pathlib import Path

from rag.types import Answer, Claim

logger = logging.getLogger(__name__)

UNSUPPORTED_TIP = "not supported by the cited passages"

CSS = """
<style>
.rag-answer { line-height: 1.6; overflow-wrap: anywhere; }
.rag-cite { display: inline-block; font-size: 0.75em; font-weight: 600; padding: 0 0.35em;
  margin-left: 0.15em; border-radius: 0.6em; background: rgba(28, 131, 225, 0.22);
  border: 1px solid rgba(28, 131, 225, 0.55); color: inherit; vertical-align: super; line-height: 1.3; }
.rag-unsupported { opacity: 0.75; text-decoration: underline dotted; cursor: help; }
.rag-warn { display: inline-block; width: 1.1em; height: 1.1em; line-height: 1.1em; text-align: center;
  border-radius: 50%; background: #f0a020; color: #1a1a1a; font-weight: 700; font-size: 0.8em; margin-right: 0.25em; }
.rag-quoted { padding-left: 0.6rem; border-left: 3px solid rgba(49, 130, 206, 0.6); }
.rag-quoted-from { opacity: 0.75; font-size: 0.85em; }
.rag-draft { margin-top: 0.4rem; padding-left: 0.6rem; border-left: 3px solid rgba(240, 160, 32, 0.6); }
.rag-passage { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.92em; line-height: 1.55;
  max-height: 26rem; overflow-y: auto; padding: 0.6rem 0.8rem; border-radius: 0.5rem;
  background: rgba(127, 127, 127, 0.08); }
.rag-passage mark, .rag-hit mark { background: #ffe066; color: #1a1a1a; padding: 0 1px; border-radius: 2px; }
.rag-hit { overflow-wrap: anywhere; line-height: 1.55; }
.rag-name { overflow-wrap: anywhere; word-break: break-word; }
.rag-uncited { opacity: 0.8; font-size: 0.85em; font-style: italic; }
.rag-quote { margin: 0.5rem 0; padding: 0.3rem 0.8rem; border-left: 4px solid #ffd600;
  background: rgba(255, 214, 0, 0.12); overflow-wrap: anywhere; font-size: 0.95em; }
</style>
"""

# Styles for the whole app, injected once per run by ui/app.py; they hold in the light and
# the dark theme alike (axe-core's colour-contrast rule, WCAG AA: 4.5:1 for small text).
# - Streamlit draws captions in its text colour at 60 % alpha: 3.9:1 on white. The text
#   colour at 75 % opacity keeps the lighter look and reads 5.7:1 (light), over 10:1 (dark).
# - A chosen pill (the open citation) writes its label in the primary red on a pale red:
#   4.47:1 (light), 3.6:1 (dark). The label keeps the text colour; the red border and
#   background still mark the choice, and the label turns bold.
APP_CSS = """
<style>
div[data-testid="stCaptionContainer"] { color: inherit; opacity: 0.75; }
div[data-testid="stCaptionContainer"] code { color: inherit; }
div[data-testid="stButtonGroup"] button[aria-checked="true"] { color: inherit; font-weight: 600; }
</style>
"""

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~$<&])")


def where(page: int, location: str = "", short: bool = False) -> str:
    """Where a passage is, as its reader would look for it: the page's label ("slide 7",
    "sheet 'Budget' rows 2-31") or "page N" ("p. N" when ``short``)."""
    if location and location != f"page {page}":
        return location
    return f"p. {page}" if short else f"page {page}"


def md_escape(text: str) -> str:
    """Escape Markdown (and LaTeX ``$``) so text shows literally in ``st.markdown``."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


def human_time(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def short_name(name: str, limit: int = 48) -> str:
    """Shorten a long file name in the middle, keeping its extension."""
    if len(name) <= limit:
        return name
    keep = limit - 1
    head = keep * 2 // 3
    return name[:head] + "…" + name[-(keep - head) :]


# -- answers -------------------------------------------------------------------------------
def _claim_html(claim: Claim) -> str:
    text = html.escape(claim.text)
    if not claim.supported:
        return (
            f'<span class="rag-unsupported" title="{UNSUPPORTED_TIP}">'
            f'<span class="rag-warn" role="img" aria-label="warning">!</span>{text}</span>'
        )
    body, end = (text[:-1], text[-1]) if text and text[-1] in ".!?" else (text, "")
    marks = "".join(f'<span class="rag-cite">{n}</span>' for n in claim.citations)
    return f"{body}{marks}{end}"


def answer_html(answer: Answer) -> str:
    """The verified answer: supported claims with their citation marks, unsupported ones flagged.

    When the engine abstained although the model wrote something, that draft is shown
    below the abstention, every statement flagged, so nothing looks sourced that is not.
    """
    if not answer.claims:
        return f'<div class="rag-answer">{html.escape(answer.answer)}</div>'
    if answer.abstained:
        draft = " ".join(_claim_html(Claim(c.text, [], False)) for c in answer.claims)
        return (
            f'<div class="rag-answer">{html.escape(answer.answer)}'
            f'<div class="rag-draft"><small>The model wrote, without support in the passages:</small><br>'
            f"{draft}</div></div>"
        )
    body = " ".join(_claim_html(c) for c in answer.claims)
    if answer.mode == "quoted" and answer.citations:
        c = answer.citations[0]
        where = html.escape(f"{Path(c.doc).name}, page {c.page}")
        lead = (
            f"The closest passage, in {where} (it may not answer the question):"
            if answer.unsure
            else f"Quoted from {where}:"
        )
        return (
            f'<div class="rag-answer"><div class="rag-quoted-from">{lead}</div>'
            f'<div class="rag-quoted">{body}</div></div>'
        )
    return f'<div class="rag-answer">{body}</div>'


def unsupported_count(answer: Answer) -> int:
    return 0 if answer.abstained else sum(1 for c in answer.claims if not c.supported)


# -- highlighting ----------------------------------------------------------------------------
def mark_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """Escape ``text`` and wrap the character ``spans`` (merged, clipped) in ``<mark>``."""
    spans = sorted((max(0, s), min(len(text), e)) for s, e in spans if e > s)
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    out, pos = [], 0
    for s, e in merged:
        out.append(html.escape(text[pos:s]))
        out.append("<mark>" + html.escape(text[s:e]) + "</mark>")
        pos = e
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _stem(term: str) -> str:
    for suffix in ("ing", "es", "ed", "s"):
        if len(term) > len(suffix) + 2 and term.endswith(suffix):
            return term[: -len(suffix)]
    return term


def term_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Spans of words in ``text`` that start with a (stemmed) query term."""
    stems = sorted({_stem(t.lower()) for t in terms if t.strip()}, key=len, reverse=True)
    if not stems:
        return []
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(s) for s in stems) + r")\w*", re.IGNORECASE)
    return [m.span() for m in pattern.finditer(text)]


def highlight_terms(text: str, terms: Sequence[str]) -> str:
    """Escaped ``text`` with the query terms in ``<mark>``."""
    return mark_spans(text, term_spans(text, terms))


def passage_window(
    text: str, start: int, end: int, before: int = 250, after: int = 900
) -> tuple[str, int, int, bool, bool]:
    """Cut ``text`` around ``[start, end)`` at word boundaries; returns the window and shifted offsets.

    Little text is kept before the span, so the highlight is visible without scrolling.
    """
    lo = max(0, start - before)
    hi = min(len(text), end + after)
    if lo > 0:
        space = text.find(" ", lo)
        lo = space + 1 if 0 <= space < start else lo
    if hi < len(text):
        space = text.rfind(" ", end, hi)
        hi = space if space > end else hi
    return text[lo:hi], start - lo, end - lo, lo > 0, hi < len(text)


def passage_html(text: str, start: int, end: int) -> str:
    """A passage of ``text`` with ``[start, end)`` highlighted, in a scrollable box."""
    window, s, e, cut_before, cut_after = passage_window(text, start, end)
    body = mark_spans(window, [(s, e)])
    return f'<div class="rag-passage">{"… " if cut_before else ""}{body}{" …" if cut_after else ""}</div>'


# -- finding a quote in differently-extracted text ----------------------------------------------
def _normalised(text: str) -> tuple[str, list[int]]:
    """Lower-case alphanumerics of ``text`` and, for each, its index in ``text``."""
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch).lower():
            if c.isalnum():
                chars.append(c)
                index.append(i)
    return "".join(chars), index


def locate(haystack: str, needle: str, min_block: int = 10, min_coverage: float = 0.6) -> list[tuple[int, int]]:
    """Character spans of ``haystack`` that hold ``needle``, ignoring case, spacing and punctuation.

    Text extracted by two libraries differs in whitespace, hyphenation and ligatures;
    comparing alphanumerics only absorbs that. When the quote is not found in one piece
    (reordered columns, dropped characters), long matching blocks are used instead, and
    nothing is returned unless they cover ``min_coverage`` of the quote.
    """
    hay, hidx = _normalised(haystack)
    ndl, _ = _normalised(needle)
    if not hay or not ndl:
        return []
    pos = hay.find(ndl)
    if pos >= 0:
        return [(hidx[pos], hidx[pos + len(ndl) - 1] + 1)]
    blocks = [b for b in SequenceMatcher(None, hay, ndl, autojunk=False).get_matching_blocks() if b.size >= min_block]
    if sum(b.size for b in blocks) < min_coverage * len(ndl):
        return []
    return [(hidx[b.a], hidx[b.a + b.size - 1] + 1) for b in blocks]
