"""Check eval/sample_docs.jsonl against the documents in sample_docs/.

    .venv/bin/python eval/check_samples.py [QUESTIONS.jsonl] [DOCS_DIR]

For every answerable question, the answer (or one of its aliases) must
appear in the text of the gold page(s): for a PDF the text that pypdf
extracts from those physical pages (1-based; a list of pages is joined),
for .md/.txt the whole file (page 1).  Matching is case-insensitive, with
Unicode normalised (NFKC, curly quotes and dashes to ASCII), whitespace
collapsed, and whole-token boundaries (so "25" does not match "250").

Unanswerable questions must have answer "UNANSWERABLE", doc null, page null
and no aliases.  The set must have at least 24 questions, cover every kind
and include at least 4 unanswerable ones.

Answers that also occur on other pages of the same PDF are reported as
warnings only (short numbers recur legitimately).  Exits 1 on any failure.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

from pypdf import PdfReader

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"question", "answer", "answer_aliases", "doc", "page", "kind"}
KINDS = {"fact", "number", "table", "definition", "multi_hop", "unanswerable"}
UNANSWERABLE = "UNANSWERABLE"
MIN_QUESTIONS = 24
MIN_UNANSWERABLE = 4

_TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u00a0": " ",
})


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE).lower()
    return re.sub(r"\s+", " ", text).strip()


def contains(haystack: str, needle: str) -> bool:
    needle = normalise(needle)
    if not needle:
        return False
    pattern = r"(?<![a-z0-9])" + re.escape(needle) + r"(?![a-z0-9])"
    return re.search(pattern, haystack) is not None


def load_pages(path: Path) -> list[str]:
    """Normalised text of each physical page (a text file is one page)."""
    if path.suffix.lower() == ".pdf":
        return [normalise(p.extract_text() or "") for p in PdfReader(path).pages]
    return [normalise(path.read_text(encoding="utf-8"))]


def main(argv: list[str]) -> int:
    qpath = Path(argv[1]) if len(argv) > 1 else ROOT / "eval" / "sample_docs.jsonl"
    docs_dir = Path(argv[2]) if len(argv) > 2 else ROOT / "sample_docs"
    errors: list[str] = []
    warnings: list[str] = []
    cache: dict[str, list[str]] = {}
    kinds: Counter[str] = Counter()
    per_doc: Counter[str] = Counter()
    seen: set[str] = set()
    n = 0

    for lineno, line in enumerate(qpath.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"line {lineno}"
        try:
            q = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{where}: invalid JSON ({exc})")
            continue
        n += 1
        if not isinstance(q, dict) or set(q) != KEYS:
            errors.append(f"{where}: keys must be exactly {sorted(KEYS)}")
            continue
        where = f"line {lineno} ({q['question'][:60]!r})"
        kind, answer, aliases, doc, page = q["kind"], q["answer"], q["answer_aliases"], q["doc"], q["page"]
        kinds[kind] += 1
        if kind not in KINDS:
            errors.append(f"{where}: unknown kind {kind!r}")
        if normalise(q["question"]) in seen:
            errors.append(f"{where}: duplicate question")
        seen.add(normalise(q["question"]))
        if not isinstance(answer, str) or not answer.strip():
            errors.append(f"{where}: answer must be a non-empty string")
            continue
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            errors.append(f"{where}: answer_aliases must be a list of strings")
            continue

        if kind == "unanswerable" or answer == UNANSWERABLE:
            if not (kind == "unanswerable" and answer == UNANSWERABLE and doc is None
                    and page is None and aliases == []):
                errors.append(f"{where}: unanswerable needs kind 'unanswerable', answer "
                              f"'{UNANSWERABLE}', doc null, page null, no aliases")
            continue

        per_doc[doc] += 1
        path = docs_dir / doc if isinstance(doc, str) else None
        if path is None or not path.is_file():
            errors.append(f"{where}: document {doc!r} not found in {docs_dir}")
            continue
        if doc not in cache:
            cache[doc] = load_pages(path)
        pages = cache[doc]
        gold = page if isinstance(page, list) else [page]
        if not gold or not all(isinstance(p, int) and not isinstance(p, bool) for p in gold):
            errors.append(f"{where}: page must be an int or a non-empty list of ints")
            continue
        if path.suffix.lower() != ".pdf" and gold != [1]:
            errors.append(f"{where}: page must be 1 for non-PDF documents")
            continue
        if not all(1 <= p <= len(pages) for p in gold):
            errors.append(f"{where}: page {page} out of range (document has {len(pages)} pages)")
            continue
        if kind == "multi_hop" and path.suffix.lower() == ".pdf" and len(gold) < 2:
            warnings.append(f"{where}: multi_hop question on a single PDF page")

        text = " ".join(pages[p - 1] for p in gold)
        forms = [answer, *aliases]
        if not any(contains(text, f) for f in forms):
            errors.append(f"{where}: none of {forms} found on {doc} page {page}")
            continue
        others = [i + 1 for i, t in enumerate(pages) if i + 1 not in gold and contains(t, answer)]
        if others:
            warnings.append(f"{where}: answer {answer!r} also appears on page(s) {others}")

    if n < MIN_QUESTIONS:
        errors.append(f"only {n} questions (need at least {MIN_QUESTIONS})")
    missing = KINDS - set(kinds)
    if missing:
        errors.append(f"kinds not covered: {sorted(missing)}")
    if kinds["unanswerable"] < MIN_UNANSWERABLE:
        errors.append(f"only {kinds['unanswerable']} unanswerable questions (need {MIN_UNANSWERABLE})")

    print(f"{qpath.name}: {n} questions")
    print("  by kind: " + ", ".join(f"{k}={kinds[k]}" for k in sorted(kinds)))
    print("  by doc:  " + ", ".join(f"{d}={c}" for d, c in sorted(per_doc.items())))
    for doc, pages in sorted(cache.items()):
        print(f"  {doc}: {len(pages)} page(s)")
    for w in warnings:
        print(f"WARNING {w}")
    for e in errors:
        print(f"FAIL {e}")
    print("OK: every answer found on its gold page" if not errors else f"{len(errors)} failure(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
