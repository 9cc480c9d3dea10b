"""Check the gold answers of an evaluation question set against the real corpus.

Usage::

    .venv/bin/python eval/check_gold.py [FILE] [--corpus DIR]

FILE defaults to ``eval/corpus.jsonl``; DIR defaults to ``../shared/corpus``
relative to the repository root (the parent of ``eval/``).

For every line the script validates the schema (keys, types, kinds, document
names, page ranges) and, for every answerable question, checks that the gold
answer or one of its aliases appears on the gold page (or on one of the gold
pages when ``page`` is a list). Page numbers are 1-based *physical* page
indices as pypdf counts them, not the numbers printed on the pages; a ``.txt``
or ``.md`` document is a single page 1; other formats (HTML: one page per section) are
located by the app's own loader (``ingest.loaders``).

Matching is case-insensitive and tolerant of PDF text-extraction noise:
Unicode is NFKC-normalised (ligatures such as "ﬂ" become "fl"), curly quotes
and dashes are unified, whitespace is collapsed, and a hyphen at a line break
may be either dropped ("com- fits" -> "comfits") or kept ("non- repudiation" ->
"non-repudiation"). Short answers (under five characters, e.g. "7") must match
on word boundaries; longer answers may also match with all whitespace and
hyphens removed, since pypdf sometimes splits words ("c apabilities").

Each failure is printed as ``FILE:LINE: message``; the exit status is 1 if
any line fails, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = REPO_ROOT / "eval" / "corpus.jsonl"
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus"

KEYS = {"question", "answer", "answer_aliases", "doc", "page", "kind"}
# A follow-up question carries the conversation before it: a list of
# {"role": "user" | "assistant", "content": str} turns, oldest first.
OPTIONAL_KEYS = {"history"}
KINDS = {"fact", "number", "table", "definition", "multi_hop", "unanswerable"}
UNANSWERABLE = "UNANSWERABLE"
LOOSE_MIN_LEN = 5

_TRANSLATE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00ad": "",  # soft hyphen
    }
)


def normalise(text: str) -> str:
    """Case-fold, NFKC-normalise, unify quotes/dashes and collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE).casefold()
    return re.sub(r"\s+", " ", text).strip()


def page_variants(text: str) -> list[str]:
    """Normalised forms of a page: line-break hyphens dropped, kept, untouched."""
    base = normalise(text)
    return [
        re.sub(r"(?<=\w)- (?=\w)", "", base),
        re.sub(r"(?<=\w)- (?=\w)", "-", base),
        base,
    ]


def compact(text: str) -> str:
    """Remove all whitespace and hyphens (text must already be normalised)."""
    return re.sub(r"[\s\-]+", "", text)


def answer_on_page(answer: str, variants: list[str]) -> bool:
    """True if the normalised answer occurs in one of the page variants."""
    needle = normalise(answer)
    if not needle:
        return False
    pattern = re.compile(r"(?<!\w)" + re.escape(needle) + r"(?!\w)")
    if any(pattern.search(v) for v in variants):
        return True
    needle_c = compact(needle)
    if len(needle_c) >= LOOSE_MIN_LEN:
        return any(needle_c in compact(v) for v in variants)
    return False


class Corpus:
    """Lazily loaded per-page text of the documents in one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pages: dict[str, list[list[str]]] = {}

    def exists(self, doc: str) -> bool:
        return "/" not in doc and (self.root / doc).is_file()

    def pages(self, doc: str) -> list[list[str]]:
        """Normalised variants of every page of ``doc`` (index 0 = page 1)."""
        if doc not in self._pages:
            path = self.root / doc
            if path.suffix.lower() == ".pdf":
                from pypdf import PdfReader  # imported here so --help works without it

                raw = [p.extract_text() or "" for p in PdfReader(path).pages]
            elif path.suffix.lower() in (".txt", ".md"):
                raw = [path.read_text(encoding="utf-8", errors="replace")]
            else:  # HTML, e-mail, office files: located as the app locates them
                from ingest.loaders import LoadLimits, load_bytes

                loaded = load_bytes(doc, path.read_bytes(), LoadLimits())
                raw = [""] * max([loaded.n_pages, *(pg.number for pg in loaded.pages)])
                for pg in loaded.pages:
                    raw[pg.number - 1] = pg.text
            self._pages[doc] = [page_variants(t) for t in raw]
        return self._pages[doc]


def check_record(rec: object, corpus: Corpus) -> list[str]:
    """Return the problems found in one parsed line (empty list if it passes)."""
    if not isinstance(rec, dict):
        return ["line is not a JSON object"]
    errors: list[str] = []
    keys = set(rec) - OPTIONAL_KEYS
    if keys != KEYS:
        missing, extra = sorted(KEYS - keys), sorted(keys - KEYS)
        errors.append(
            f"keys differ from schema (missing {missing}, unexpected {extra})"
        )
        return errors

    question, answer, aliases = rec["question"], rec["answer"], rec["answer_aliases"]
    doc, page, kind = rec["doc"], rec["page"], rec["kind"]
    if not isinstance(question, str) or not question.strip():
        errors.append("question must be a non-empty string")
    if not isinstance(answer, str) or not answer.strip():
        errors.append("answer must be a non-empty string")
    if not isinstance(aliases, list) or not all(
        isinstance(a, str) and a.strip() for a in aliases
    ):
        errors.append("answer_aliases must be a list of non-empty strings")
    if kind not in KINDS:
        errors.append(f"kind {kind!r} is not one of {sorted(KINDS)}")
    history = rec.get("history", [])
    if not isinstance(history, list) or not all(
        isinstance(m, dict)
        and set(m) == {"role", "content"}
        and m["role"] in ("user", "assistant")
        and isinstance(m["content"], str)
        and m["content"].strip()
        for m in history
    ):
        errors.append(
            'history must be a list of {"role": "user"|"assistant", "content": non-empty string}'
        )
    if errors:
        return errors

    unanswerable = answer == UNANSWERABLE
    if unanswerable or kind == "unanswerable":
        if not (unanswerable and kind == "unanswerable"):
            errors.append(
                'answer "UNANSWERABLE" and kind "unanswerable" must go together'
            )
        if doc is not None or page is not None:
            errors.append("unanswerable questions must have doc and page null")
        if aliases:
            errors.append("unanswerable questions must have no answer_aliases")
        return errors

    if not isinstance(doc, str) or not corpus.exists(doc):
        return [f"doc {doc!r} is not a file in {corpus.root}"]
    pages = page if isinstance(page, list) else [page]
    if not pages or not all(
        isinstance(p, int) and not isinstance(p, bool) for p in pages
    ):
        return [f"page {page!r} must be an int or a non-empty list of ints"]
    if isinstance(page, list) and len(set(page)) != len(page):
        errors.append(f"page list {page!r} has duplicates")
    doc_pages = corpus.pages(doc)
    bad = [p for p in pages if not 1 <= p <= len(doc_pages)]
    if bad:
        return errors + [f"page(s) {bad} outside 1..{len(doc_pages)} for {doc}"]

    candidates = [answer, *aliases]
    if not any(answer_on_page(c, doc_pages[p - 1]) for p in pages for c in candidates):
        where = f"page {pages[0]}" if len(pages) == 1 else f"pages {pages}"
        errors.append(f"none of {candidates!r} found on {doc} {where}")
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "file", nargs="?", type=Path, default=DEFAULT_FILE, help="JSONL question set"
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=DEFAULT_CORPUS,
        help="directory holding the documents",
    )
    args = parser.parse_args(argv)
    logging.getLogger("pypdf").setLevel(logging.ERROR)

    if not args.corpus.is_dir():
        print(
            f"error: corpus directory {args.corpus} not found (pass --corpus DIR)",
            file=sys.stderr,
        )
        return 2
    try:
        lines = args.file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2

    corpus = Corpus(args.corpus)
    failures, total = 0, 0
    seen: dict[str, int] = {}
    by_doc: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        total += 1
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            errors = [f"invalid JSON: {exc}"]
        else:
            errors = check_record(rec, corpus)
            if isinstance(rec, dict) and isinstance(rec.get("question"), str):
                key = normalise(rec["question"])
                if key in seen:
                    errors.append(f"duplicate of the question on line {seen[key]}")
                seen.setdefault(key, lineno)
                by_doc[str(rec.get("doc"))] += 1
                by_kind[str(rec.get("kind"))] += 1
        for err in errors:
            print(f"{args.file}:{lineno}: {err}")
        failures += bool(errors)

    print(f"\n{total} questions, {total - failures} pass, {failures} fail")
    print("per doc:  " + ", ".join(f"{d}={n}" for d, n in sorted(by_doc.items())))
    print("per kind: " + ", ".join(f"{k}={n}" for k, n in sorted(by_kind.items())))
    return 1 if failures or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
