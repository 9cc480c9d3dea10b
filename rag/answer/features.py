"""What the answer scorer sees of a candidate: one feature vector per (question, candidate).

Dense similarity, term overlap weighted by the corpus's own IDF (in the candidate, its
neighbours and its passage), answer-type agreement from one typing step, the candidate's
shape and its passage's rank. The weights are fitted (``bench/fit_selector.py``); nothing
here decides.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

from rag.answer.candidates import Pool
from rag.answer.tables import row_named
from rag.text import _STOP, _WORD, _canon, _stem, content_words, doc_words, numbers, specific_terms
from rag.types import Hit

# The kind of answer a question asks for, by the words that ask (the first that occurs
# wins). One small table for every question; the scorer learns how much each kind matters.
ASKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("number", ("how many", "how much", "how long", "how old", "how tall", "how far", "how big", "how often",
                "how large", "what percentage", "what number", "what version", "what size", "number of")),
    ("date", ("when", "what year", "which year", "what date", "what month")),
    ("name", ("who", "whom", "whose", "what name", "which company", "which person", "called")),
    ("reason", ("why", "how does", "how do", "how did", "how can", "purpose")),
    ("definition", ("what is", "what are", "what does", "define", "definition", "meaning", "mean", "stand for")),
)  # fmt: skip
TYPES = ("number", "date", "name", "reason", "definition")

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
_YEAR = re.compile(r"(?<![\d,.])(?:1[5-9]\d\d|20\d\d)(?![\d,.]\d)")
_DATE = re.compile(rf"\b{_MONTH}\.?\s+\d{{1,2}}\b|\b\d{{1,2}}\s+{_MONTH}\b|\b{_MONTH}\s+(?:1[5-9]|20)\d\d\b", re.I)
_COUNT_WORD = re.compile(
    r"\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|hundred|thousand|million|"
    r"billion|dozen|half|once|twice)\b",
    re.I,
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*|\b[A-Z]{2,}\b")
_NOISE = re.compile(r"^[A-Z]{2,}[A-Z\-]*$|/|^\d+$|[|\u2022]")  # headings, page numbers, addresses
_DEFINES = re.compile(r"\b(?:is|are|means|refers? to|defined as|consists? of|describes?)\b|:\s|\(")
_REASON = re.compile(
    r"\b(?:because|since|so that|in order to|to ensure|due to|thus|therefore|allows?|enables?)\b", re.I
)

NAMES = (
    "cos",
    "cos_max",
    "cos_gap",
    "idf_cov",
    "idf_cov_ctx",
    "idf_cov_passage",
    "idf_gap",
    "cov",
    "new_share",
    "log_words",
    "run2",
    "run3",
    "row",
    "row_named",
    "rank_inv",
    "passage_cos",
    "position",
    "echo",
    "spec_cand",
    "spec_passage",
    "spec_missing",
    *(f"asks_{t}" for t in TYPES),
    *(f"gives_{t}" for t in TYPES),
    "cos_x_idf",
    "mix_max",
    "mix_gap",
    "has_best",
    "after_best",
    "last_new",
    "first_idf",
    "q_covered",
    "q_missing_idf",
    "q_top_cos",
    "cos_ctx",
    "head_match",
    "noise",
)


# The question-level view of the best candidate, for the answer-or-abstain step: how sure
# the ranker is (its score, its margin over the runner-up), how similar the best candidate
# and passage are, and whether the names, numbers or dates asked for are there. Not how
# many of the question's words the passages repeat: a question in the user's own words
# repeats few of them and is answerable all the same. Fitted both ways at 5 % false
# refusals (docs/evaluation.md), this view refused as few answerable questions of a set held
# out from fitting and more near misses (0.28 against 0.16 over the training sets).
ANSWER_NAMES = (
    "logit",
    "margin",
    "cos",
    "q_top_cos",
    "spec_missing",
    "spec_cand",
    "number_missing",
    "date_missing",
)


def answer_view(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """``ANSWER_NAMES`` of the best candidate of a question (``x``: its candidates' features,
    ``logits``: their rank scores)."""
    order = np.argsort(-logits, kind="stable")
    top = x[order[0]]
    second = logits[order[1]] if len(order) > 1 else logits[order[0]] - 5.0
    f = {name: float(top[NAMES.index(name)]) for name in ANSWER_NAMES if name in NAMES}
    f["logit"] = float(logits[order[0]])
    f["margin"] = float(logits[order[0]] - second)
    for kind in ("number", "date"):
        asks = float(top[NAMES.index(f"asks_{kind}")])
        f[f"{kind}_missing"] = asks * (1.0 - float(top[NAMES.index(f"gives_{kind}")]))
    return np.array([f[name] for name in ANSWER_NAMES])


def asked_type(question: str) -> str | None:
    """The kind of answer ``question`` asks for (``TYPES``), or None for free text."""
    q = " " + " ".join(re.findall(r"[a-z]+", question.lower())) + " "
    for kind, cues in ASKS:
        if any(f" {c} " in q for c in cues):
            return kind
    return None


def gives(kind: str, text: str, question: str) -> bool:
    """Whether ``text`` holds something of ``kind`` that the question does not already say."""
    ql = question.lower()
    if kind == "number":
        return bool(numbers(text) - numbers(question)) or any(
            m.group(0).lower() not in ql for m in _COUNT_WORD.finditer(text)
        )
    if kind == "date":
        return any(m.group(0) not in question for m in _YEAR.finditer(text)) or any(
            m.group(0).lower() not in ql for m in _DATE.finditer(text)
        )
    if kind == "name":
        return any(m.group(0).lower() not in ql for m in _NAME.finditer(text))
    if kind == "reason":
        return bool(_REASON.search(text))
    return bool(_DEFINES.search(text))


def weighted_words(question: str, idf: Mapping[str, float]) -> dict[str, float]:
    """The question's content words (stemmed, as :func:`rag.text.content_words`) with their IDF."""
    out: dict[str, float] = {}
    for w in _WORD.findall(question.lower()):
        if w in _STOP or (len(w) < 2 and not w.isdigit()):
            continue
        stem = _stem(_canon(w))
        out[stem] = max(out.get(stem, 0.0), idf.get(w, 1.0))
    return out


def _idf_share(weights: Mapping[str, float], have: set[str]) -> float:
    total = sum(weights.values())
    return sum(v for w, v in weights.items() if w in have) / total if total else 0.0


def _spec_share(specs: set[str], text: str) -> float:
    if not specs:
        return 1.0
    low = text.lower()
    return sum(1 for t in specs if t in low) / len(specs)


def featurize(
    question: str,
    hits: Sequence[Hit],
    pool: Pool,
    qvec: np.ndarray,
    unit_vecs: np.ndarray,
    idf: Mapping[str, float],
) -> np.ndarray:
    """The feature matrix (one row per candidate of ``pool``, columns as ``NAMES``)."""
    cands = pool.candidates
    if not cands:
        return np.zeros((0, len(NAMES)), dtype=np.float32)
    weights = weighted_words(question, idf)
    qwords = content_words(question)
    qnums = numbers(question)
    specs = specific_terms(question)
    kind = asked_type(question)
    unit_cos = unit_vecs @ qvec if len(unit_vecs) else np.zeros(0)
    passage_words = [content_words(h.text) for h in hits]
    passage_spec = [_spec_share(specs, f"{h.text} {doc_words(h.doc)}") for h in hits]
    spec_missing = float(bool(specs) and max(passage_spec[: max(c.n for c in cands)]) < 1.0)
    # Each unit (sentence, row) on its own: the plain mix of similarity and overlap, and
    # the best unit of all passages (the answer is often in it or right after it).
    unit_words = [content_words(u) for u in pool.units]
    unit_mix = np.array(
        [
            0.5 * float(cs) + 0.5 * (len(qwords & w) / len(qwords) if qwords else 0.0)
            for cs, w in zip(unit_cos, unit_words)
        ]
    )
    best_unit = int(np.argmax(unit_mix)) if len(unit_mix) else -1
    top_mix = float(unit_mix.max()) if len(unit_mix) else 0.0
    # The question against all the passages read: how much of its weight they hold, the
    # rarest word they never mention ("mercury" in a library about tide pools), the best
    # passage similarity. The same for every candidate: they move the score, not the choice.
    read = max(c.n for c in cands)
    union = set().union(*passage_words[:read], *(content_words(doc_words(h.doc)) for h in hits[:read]))
    q_covered = _idf_share(weights, union)
    q_missing_idf = max((v for w, v in weights.items() if w not in union), default=0.0)
    q_top_cos = max((float(h.dense_score or 0.0) for h in hits[:read]), default=0.0)
    rows = []
    for c in cands:
        v = unit_vecs[list(c.units)].sum(axis=0)
        cos = float(v @ qvec) / max(float(np.linalg.norm(v)), 1e-9)
        said = c.shown or c.text
        own = content_words(said)
        hit = hits[c.n - 1]
        n_words = len(said.split())
        f = {
            "cos": cos,
            "cos_max": float(max(unit_cos[list(c.units)])),
            "idf_cov": _idf_share(weights, own),
            "idf_cov_ctx": _idf_share(weights, own | content_words(c.context)),
            "idf_cov_passage": _idf_share(weights, passage_words[c.n - 1] | content_words(doc_words(hit.doc))),
            "cov": len(qwords & own) / len(qwords) if qwords else 0.0,
            "new_share": len(own - qwords) / len(own) if own else 0.0,
            "log_words": math.log1p(n_words),
            "run2": float(len(c.units) == 2 and c.kind == "run"),
            "run3": float(len(c.units) == 3),
            "row": float(c.kind == "row"),
            "row_named": float(c.kind == "row" and row_named(c.text, qwords, qnums)),
            "rank_inv": 1.0 / c.n,
            "passage_cos": float(hit.dense_score or 0.0),
            "position": c.start / max(len(hit.text), 1),
            "echo": float(bool(own) and own <= qwords),
            "spec_cand": _spec_share(specs, said),
            "spec_passage": passage_spec[c.n - 1],
            "spec_missing": spec_missing,
        }
        for t in TYPES:
            f[f"asks_{t}"] = float(kind == t)
            f[f"gives_{t}"] = float(kind == t and gives(t, said, question))
        f["cos_x_idf"] = cos * f["idf_cov"]
        mix = float(max(unit_mix[list(c.units)]))
        f["mix_max"] = mix
        f["mix_gap"] = mix - top_mix
        f["has_best"] = float(best_unit in c.units)
        f["after_best"] = float(c.kind != "row" and c.units[0] == best_unit + 1 and c.n == pool.unit_passage[best_unit])
        last = unit_words[c.units[-1]]
        f["last_new"] = len(last - qwords) / len(last) if last else 0.0
        f["first_idf"] = _idf_share(weights, unit_words[c.units[0]])
        f["q_covered"], f["q_missing_idf"], f["q_top_cos"] = q_covered, q_missing_idf, q_top_cos
        lo, hi = max(c.units[0] - 1, 0), min(c.units[-1] + 2, len(pool.units))
        around = [u for u in range(lo, hi) if pool.unit_passage[u] == c.n]
        v_ctx = unit_vecs[around].sum(axis=0)
        f["cos_ctx"] = float(v_ctx @ qvec) / max(float(np.linalg.norm(v_ctx)), 1e-9)
        f["head_match"] = _idf_share(weights, content_words(" ".join(said.split()[:5])))
        tokens = said.split()
        f["noise"] = sum(1 for t in tokens if _NOISE.search(t)) / max(len(tokens), 1)
        rows.append([f.get(name, 0.0) for name in NAMES])
    x = np.asarray(rows, dtype=np.float32)
    # How far each candidate is from the best of its question on the two main signals.
    x[:, NAMES.index("cos_gap")] = x[:, NAMES.index("cos")] - x[:, NAMES.index("cos")].max()
    x[:, NAMES.index("idf_gap")] = x[:, NAMES.index("idf_cov")] - x[:, NAMES.index("idf_cov")].max()
    return x
