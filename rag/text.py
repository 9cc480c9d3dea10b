"""Words as the answer path compares them (pure functions): one stop list, one stemmer,
one reading of numbers. Retrieval, answer selection and claim verification all count
words through here, so a word matches the same way everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")


_WORD = re.compile(r"[a-z0-9]+")


_STOP = frozenset(
    """a an and are as at be been but by for from has have had how i in is it its of on or that the
    this to was were what when where which who will with does do did can could should would about
    into than then there these those their them they we you your our not no also may might must
    shall so such very more most other some any each both all one per based according document
    documents passage passages says said states answer""".split()
)


def content_words(text: str) -> set[str]:
    return {_stem(_canon(w)) for w in _WORD.findall(text.lower()) if w not in _STOP and (len(w) > 1 or w.isdigit())}


# Short forms people type for the words documents spell out, and British spellings read as
# American ones, so that "which github repo" finds "repository" and "licence" "license".
_SPELLED_OUT = {
    "repo": "repository",
    "repos": "repositories",
    "info": "information",
    "spec": "specification",
    "specs": "specifications",
    "config": "configuration",
    "params": "parameters",
    "param": "parameter",
    "org": "organization",
    "orgs": "organizations",
    "govt": "government",
    "dept": "department",
    "approx": "approximately",
    "max": "maximum",
    "min": "minimum",
    "pct": "percent",
    "licence": "license",
    "licences": "licenses",
    "licenced": "licensed",
    "defence": "defense",
    "offence": "offense",
    "centre": "center",
    "centres": "centers",
    "programme": "program",
    "programmes": "programs",
    "catalogue": "catalog",
    "colour": "color",
    "colours": "colors",
    "behaviour": "behavior",
    "behaviours": "behaviors",
    "favour": "favor",
    "honour": "honor",
    "labour": "labor",
    "neighbour": "neighbor",
    "harbour": "harbor",
    "analyse": "analyze",
    "analysed": "analyzed",
}


_BRITISH_ISE = re.compile(r"(?<=\w{3})is(?=(?:e|ed|es|ing|ation|ations)$)")


def _canon(w: str) -> str:
    """One spelling per word: "repo" -> "repository", "organisation" -> "organization"."""
    w = _SPELLED_OUT.get(w, w)
    return _BRITISH_ISE.sub("iz", w) if len(w) > 6 else w


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


_COUNTS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen".split()
    )
    if i >= 2
} | {"twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "hundred": "100"}


def counts(text: str) -> set[str]:
    """The counts in ``text`` spelled in words ("six" -> "6"), and its whole numbers up to 100
    ("5 essential characteristics"), so that a claim's "six" must appear as "six" or "6"."""
    words = {_COUNTS[w] for w in _WORD.findall(text.lower()) if w in _COUNTS}
    digits = {n for n in numbers(text) if n.isdigit() and 2 <= int(n) <= 100}
    return words | digits


def specific_terms(question: str) -> set[str]:
    """The question's names and identifiers: what a passage must mention to answer it.

    Identifiers ("DE.CM-9", "SBI_ERR_NO_SHMEM", "sbi_hart_start", "800-145"), acronyms and mixed-case names
    ("FaaS", "TriviaQA", "GPUs") and capitalised words inside the sentence ("Jupiter",
    "Parse"), lower-cased. Plain numbers, and numbers with a unit ("24-year-old",
    "3-day"), are left to :func:`numbers_in_context`. A capitalised word that opens a
    quotation ("the subcategory 'Remote access is managed'") is a sentence start, not a name.
    """
    out: set[str] = set()
    for i, m in enumerate(re.finditer(r"[\w][\w.\-]*[\w]|\w", question)):
        w = re.sub(r"(?:'s|’s)$", "", m.group(0))
        if w.isdigit() or len(w) < 2 or _NUMBER_WITH_UNIT.match(w):
            continue
        lw = w.lower()
        ident = (
            bool(re.search(r"\d", w) and re.search(r"[A-Za-z]", w))
            or bool(re.search(r"\w[._\-]\w", w) and re.search(r"\d|[A-Z]{2}", w))
            or bool(re.search(r"[A-Za-z]_[A-Za-z]", w))  # snake_case: "sbi_pmu_counter_fw_read"
        )
        mixed = bool(re.search(r"[a-z][A-Z]|[A-Z]{2}", w))
        opens_quote = question[max(0, m.start() - 1) : m.start()] in ("'", '"', "‘", "“")
        proper = i > 0 and w[0].isupper() and lw not in _STOP and not opens_quote
        if ident or mixed or proper:
            out.add(lw)
    return out


_NUMBER_WITH_UNIT = re.compile(r"\d+(?:[.,]\d+)?(?:-[a-z]+)+$")


def _acronym_expanded(acronym: str, text: str) -> bool:
    """``text`` spells out ``acronym`` as capitalised words ("EO" ~ "Executive Order")."""
    if not (2 <= len(acronym) <= 6 and acronym.isalpha() and acronym.isupper()):
        return False
    pattern = r"\b" + r"[\w’'\-]*[\s\-]+".join(re.escape(c) for c in acronym) + r"[\w’'\-]*"
    if re.search(pattern, text):
        return True
    # One word may give two letters of a longer acronym: "CSF" ~ "Cybersecurity Framework".
    for k in range(len(acronym) - 1 if len(acronym) >= 3 else 0):
        letters = [re.escape(c) for c in acronym]
        letters[k : k + 2] = [f"{letters[k]}[a-z]+{letters[k + 1].lower()}"]
        if re.search(r"\b" + r"[\w’'\-]*[\s\-]+".join(letters) + r"[\w’'\-]*", text):
            return True
    return False


def doc_words(name: str) -> str:
    """A file name as words: "docs/fips-199-security.pdf" -> "fips 199 security pdf"."""
    return re.sub(r"[-_.]+", " ", name.rsplit("/", 1)[-1])


def missing_specifics(question: str, texts: Sequence[str]) -> list[str]:
    """The question's names, identifiers and numbers that none of ``texts`` mentions.

    A question about "Tier 5", "DE.CM-9" or "TriviaQA" cannot be answered from passages
    that never mention them, however similar they are otherwise. An acronym counts as
    mentioned when the passages spell it out ("EO 12958" ~ "Executive Order 12958").
    """
    joined = " ".join(texts)
    low = joined.lower()
    acronyms = {w.lower(): w for w in re.findall(r"\b[A-Z]{2,6}\b", question)}
    missing = [
        t
        for t in sorted(specific_terms(question))
        if t not in low
        and not (t.endswith("s") and t[:-1] in low)
        and not (t in acronyms and _acronym_expanded(acronyms[t], joined))
    ]
    missing += sorted(numbers(question) - numbers(low))
    return missing


def _stem(w: str) -> str:
    """A light, consistent stem: inflections off, then a doubled last consonant and a final
    "e" off, so "labelled" ~ "label", "studies" ~ "study", "taking" ~ "take", "called" ~ "call",
    "shelves" ~ "shelf"."""
    if not w.isalpha():
        return w
    if len(w) > 5 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 5 and w.endswith("elves"):  # "shelves" ~ "shelf"
        w = w[:-3] + "f"
    else:
        for suffix in ("ing", "ed", "es", "s"):
            if w.endswith(suffix) and (len(w) > len(suffix) + 3 or _short_inflected(w[: -len(suffix)], suffix)):
                w = w[: -len(suffix)]
                break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiou":
        w = w[:-1]
    if w.endswith("e") and (len(w) > 3 or (len(w) == 3 and w[-2] not in "aeiou")):  # "use" ~ "us|ed"
        w = w[:-1]
    return w


stem = _stem


def _short_inflected(base: str, suffix: str) -> bool:
    """Whether a short word is ``base`` inflected: "tuned" (tune), "taking" (take), "used",
    "days" - but not "embed", "speed", "string", "bring", "thus" or "less"."""
    if suffix == "s":
        return len(base) == 3 and base[-1] not in "su"
    if suffix == "es":
        return False
    # "tun|ed", "tak|ing", "us|ed": a consonant after a vowel, the silent "e" gone
    return len(base) >= 2 and base[-1] not in "aeiouy" and base[-2] in "aeiou"


def share(wanted: set[str], have: set[str], optional: set[str] | frozenset[str] = frozenset()) -> float:
    """Share of ``wanted`` in ``have``; words of ``optional`` count only where present."""
    wanted = wanted - (optional - have)
    return len(wanted & have) / len(wanted) if wanted else 0.0
