"""Citation parsing and verification (pure functions over values).

An answer is split into claims (sentences). Each claim is checked against the
passages it cites: the best-supporting sentence of a passage is found by lexical
overlap of content words (numbers must match exactly) combined with embedding
similarity. A claim whose citation does not support it is re-attributed to the
passage that does, or marked unsupported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ingest.chunking import split_sentences
from rag.text import (  # noqa: F401 - re-exported: the answer path imports them from here too
    _STOP,
    _WORD,
    _stem,
    content_words,
    counts,
    doc_words,
    missing_specifics,
    numbers,
    specific_terms,
)
from rag.types import Citation, Claim, Hit

_MARKER = re.compile(r"\[(\s*\d+(?:\s*[-,–]\s*\d+)*\s*)\]")
_CLAIM_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
Similarity = Callable[[Sequence[str], Sequence[str]], np.ndarray]


def parse_markers(text: str) -> list[int]:
    """Passage numbers cited in ``text``: ``[1]``, ``[1, 3]``, ``[2-4]``; order kept, no repeats."""
    out: list[int] = []
    for m in _MARKER.finditer(text):
        for part in re.split(r"\s*,\s*", m.group(1).strip()):
            if re.search(r"[-–]", part):
                a, b = (int(x) for x in re.split(r"\s*[-–]\s*", part))
                nums = range(a, b + 1) if 0 < b - a < 20 else [a, b]
            else:
                nums = [int(part)]
            for n in nums:
                if n not in out:
                    out.append(n)
    return out


def strip_markers(text: str) -> str:
    text = _MARKER.sub("", text)
    return re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()


_TITLE_STOP = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Prof|St|Sr|Jr|vs|al|Fig|Sec)\s*(?:\[[\d,\s\-\u2013]+\]\s*)*\.(?=\s+[A-Z0-9])"
)


def split_claims(answer: str) -> list[tuple[str, list[int]]]:
    """Split an answer into (claim text without markers, cited passage numbers).

    Markers written after a sentence's full stop ("... sea. [2]") belong to it.
    """
    answer = answer.strip()
    if not answer:
        return []
    # Move markers that follow a full stop in front of it: "x. [1]" -> "x [1]."
    # (keep the whitespace after the markers: it separates this sentence from the next).
    answer = re.sub(
        r"([.!?])\s*((?:\[\s*[\d,\s\-–]+\]\s*)+)",
        lambda m: " " + m.group(2).strip() + m.group(1) + m.group(2)[len(m.group(2).rstrip()) :],
        answer,
    )
    # A title's full stop ends no claim: "In 2013, Mr [1]. Zuckerberg paid ..." is one claim.
    answer = _TITLE_STOP.sub(lambda m: m.group(0).replace(".", "\u2024", 1), answer)
    parts = [p.replace("\u2024", ".") for p in re.split(r"(?<=[.!?])\s+|\n+", answer) if p.strip()]
    claims = []
    for part in parts:
        text = strip_markers(part)
        if re.search(r"\w", text):
            claims.append((text, parse_markers(part)))
    return claims


_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[a-z]+")


def _unit_match(a: str, b: str) -> bool:
    """Same unit word, allowing abbreviations ("kg" ~ "kilograms", "hrs" ~ "hours")."""
    if a == b or a.startswith(b) or b.startswith(a):
        return True
    return a[0] == b[0] and min(len(a), len(b)) <= 3


def numbers_in_context(claim: str, support: str, window: int = 3) -> bool:
    """Every number of ``claim`` occurs in ``support`` next to the word it counts.

    "2 years of leave" is not supported by "2. Leave Policy ... 25 days per year": a
    number followed in the claim by a content word (its unit or noun) — or else preceded
    by one, as in "Tier 5" — must appear in the support with that word within ``window``
    tokens of it. Numbers between stop words only need to occur.
    """
    ct = _TOKEN.findall(claim.lower())
    st = _TOKEN.findall(support.lower())
    st = [t.replace(",", "") if t[0].isdigit() else t for t in st]
    for i, tok in enumerate(ct):
        if not tok[0].isdigit():
            continue
        num = tok.replace(",", "")
        where = [j for j, t in enumerate(st) if t == num]
        if not where:
            return False
        nxt = ct[i + 1] if i + 1 < len(ct) else ""
        prev = ct[i - 1] if i > 0 else ""
        if nxt.isalpha() and nxt not in _STOP:
            unit = _stem(nxt)
        elif prev.isalpha() and prev not in _STOP:  # "Tier 5", "Rule 42"
            unit = _stem(prev)
        else:
            continue
        if not any(
            t.isalpha() and _unit_match(_stem(t), unit) for j in where for t in st[max(0, j - window) : j + window + 1]
        ):
            return False
    return True


def lexical_support(claim: str, support: str, question: str = "") -> float:
    """Share of the claim's content words found in ``support`` (0 when numbers are missing).

    With ``question``, the words the claim adds beyond the question — the part that
    carries the answer — must be supported too: the result is the smaller of the two
    shares, so a claim that repeats the question and invents the rest scores low.
    """
    cw = content_words(claim)
    nums = numbers(claim)
    if nums and not (nums <= numbers(support) and numbers_in_context(claim, support)):
        return 0.0
    if not counts(claim) <= counts(support):  # "six deployment models" against "four"
        return 0.0
    if not cw:
        return 0.0
    sw = content_words(support)
    share = len(cw & sw) / len(cw)
    if question:
        novel = cw - content_words(question)
        if novel:
            share = min(share, len(novel & sw) / len(novel))
        elif not is_yes_no(question):
            return 0.0  # it only restates the question ("The animal is the White Rabbit"): no answer
    return share


_YES_NO = re.compile(
    r"\s*(?:is|are|was|were|do|does|did|can|could|may|might|must|shall|should|will|would|has|have|had)\b", re.I
)


def is_claim(text: str) -> bool:
    """Whether ``text`` states something: a list number ("2.") or a lead-in ("These
    include:") does not, and cannot be supported by a page."""
    return not text.rstrip().endswith(":") and any(not w.isdigit() for w in content_words(text))


def is_yes_no(question: str) -> bool:
    """A question a restatement answers ("Can contractors use the VPN?" - "Contractors can use the VPN.")."""
    return bool(_YES_NO.match(question))


@dataclass
class Support:
    score: float
    lexical: float
    semantic: float
    start: int  # offsets in the hit's text
    end: int


def best_support(
    claim: str, hit: Hit, claim_vec: np.ndarray | None, sent_vecs: np.ndarray | None, question: str = ""
) -> Support:
    """The span of ``hit`` (one sentence or two adjacent ones) that best supports ``claim``."""
    spans = split_sentences(hit.text) or [(0, len(hit.text))]
    candidates = list(spans) + [(spans[i][0], spans[i + 1][1]) for i in range(len(spans) - 1)]
    best = Support(0.0, 0.0, 0.0, 0, 0)
    for idx, (s, e) in enumerate(candidates):
        lex = lexical_support(claim, hit.text[s:e], question)
        if claim_vec is not None and sent_vecs is not None:
            if idx < len(spans):
                sem = float(sent_vecs[idx] @ claim_vec)
            else:
                j = idx - len(spans)
                sem = float(max(sent_vecs[j] @ claim_vec, sent_vecs[j + 1] @ claim_vec))
        else:
            sem = lex
        pair_penalty = 0.02 if idx >= len(spans) else 0.0
        score = 0.6 * lex + 0.4 * max(sem, 0.0) - pair_penalty
        if lex == 0.0 and numbers(claim):
            score = 0.0
        if score > best.score:
            best = Support(score, lex, sem, s, e)
    return best


def is_supported(sup: Support, min_score: float = 0.45, min_lexical: float = 0.6) -> bool:
    return sup.score >= min_score and sup.lexical >= min_lexical


@dataclass
class Verified:
    answer: str
    claims: list[Claim]
    citations: list[Citation]


def verify_answer(
    answer: str,
    hits: Sequence[Hit],
    embed: Callable[[Sequence[str]], np.ndarray] | None = None,
    policy: str = "flag",
    page_text: Callable[[Hit], str] | None = None,
    question: str = "",
) -> Verified:
    """Check every claim of ``answer`` against its cited passages (``[n]`` = ``hits[n-1]``).

    Returns the rewritten answer (markers pointing at the passages that really support
    each claim, numbered 1..n in order of first appearance; unsupported claims flagged or
    dropped), the claims, and one citation per cited passage with the supporting quote
    and its offsets in the page.
    """
    raw_claims = split_claims(answer)
    if not raw_claims or not hits:
        return Verified(answer.strip(), [Claim(t, [], False) for t, _ in raw_claims], [])
    sent_spans = [split_sentences(h.text) or [(0, len(h.text))] for h in hits]
    claim_vecs = sent_vecs = None
    if embed is not None:
        texts = [t for t, _ in raw_claims]
        flat = [h.text[s:e] for h, spans in zip(hits, sent_spans) for s, e in spans]
        vecs = embed(texts + flat)
        claim_vecs = vecs[: len(texts)]
        sent_vecs = []
        pos = len(texts)
        for spans in sent_spans:
            sent_vecs.append(vecs[pos : pos + len(spans)])
            pos += len(spans)
    claims: list[Claim] = []
    quotes: dict[int, tuple[float, int, int]] = {}  # passage n -> (score, start, end)
    for ci, (text, cited) in enumerate(raw_claims):
        if not is_claim(text):  # "1.", "These include:" state nothing a page could support
            claims.append(Claim(text=text, citations=[], supported=False))
            continue
        cited = [n for n in cited if 1 <= n <= len(hits)]
        cvec = claim_vecs[ci] if claim_vecs is not None else None
        results: dict[int, Support] = {}
        for n in range(1, len(hits) + 1):
            sv = sent_vecs[n - 1] if sent_vecs is not None else None
            results[n] = best_support(text, hits[n - 1], cvec, sv, question)
        good_cited = [n for n in cited if is_supported(results[n])]
        if good_cited:
            final = good_cited
        else:
            best_n = max(results, key=lambda n: results[n].score)
            final = [best_n] if is_supported(results[best_n]) else []
        for n in final:
            sup = results[n]
            if n not in quotes or sup.score > quotes[n][0]:
                quotes[n] = (sup.score, sup.start, sup.end)
        claims.append(Claim(text=text, citations=final, supported=bool(final)))
    # Citations are numbered 1..n in the order they first appear in the answer, not by
    # the passage's rank: a reader who sees [3] first looks for a [1] and a [2].
    order = list(dict.fromkeys(n for c in claims for n in c.citations))
    renumber = {n: i for i, n in enumerate(order, 1)}
    for c in claims:
        c.citations = [renumber[n] for n in c.citations]
    citations = []
    for n in order:
        _, s, e = quotes[n]
        h = hits[n - 1]
        citations.append(
            Citation(
                n=renumber[n],
                doc=h.doc,
                page=h.page,
                chunk_id=h.chunk_id,
                quote=h.text[s:e],
                quote_start=h.start + s,
                quote_end=h.start + e,
                doc_id=h.doc_id,
            )
        )
    parts = []
    for c in claims:
        if not c.supported and policy == "drop":
            continue
        body = c.text.rstrip()
        end = ""
        if body and body[-1] in ".!?":
            body, end = body[:-1], body[-1]
        marks = "".join(f"[{n}]" for n in c.citations)
        parts.append(f"{body} {marks}{end}".replace(" .", ".") if marks else body + (end or ""))
    return Verified(" ".join(parts).strip(), claims, citations)
