"""Finding the passage sentence that best answers a question (pure functions).

Used when the model's reply cannot be verified against the passages: instead of an
unsourced answer, the user gets the best-matching sentence quoted from the page, with
its citation — or an honest abstention when no sentence matches well enough.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ingest.chunking import split_sentences
from rag.citations import content_words, doc_words, is_yes_no, numbers
from rag.store import numbered_labels
from rag.types import Hit


@dataclass
class Quote:
    n: int  # 1-based passage number
    start: int  # offsets in the passage text
    end: int
    text: str
    lexical: float  # share of the question's content words in the sentence's context
    semantic: float
    score: float
    shown: str = ""  # the answer's wording, when it is not the quoted text itself (a table row)
    defines: bool = False  # it defines or expands the term the question asks about


_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    "forty|fifty|hundred|thousand|million|billion|dozen|half"
)
_NUMBERISH = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.I)
_DATEISH = re.compile(
    r"\b(?:1[5-9]\d\d|20\d\d|january|february|march|april|may|june|july|august|september|october|"
    r"november|december)\b",
    re.I,
)
_TIMEISH = re.compile(
    # "six o'clock", not "what o'clock it is"
    r"\b\d{1,2}(?::\d\d)?\s*(?:a\.?m\.?|p\.?m\.?)|\b\d{1,2}:\d\d\b|"
    r"\b(?:\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\s+o[\u2019']clock|"
    r"\bnoon\b|\bmidnight\b",
    re.I,
)
_NUMBER_WORD = (
    r"\d[\d,.]*|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    r"forty|fifty|sixty|hundred|thousand|half|several|few"
)
_LENGTH_UNITS = (
    r"inch(?:es)?|foot|feet|yards?|miles?|mm|cm|km|metres?|meters?|millimet(?:re|er)s?|centimet(?:re|er)s?|"
    r"kilomet(?:re|er)s?|bits?|bytes?|[KMGT]i?B"
)
_TIME_UNITS = r"seconds?|minutes?|hours?|days?|nights?|weeks?|months?|years?|decades?|centuries|century"
_OTHER_UNITS = r"grams?|kg|kilograms?|pounds?|lbs?|ounces?|tons?|tonnes?|mph|knots?|km/h"


def _quantity(units: str) -> re.Pattern:
    """A quantity with its unit: "three inches", "8 minutes", "about one year", "20 bits"."""
    return re.compile(rf"\b(?:{_NUMBER_WORD})(?:\s+and\s+a\s+half)?[\s-]*(?:{units})\b", re.I)


_LENGTH = _quantity(_LENGTH_UNITS)  # how tall, high, wide, deep, far
_AGE = re.compile(  # how old: "seven and a half years", "Jeffrey Emanuel, 42,", not "once a week"
    r"(?<=[A-Za-z]),\s*\d{1,3}\s*,|\baged?\s+\d{1,3}\b|\b(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred)"
    r"(?:\s+and\s+a\s+half)?[\s-]+(?:years?|months?)\b",
    re.I,
)
_MONEY = re.compile(
    r"[$\u20ac\u00a3]\s?\d|\b\d[\d,.]*\s*(?:million\s+|billion\s+)?(?:dollars?|usd|euros?|cents?)\b", re.I
)
_DURATION = _quantity(_TIME_UNITS)  # how long does it take, how long ago
_WITH_UNIT = _quantity(f"{_LENGTH_UNITS}|{_TIME_UNITS}|{_OTHER_UNITS}")  # how long, old, heavy, fast
_SUBCATEGORY = r"[A-Z]{2,}\.[A-Z]{2,}(?:-\d+)?"  # "PR.DS-1", "ID.SC"
_CODEISH = re.compile(rf"\b(?:{_SUBCATEGORY}|[A-Za-z]+\d\w*|[A-Za-z]+_\w+|0x[0-9A-Fa-f]+)\b")
_NAMEISH = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+|\b[A-Z]{2,}\b|\b[A-Za-z]+-?\d[\w-]*")


def answer_type(question: str) -> re.Pattern | None:
    """What the answer to ``question`` looks like, when its wording says so.

    "How many / how tall / what percentage ..." want a quantity, "when / what year"
    a date, "who / what is the name" a name. Unknown types give None.
    """
    q = question.lower()
    if re.search(r"\bwhat time\b|\bat what hour\b", q):
        return _TIMEISH
    # "When was ...", not "When categorizing an information type, ..." nor "... when he mistakes her"
    if re.search(
        r"\bwhen\s+(?:was|were|did|does|do|is|are|will|has|have|had|can|could|should)\b|"
        r"\bwhat (?:year|date|month|day)\b|\bwhich year\b|\bin what year\b",
        q,
    ):
        return _DATEISH
    if re.search(r"\bhow (?:tall|high|wide|deep|far)\b", q):
        return _LENGTH  # a number with its unit of length
    if re.search(
        r"\bhow long\b.*\b(?:last|lasts|lasted|take|takes|took|ago|after|afterwards|later|before|until|wait|stay|steep|live)\b",
        q,
    ):
        return _DURATION  # "how long does it take": a time, not a length
    if re.search(r"\bhow old\b", q):
        return _AGE  # "seven and a half years", not "a minute"
    if re.search(
        r"\bhow much\b.*\b(?:pay|paid|pays|cost|costs|charge|charged|spend|spent|fee|price|worth)\b|"
        r"\bhow (?:many|much) (?:dollars|money)\b|\bwhat (?:dollar|money)\s+amount\b|"
        r"\bwhat (?:is|was|are|were) the (?:\w+ )?(?:price|cost|fee)s?\b",
        q,
    ):
        return _MONEY  # an amount of money: "$75", "19 dollars"
    if re.search(r"\bhow (?:long|heavy|fast)\b", q):
        return _WITH_UNIT  # a length, a duration, an age, a weight, a speed
    if re.search(
        r"\bhow (?:many|much|large|big|often)\b|\bwhich\s+(?:[\w-]+\s+){0,3}?number\b|"
        r"\b(?:what|which)\s+(?:[\w-]+\s+){0,2}?(?:version|release)\b(?!\s+v?\d)|"
        r"\bwhat (?:percentage|percent|number|rate|size|amount|fraction|share|score|accuracy|value)\b|"
        r"\bwhat [\w-]+ (?:rate|size|percentage|accuracy|score)\b|"
        r"\bwhat (?:is|are|was|were) the (?:\w+ )?(?:minimum|maximum|limit|cost|price|fee|fine|length|duration)\b",
        q,
    ):
        return _NUMBERISH
    if re.search(
        r"\b(?:what|which)\s+(?:\S+\s+){0,3}?(?:id|identifier|register|code|abbreviation|acronym)\b(?!\s+\d)", q
    ) or re.match(r"\s*(?:the\s+)?(?:[\w-]+\s+){0,2}?(?:id|identifier|code|abbreviation|acronym)\s+(?:of|for)\b", q):
        return _CODEISH  # also typed as keywords: "subcategory ID for running vulnerability scans"
    if re.search(
        r"\bwho\b|\bwhom\b|\bwhat (?:is|was) (?:the|its|his|her|their) name\b|\bwhat name\b|"
        r"^\s*what (?:is|are|was|were) [^?]+ (?:called|named)\b",
        q,
    ):
        return _NAMEISH
    if re.search(rf"\bwhich\s+(?:[\w-]+\s+){{0,2}}?(?:{_NAMED_KINDS})\b", q) or re.search(
        rf"\bwhat\s+(?!{_NOT_KIND}\b)(?:[\w-]+\s+)?(?:{_NAMED_KINDS})\b", q
    ):
        return _NAMEISH  # "which retriever", "what pretrained model": things known by their names
    return None


# "Who wrote ...", "the authors of ...": answered by a byline ("Authors: Jon Saad-Falcon, ...",
# "Author/publisher: Peter Mell and Timothy Grance", "by Lewis Carroll").
_ASKS_AUTHOR = re.compile(
    r"\bwho\s+(?:wrote|authored|(?:is|are|was|were)\s+the\s+(?:authors?|writers?))\b|\bauthors?\s+of\b", re.I
)
_BYLINE = re.compile(r"\b[Aa]uthors?\b(?:\s*/\s*\w+)?\s*:\s*[A-Z]|\b(?:written|authored|by)\s+[A-Z][a-z]+\s+[A-Z]")


# A sentence that only says where its content is: "... are defined below.", "as follows:",
# "... are shown in Table 2."
_POINTER = re.compile(
    r"(?:\b(?:below|as\s+follows|following)|\b(?:shown|listed|given|summari[sz]ed|described|defined)\s+in\s+"
    r"(?:the\s+)?(?:table|figure|section|appendix)\s*[\w.-]*)\s*[:.]?\s*$|:\s*$",
    re.I,
)


# A sentence cut off before its end: "The remote fence function acts as a full TLB flush if"
# (the condition follows as a bullet).
_DANGLING = re.compile(
    r"\b(?:if|when|whether|unless|where|of|the|a|an|to|and|or|as|that|with|for|by|in|on|is|are|be|than)\s*$", re.I
)


# Questions about a document itself, which a list of sources answers by naming it.
_ABOUT_DOC = re.compile(
    r"\b(?:licen[cs]e[ds]?|copyright|publisher|published|downloaded|url|doi|sources?|came from)\b", re.I
)


# "according to NIST SP 800-145", "In ARES, ...", "... in the NIST cloud definition?"
_SOURCE_PHRASE = re.compile(
    r"\b(?:according\s+to|as\s+(?:defined|described|stated|given|listed)\s+(?:in|by))\s+(?P<src>[^,?]+)"
    r"|^\s*(?:in|per|under)\s+(?P<lead>[^,?]+),|\bin\s+(?:the\s+)?(?P<tail>[^,?]+?)\s*\??\s*$",
    re.I,
)


# "When was FIPS Publication 199 issued?": the date a document carries on its title page,
# on a line of its own ("February 2004", "April 16, 2018").
_ASKS_ISSUED = re.compile(r"\b(?:issued|published|released|dated|approved|came\s+out)\b", re.I)
_DATE_LINE = re.compile(
    r"^[ \t]*(?:(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"\s+(?:\d{1,2},?\s+)?)?(?:1[5-9]\d\d|20\d\d)[ \t]*$",
    re.M,
)


def title_date(question: str, hit: Hit) -> tuple[int, int] | None:
    """The span of the date on the title page of the document a question asks the date of.

    Only for "when was <document> issued / published / released" where the passage is page
    1 of a document the question names by its number ("FIPS Publication 199" for
    fips-199-....pdf), and the question asks no number the title page lacks: "When was
    Version 1.0 of the Framework issued?" is not answered by Version 1.1's cover.
    """
    if hit.page != 1 or answer_type(question) is not _DATEISH or not _ASKS_ISSUED.search(question):
        return None
    named = naming_numbers(question, hit.doc)
    if not named or not (numbers(question) - named) <= numbers(hit.text):
        return None
    m = _DATE_LINE.search(hit.text)
    return (m.start(), m.end()) if m else None


# Kinds of things known by a proper name ("which retriever" -> "ColBERTv2").
_NAMED_KINDS = (
    r"retrievers?|implementations?|extensions?|organi[sz]ations?|compan(?:y|ies)|agenc(?:y|ies)|"
    r"institutes?|universit(?:y|ies)|persons?|people|authors?|tools?|librar(?:y|ies)|frameworks?|"
    r"standards?|orders?|acts?|laws?|products?|projects?|programs?|programmes?|languages?|datasets?|"
    r"benchmarks?|countr(?:y|ies)|cit(?:y|ies)|teams?|departments?|papers?|books?|characters?|llms?|"
    r"(?:pre-?trained|language|base|foundation|embedding|judge|generative|llm)\s+models?"
)
# Words after "what" that start a question about something else ("what does the framework ...").
_NOT_KIND = (
    r"(?:is|are|was|were|does|do|did|has|have|had|can|could|should|would|will|the|a|an|this|that|kind|type|sort)"
)
_QUOTE = "\"'\u2018\u2019\u201c\u201d"
_FOCUS = [
    # "What does FIPS 199 mean by an 'executive agency'?": the term after "mean by"
    re.compile(rf"\bmeans?\s+by\s+(?:(?:an?|the)\s+)?[{_QUOTE}]?(?P<t>[^?{_QUOTE}]+?)[{_QUOTE}]?\s*(?:\?|$)", re.I),
    # "What does PPI stand for", "what category does RS.MI stand for", "what does a loss of availability
    # (actually) mean"
    re.compile(
        rf"\bdo(?:es)?\s+(?:the\s+)?(?:abbreviation|acronym|term)?\s*[{_QUOTE}]?(?P<t>[^?{_QUOTE}]+?)[{_QUOTE}]?"
        r"\s+(?:(?:actually|really|exactly|precisely)\s+)?(?:stand\s+for|mean)\b",
        re.I,
    ),
    # "ISAO stands for?", "what CSF stands for"
    re.compile(
        rf"^(?:what\s+(?:does\s+)?)?[{_QUOTE}]?(?P<t>[^?{_QUOTE}]+?)[{_QUOTE}]?\s+stands?\s+for\s*\??\s*$", re.I
    ),
    # "How does FIPS 199 define an 'information type'?"
    re.compile(
        rf"\b(?:defines?|describes?)\s+(?!(?:for|in|as|by|under|with|on|to|at)\b)(?:(?:an?|the)\s+)?"
        rf"[{_QUOTE}]?(?P<t>[^?{_QUOTE}]+?)[{_QUOTE}]?\s*(?:\?|$)",
        re.I,
    ),
    # "What does the glossary list under the term security objective?"
    re.compile(rf"\bthe\s+(?:term|entry)\s+[{_QUOTE}]?(?P<t>[^?{_QUOTE}]+?)[{_QUOTE}]?\s*(?:\?|$)", re.I),
    # "What does the glossary say a taxonomy is?"
    re.compile(r"\bsays?\s+(?P<t>[^?]+?)\s+(?:is|are|means)\s*\??$", re.I),
    re.compile(
        r"\b(?:definition|meaning)\s+of\s+(?P<t>[^?,]+?)\s*\??$|\bwhat\s+is\s+meant\s+by\s+(?P<u>[^?,]+?)\s*\??$", re.I
    ),
    # "What is a cloud infrastructure?", "what is PaaS?" (not "what is the name of ...")
    re.compile(r"\bwhat\s+(?:is|are)\s+(?!(?:the|its|his|her|their|this|that)\b)(?P<t>[^?,]+?)\s*\??$", re.I),
]


def focus_term(question: str) -> str | None:
    """The term a definition question asks about ("What does PPI stand for in the ARES
    paper?" -> "PPI", "How does the glossary define a cybersecurity incident?" ->
    "cybersecurity incident"), or None for other questions."""
    for pattern in _FOCUS:
        m = pattern.search(question.strip())
        if m:
            term = m.group("t") if m.group("t") else m.group("u")
            lead = re.match(r"^\s*(?P<t>[^-\u2013\u2014:,?]+?)\s*[-\u2013\u2014:,]", question)
            if term.strip().lower() in ("it", "this", "that", "they", "these") and lead:
                term = lead.group("t")  # "SEE in the SBI spec - what does it stand for?"
            term = re.sub(r"^(?:a|an|the)\s+", "", term.strip().strip(_QUOTE).strip(), flags=re.I).strip(_QUOTE)
            term = re.sub(r"\s+in\s+the\s+.*$", "", term)  # "PPI in the ARES paper" (stand-for form)
            # "a cybersecurity incident according to the CSF glossary": where to look, not the term
            term = re.sub(r"\s+(?:according\s+to|as\s+(?:defined|used)\s+(?:in|by)|per)\s+.*$", "", term, flags=re.I)
            if re.search(r"\b(?:called|named|known\s+as)$", term):
                return None  # "What is Implementation Tier 3 called?" asks for a name, not a definition
            if 0 < len(term.split()) <= 6:
                return term
    return None


def defines(text: str, term: str, expansion_only: bool = False) -> bool:
    """``text`` defines or expands ``term``: an expansion before it in brackets
    ("prediction-powered inference (PPI; ...", "Mitigation (RS.MI):", "The Framework
    Profile (“Profile”) is ..."), or a definition or glossary entry that starts with it
    ("A cloud infrastructure is ...", "Taxonomy A scheme of classification.", "Availability:
    ...") or starts a clause after a sentence-like break ("... [44 U.S.C., SEC. 3542] A loss
    of confidentiality is ...")."""
    t = r"\s+".join(re.escape(w) for w in term.split())
    if re.search(rf"[A-Za-z][\w-]*\s+\(\s*[{_QUOTE}]?(?i:{t})[{_QUOTE}]?\s*[;,):]", text) or _spelled_out(term, text):
        return True
    return not expansion_only and definition_start(text, term) is not None


def definition_start(text: str, term: str) -> int | None:
    """Where in ``text`` a definition of ``term`` starts (see :func:`defines`), or None."""
    t = r"\s+".join(re.escape(w) for w in term.split())
    head = rf"(?i:(?:an?\s+)?{t})(?:\s*\([^)]{{1,40}}\))?"
    lead = re.match(
        rf"^[\s\d.\u2022*#\-\])]*({head})"
        r"(?:\s+(?i:is|are|means|refers\s+to)\b|\s*[:\u2014\u2013]\s*\S|\.?\s+[A-Z][a-z]*\s+[a-z])",
        text,
    )
    if lead:
        return lead.start(1)
    # After punctuation ("... SEC. 3542] A loss of ..."), or after a heading run into the
    # sentence ("Information Security A security incident is ...").
    inner = re.search(
        rf"(?:[.;:\])\u201d\"]|^\s*(?:(?!(?:The|A|An|This|That|These|Those|Each|Every|Its|Our|Their)\b)[A-Z][\w-]*\s+){{1,5}})\s*({head})\s+(?i:is|are|means|refers\s+to)\b",
        text,
    )
    if inner:
        return inner.start(1)
    # A glossary entry after the previous entry's reference: "... SEC. 3542] INFORMATION SYSTEM: A ..."
    entry = re.search(rf"[.;\])]\s*({head})\s*:\s*[A-Z]", text)
    return entry.start(1) if entry else None


def _definition_cut(text: str, focus: str | None, codes: set[str], row: bool) -> tuple[tuple[int, int], bool] | None:
    """The part of a defining candidate to quote, and whether it is an identifier's entry:
    the entry cut from the references beside it ("4 CM-3, SA-10 PR.IP-4: Backups ... CIS CSC
    10"), an acronym's line in a table of terms ("PMU Performance Monitoring Unit"), or the
    text from where the definition starts ("... SEC. 3542] A loss of confidentiality is
    ..."). None when the whole candidate is the quote."""
    for c in codes:
        span = entry_span(text, c)
        if span is not None:
            return span, True
    if focus is None or row:
        return None
    a, b = acronym_line(text, focus) or (0, len(text))
    k = definition_start(text[a:b], focus) or 0
    if (a + k, b) == (0, len(text)):
        return None
    return (a + k, b), False


def acronym_line(text: str, term: str) -> tuple[int, int] | None:
    """The line of a multi-line ``text`` that is an acronym's entry in a table of terms:
    it starts with the acronym and spells it out ("PMU Performance Monitoring Unit")."""
    if "\n" not in text.strip() or not re.fullmatch(r"[A-Z]{2,8}", term):
        return None
    pos = 0
    for line in text.split("\n"):
        if re.match(rf"\s*{term}\b", line) and _spelled_out(term, line):
            lead = len(line) - len(line.lstrip())
            return pos + lead, pos + len(line.rstrip())
        pos += len(line) + 1
    return None


# A numbered part of the document itself: its "entry" is a caption or heading, not an answer.
_CAPTION = re.compile(r"(?:table|figure|fig|chapter|section|appendix|page|part|step|example)\b")

_JOINERS = {"of", "and", "for", "the", "in", "on", "to", "&"}


def _spelled_out(acronym: str, text: str) -> bool:
    """``text`` spells ``acronym`` out in capitalised words ("Supervisor Binary Interface"
    for SBI, "National Institute of Standards and Technology" for NIST)."""
    if not re.fullmatch(r"[A-Z]{2,8}", acronym):
        return False
    words = re.findall(r"[A-Za-z]+|&", text)
    for i in range(len(words)):
        k, j = 0, i
        while j < len(words) and k < len(acronym):
            w = words[j]
            if w[0].isupper() and w[0] == acronym[k]:
                k += 1
            elif not (k > 0 and w.lower() in _JOINERS):
                break
            j += 1
        if k == len(acronym):
            return True
    return False


# An entry "CODE: text": the code standing alone, a colon not followed by a digit (not
# "27001:2013"), then the text.
_ENTRY_START, _ENTRY_COLON = r"(?<![\w.\-])", r":(?!\d)[ \t]*"


def _label_pattern(label: str) -> str:
    return r"\s+".join(map(re.escape, label.split()))


def _names_label(text: str, label: str) -> bool:
    return bool(re.search(rf"\b{_label_pattern(label)}\b", text, re.I))


def _asks_for_label(question: str, label: str) -> bool:
    """Whether the question asks what a numbered part is ("what is step 2?", "what does
    Table 5 show?"), not where to look ("In Table 1, what accuracy ...")."""
    lab = _label_pattern(label)
    return bool(
        re.search(rf"\b(?:is|are|was|were|does|do|did|says?)\s+(?:the\s+)?{lab}\b", question, re.I)
        or re.search(rf"\b{lab}\s*(?:called|named|about)?\s*\??\s*$", question, re.I)
    )


def _entry(code: str) -> re.Pattern:
    return re.compile(rf"{_ENTRY_START}(?i:{re.escape(code)}){_ENTRY_COLON}\S")


def _is_heading(sentence: str) -> bool:
    """A title of up to three words ("Hybrid cloud.", "Tier 3"), not dialogue."""
    words = sentence.split()
    return 0 < len(words) <= 3 and words[0][:1].isupper() and not any(c in sentence for c in _QUOTE)


def _is_label(sentence: str, term: str) -> bool:
    """``sentence`` is only ``term`` ("Hybrid cloud." for "hybrid cloud")."""
    words = content_words(sentence)
    return bool(words) and words <= content_words(term)


def labels(text: str, code: str) -> bool:
    """``text`` holds the entry for the identifier ``code``: "PR.IP-4: Backups of information
    are conducted ..." or "Mitigation (RS.MI): Activities are performed ..."."""
    return bool(_entry(code).search(" ".join(text.split()))) or defines(text, code, expansion_only=True)


def entry_span(text: str, code: str) -> tuple[int, int] | None:
    """Where the entry "CODE: ..." in ``text`` starts and ends: up to the first blank line or
    table row after it ("CIS CSC 10", the references beside a subcategory), else the end."""
    m = _entry(code).search(text)
    if m is None:
        return None
    end = len(text)
    pos = text.find("\n", m.start())
    while pos != -1:
        nxt = text.find("\n", pos + 1)
        line = text[pos + 1 : nxt if nxt != -1 else len(text)].strip()
        if not line or _is_row(line) or line[0] in "\u2022\u25aa*-":  # a blank line, a table row, a new item
            end = pos
            break
        pos = nxt
    return m.start(), len(text[:end].rstrip())


def question_coverage(question: str, text: str, ignore: frozenset[str] = frozenset()) -> float:
    """Share of the question's content words found in ``text`` (its numbers count as words).

    Words in ``ignore`` do not count, unless they are all the question has.
    """
    return _share(_counted(content_words(question), ignore), content_words(text))


def _counted(words: set[str], ignore: frozenset[str] | set[str]) -> set[str]:
    return (words - ignore) or words


def _share(wanted: set[str], have: set[str], optional: set[str] | frozenset[str] = frozenset()) -> float:
    """Share of ``wanted`` in ``have``; words of ``optional`` count only where present."""
    wanted = wanted - (optional - have)
    return len(wanted & have) / len(wanted) if wanted else 0.0


def code_terms(text: str) -> set[str]:
    """Code-like terms, lower-cased: snake_case names, letters mixed with digits, dotted
    capitals ("sbi_hart_suspend", "PR.DS-1", "FLAN-T5", "RS.MI"); plain words and numbers
    are not."""
    return {
        t.lower()
        for t in re.findall(r"[A-Za-z0-9][\w.\-]*[A-Za-z0-9]", text)
        if "_" in t or (re.search(r"\d", t) and re.search(r"[A-Za-z]", t)) or re.search(r"[A-Z]\.[A-Z]", t)
    }


_NAMED_CODE = re.compile(
    r"((?:[A-Z][\w-]*|of|and|for|the|&)(?:\s+(?:[A-Z][\w-]*|of|and|for|the|&))+)\s*\(([^()\s]{2,16})\)"
)


_ID_ENTRY = re.compile(rf"{_ENTRY_START}({_SUBCATEGORY}){_ENTRY_COLON}(?=\S)")


def _code_of_asked_name(text: str, question: str, qwords: set[str]) -> int | None:
    """Where ``text`` gives a name from the question with its identifier in brackets after
    it: "Supply Chain Risk Management (ID.SC)" for "the identifier of the Supply Chain Risk
    Management category" - the reverse of an acronym's expansion. None if it does not."""
    for m in _NAMED_CODE.finditer(text):
        name, code, start = set(), m.group(2), None
        for word in reversed(list(re.finditer(r"\S+", m.group(1)))):  # the name's words nearest the bracket
            w = content_words(word.group(0))
            if not w <= qwords:
                break
            name |= w
            start = m.start(1) + word.start()
        if len(name) >= 2 and _CODEISH.fullmatch(code) and code.lower() not in question.lower():
            return start
    return None


def naming_numbers(question: str, doc: str) -> set[str]:
    """The question's numbers that name the document ``doc`` rather than ask about it: "199"
    in "When was FIPS Publication 199 issued?" for fips-199-security-categorization.pdf - a
    number of the file name with one of the file name's words just before it. The "0" of
    "implementation ID 0" is asked about, even in riscv-sbi-specification-v1-0.pdf."""
    return {t for t in doc_reference(question, doc) if t[0].isdigit()}


def doc_reference(question: str, doc: str) -> set[str]:
    """The words by which the question names the document ``doc``: a number of the file name
    and the file name's words just before it ("sp", "800", "145" of "What example does SP
    800-145 give ...?" for nist-sp-800-145-cloud-computing-definition.pdf)."""
    name = doc_words(doc.lower()).split()
    words, found = set(name), set()
    tokens = re.findall(r"[a-z]+|\d+(?:[.,]\d+)*", question.lower())
    for i, tok in enumerate(tokens):
        before = set(tokens[max(0, i - 2) : i])
        if tok[0].isdigit() and tok.replace(",", "") in name and words & before:
            found |= {tok.replace(",", "")} | (words & before)
    return found


_STOP_NAMES = frozenset(
    "in on at of to by for and or the a an is are was were from with than page pages section table figure".split()
)
_NAME_NUMBER = re.compile(r"\b([A-Za-z][A-Za-z-]*?)[\s-]?(\d+(?:\.\d+)*)\b(?![.,]?\d)")


def names_another(question: str, text: str, ignore: set[str] | frozenset[str] = frozenset()) -> bool:
    """Whether ``text`` speaks of another of what the question names by a name and a number:
    "LLaMA 2" for "How many times has LLaMA 3 been downloaded?", "Tier 2" for a question
    about "Tier 4" - and never of the one asked about."""
    said = {(w.lower(), n) for w, n in _NAME_NUMBER.findall(text) if len(w) > 1}
    for word, num in _NAME_NUMBER.findall(question):
        w = word.lower()
        if len(w) < 2 or w in _STOP_NAMES or num in ignore:  # "SP 800-145" names a document
            continue
        others = {n for sw, n in said if sw == w}
        if others and num not in others:
            return True
    return False


def narrow_answer(question: str, text: str) -> bool | None:
    """Whether ``text`` holds what the question asks for when that is of a narrow kind: a
    time of day or a quantity with its unit ("six o'clock", "three inches", "16 hours"),
    not already in the question. None when the question asks for no such thing. For a plain
    number ("how many", "which ... number") only its absence tells: False when ``text`` has
    none beyond the question's own and years, else None."""
    if _measured(question, text):
        return True  # "... with a 5e-6 learning rate" for "What learning rate ...?"
    want = answer_type(question)
    if want is _NUMBERISH:
        # A plain number is too common to lower the coverage gate for; its absence still refuses.
        return False if lacks_number(question, text) else None
    if want not in (_TIMEISH, _LENGTH, _DURATION, _WITH_UNIT, _AGE, _MONEY):
        return None
    return _has_new(want, text, question)


_COUNTED = re.compile(
    r"\bhow many\s+((?:[\w-]+\s+){0,2}?[\w-]+)(?=\s+(?:are|is|was|were|do|does|did|have|has|had|can|could|will|would|of|in|on|a|an|the)\b|\s*[?,]|\s*$)",
    re.I,
)
_COUNT_TOKEN = re.compile(rf"^(?:{_NUMBER_WORD}|dozens?|hundreds|thousands|millions?|billions?)$", re.I)


def uncounted(question: str, text: str) -> bool:
    """Whether ``text`` names what a "how many" question counts but gives no count of it:
    "... deployable LLMs on commercial GPUs" for "How many GPUs were used?". A text that
    does not name it ("1,200 attendees" for "how many people attended") may still count it."""
    m = _COUNTED.search(question)
    if not m:
        return False
    counted = content_words(m.group(1))
    tokens = re.findall(r"[\w.,%-]*\w", text)
    where = [i for i, t in enumerate(tokens) if content_words(t) & counted]
    if not where:
        return False
    return not any(_COUNT_TOKEN.match(t) or re.search(r"\d", t) for i in where for t in tokens[max(0, i - 3) : i + 3])


# "What learning rate / batch size / sampling temperature ...": a measure asked for by its
# name. The sentence that gives it names it ("a learning rate of 5e-6"); one about the judges
# being fine-tuned, with other numbers in it ("gpt-3.5-turbo-16k"), does not answer. A bare
# "what temperature" is answered by "93 degrees Celsius", so only a named measure counts.
_NAMED_MEASURE = re.compile(
    r"\bwhat\s+(?!(?:is|was|are|were|the|a|an|its|their|his|her)\b)[\w-]+\s+(rate|size|accuracy|score|temperature)s?\b",
    re.I,
)


def asked_measure(question: str) -> str | None:
    """The named measure a question asks for ("learning rate" of "What learning rate ...?")."""
    m = _NAMED_MEASURE.search(question)
    return m.group(0).split(None, 1)[1] if m else None


_VALUE = r"[-+]?\d[\d.,]*(?:e-?\d+)?%?"


def _measured(question: str, text: str) -> bool:
    """Whether ``text`` gives the value of the measure the question names ("a 5e-6 learning
    rate", "learning rate of 5e-6"): a number within two words of the measure's name."""
    measure = asked_measure(question)
    if not measure:
        return False
    name = r"\s+".join(re.escape(w) for w in measure.split()) + r"s?"
    near = rf"(?<![\w.]){_VALUE}(?:\W+\w+){{0,2}}?\W+{name}\b|\b{name}(?:\W+\w+){{0,2}}?\W+{_VALUE}(?![\w.])"
    return re.search(near, text, re.I) is not None


def unnamed_measure(question: str, text: str) -> bool:
    """Whether the question asks for a named measure ("what learning rate") that ``text``
    never names."""
    m = _NAMED_MEASURE.search(question)
    return bool(m) and not content_words(m.group(1)) <= content_words(text)


_COUNT_WORD = re.compile(rf"\b(?:{_NUMBER_WORDS})\b", re.I)
_YEAR = re.compile(r"(?<![\d,.])(?:1[5-9]\d\d|20\d\d)(?![\d,.]\d)")
# A pointer to another part of the text: "section 5", "Table 2", "Fig. 3", "[12]", "[3, 4]".
_REFERENCE = re.compile(
    r"\b(?:sections?|subsections?|tables?|figures?|fig\.|chapters?|appendix|appendices|pages?|pp?\.|"
    r"eq\.|equations?|footnotes?)\s*\d+(?:\.\d+)*[a-z]?\b|\[\d+(?:\s*[,\u2013-]\s*\d+)*\]",
    re.I,
)


def lacks_number(question: str, text: str) -> bool:
    """A question for a number or a count ("how many", "what percentage", "which ... number")
    and a ``text`` that holds no number beyond the question's own."""
    if answer_type(question) is not _NUMBERISH or re.search(r"\bhow often\b", question, re.I):
        return False  # "how often" is answered by "twice daily" or "every June" as well
    asked = numbers(question) | {w.lower() for w in _COUNT_WORD.findall(question)}
    years = set(_YEAR.findall(text))  # "(September 2011)" counts nothing
    text = _REFERENCE.sub(" ", text)  # nor does "(see section 5)"
    return not (numbers(text) - years | {w.lower() for w in _COUNT_WORD.findall(text)}) - asked


PROXIMITY_WEIGHT = 0.05  # 0.075 and 0.1 lost "Tier 3: Repeatable" to a sentence with a name nearer the words
PROXIMITY_SPAN = 6  # words either side of the answer


def _near_answer(pattern: re.Pattern, text: str, question: str, qwords: set[str]) -> float:
    """Share of the question's words within a few words of the best-placed thing of the
    asked kind that the question does not name: for "How many bits wide is the PMU
    event_idx?", "The event_idx represents a hardware event ... is 20 bits wide" beats "...
    whereas the event_data is 64 bits wide" by the words beside "20"."""
    if not qwords:
        return 0.0
    ql = question.lower()
    best = 0.0
    for m in pattern.finditer(text):
        if m.group(0).lower() in ql:
            continue
        before = text[max(0, m.start() - 200) : m.start()].split()[-PROXIMITY_SPAN:]
        after = text[m.end() : m.end() + 200].split()[:PROXIMITY_SPAN]
        best = max(best, len(content_words(" ".join(before + after)) & qwords) / len(qwords))
    return best


def _has_new(pattern: re.Pattern, text: str, question: str) -> bool:
    """``text`` holds a token of ``pattern`` that the question does not already contain."""
    ql = question.lower()
    return any(m.group(0).lower() not in ql for m in pattern.finditer(text))


NARROW_MARGIN = 0.1  # how much lower a sentence holding the narrow answer may rank than the best


def best_quote(
    question: str,
    hits: Sequence[Hit],
    embed: Callable[[Sequence[str]], np.ndarray] | None = None,
    max_passages: int = 5,
    max_chars: int = 400,
) -> Quote | None:
    """The best of :func:`rank_quotes`; a sentence is widened by a short label right before it."""
    ranked = rank_quotes(question, hits, embed, max_passages, max_chars)
    if not ranked:
        return None
    best = ranked[0]

    measure = bool(_NAMED_MEASURE.search(question))

    def fits(q: Quote) -> bool:
        """Holds the kind of answer asked for: a time, a quantity with its unit; or a number
        with the measure's name ("learning rate ... 5e-6"). A plain number is too common a
        thing to prefer a lower sentence for."""
        said = q.shown or q.text
        narrow = narrow_answer(question, said)
        return narrow is not False and not unnamed_measure(question, said) if measure else bool(narrow)

    said = best.shown or best.text
    if (narrow_answer(question, said) is False or unnamed_measure(question, said)) and not best.defines:
        # "What time is it always at the tea party?": the best sentence that says a time,
        # when it ranks close to one that does not.
        close = [q for q in ranked[1:] if q.score >= best.score - NARROW_MARGIN and fits(q)]
        best = close[0] if close else best
    return best if best.shown or best.defines else _with_heading(best, hits[best.n - 1].text)


def rank_quotes(
    question: str,
    hits: Sequence[Hit],
    embed: Callable[[Sequence[str]], np.ndarray] | None = None,
    max_passages: int = 5,
    max_chars: int = 400,
) -> list[Quote]:
    """Candidate quotes from the top passages, best first: sentences, pairs of adjacent
    sentences, and table rows (read with their table's header line).

    A candidate is scored by how many of the question's content words it (and, a little,
    its neighbours) contains, by embedding similarity to the question, and by whether it
    holds the kind of thing the question asks for (a quantity, a date, a name) beyond the
    question's own words, and by whether it names the question's numbers and code-like
    terms ("sbi_hart_suspend") whole; earlier passages get a small bonus. Answers often sit in the
    sentence after the one that repeats the question's words ("'What prize?' said the
    Dodo. 'Only a thimble,' said Alice."): pairs of sentences are candidates too. In a
    table the answer is one row, which means something only under its header ("Animal
    2020 2021 2022 2023" over "Giant green anemone 318 331 349 362"). For a definition
    question ("What does PPI stand for?"), the sentence that defines or expands the term
    ranks first and is marked ``defines``.
    """
    want = answer_type(question)
    qnums = numbers(question)
    qwords = content_words(question)
    qcodes = code_terms(question)
    cands: list[tuple[int, int, int, str, str, float, float]] = []  # n, start, end, text, shown, lexical (gate, rank)
    parts: list[tuple[int, ...]] = []  # the sentences (indices into ``sentences``) of each candidate
    sentences: list[str] = []
    describing: set[int] = set()  # identifier entries describing what is asked, a title page's date
    focus = focus_term(question)
    # Words and numbers of the file names pick a document, not the sentence within it:
    # "coffee" in a question about coffee-brewing.txt says nothing about which sentence
    # answers, nor does "NIST SP 800-145" in "according to NIST SP 800-145" - in that
    # document's passages, or in a list of sources that names it. They are left out of the
    # coverage that ranks the sentences. The answer gate (RAG_MIN_QUOTE_COVERAGE) keeps
    # them, but does not count the words that name the passage's own document ("SP
    # 800-145") against a sentence that leaves them out. Of a name's numbers, only those the
    # question names the document by count ("FIPS 199", not the "0" of "ID 0" in
    # riscv-sbi-v1-0.pdf).
    refs = [doc_reference(question, h.doc) for h in hits[:max_passages]]
    named_nums = {t for ref in refs for t in ref if t[0].isdigit()}
    named_words = {w for h in hits[:max_passages] for w in content_words(doc_words(h.doc)) if not w.isdigit()}
    about_doc = want is _DATEISH or bool(_ASKS_AUTHOR.search(question) or _ABOUT_DOC.search(question))
    # "..., according to NIST SP 800-145?": words that only say where to look are not
    # asked of the sentence, not even by the answer gate.
    source = set()
    for m in _SOURCE_PHRASE.finditer(question):
        source |= content_words(m.group("src") or m.group("lead") or m.group("tail")) & (named_words | named_nums)
    qwords = _counted(qwords, source)
    for n, hit in enumerate(hits[:max_passages], 1):
        own_doc = {w for w in content_words(doc_words(hit.doc)) if not w.isdigit()}
        ranked_words = _counted(qwords, (own_doc if about_doc else named_words) | named_nums)
        # "SP 800-145" in "What example does SP 800-145 give ...?" is not asked of a sentence
        # of that document, though one that says it counts it.
        ref = content_words(" ".join(refs[n - 1])) & qwords
        spans = [(s, e) for s, e in split_sentences(hit.text) if e - s >= 12]
        # Each table row once, with whether the question names it.
        rows = [(r, head, _row_named(hit.text[r[0] : r[1]], qwords, qnums)) for r, head in table_rows(hit.text)]
        figures = {r for r, _, _ in rows if _value_cells(hit.text[r[0] : r[1]]) >= 3}  # rows of a table of figures
        table_end: dict = {}  # each header's last row's end: the caption follows it
        for r, head, _ in rows:
            table_end[head] = max(table_end.get(head, 0), r[1])
        first = len(sentences)
        sentences.extend(hit.text[s:e] for s, e in spans)
        for i in range(len(spans)):
            for width in (1, 2):
                if i + width > len(spans):
                    continue
                s, e = spans[i][0], spans[i + width - 1][1]
                if width == 2 and _is_heading(hit.text[spans[i + 1][0] : e]):
                    continue  # "... of the cloud provider. Hybrid cloud.": the next entry's title
                if e - s > max_chars * width or (width == 1 and e - s > max_chars):
                    continue
                if i + width < len(spans) and _DANGLING.search(hit.text[s:e]):
                    continue  # "... acts as a full TLB flush if" goes on in the next line's bullet
                lo = spans[max(0, i - 1)][0]
                hi = spans[min(len(spans) - 1, i + width)][1]
                own, ctx = content_words(hit.text[s:e]), content_words(hit.text[lo:hi])
                lex = 0.7 * _share(qwords, own, ref) + 0.3 * _share(qwords, ctx, ref)
                lex_rank = 0.7 * _share(ranked_words, own) + 0.3 * _share(ranked_words, ctx)
                inside = [(r, named) for r, _, named in rows if s <= r[0] and r[1] <= e]
                if len(inside) >= 2:  # a table read as one "sentence": a wall of numbers
                    if not any(named for _, named in inside) and not any(c in hit.text[s:e].lower() for c in qcodes):
                        continue  # about none of its rows, nor the identifier asked about
                    if sum(r in figures for r, _ in inside) >= 2:
                        continue  # a table of figures: its rows, under their column names
                    lex_rank -= 0.1  # its rows, under their header, read better
                cands.append((n, s, e, hit.text[s:e], "", lex, lex_rank))
                parts.append(tuple(range(first + i, first + i + width)))
        for (s, e), header, named in rows:
            if not named:
                continue
            head = hit.text[header[0] : header[1]] if header else None
            shown = read_row(head, hit.text[s:e], question)
            # The row's context: its header, the caption or sentence above the table, and
            # the caption below it ("Table 1: ... on Real-World RAG Systems").
            top = header[0] if header else s
            above = hit.text[max(0, top - 200) : top]
            below = caption_after(hit.text, table_end[header])
            own = content_words(f"{above} {head or ''} {hit.text[s:e]} {below}")
            lex, lex_rank = _share(qwords, own, ref), _share(ranked_words, own)
            cands.append((n, s, e, hit.text[s:e], shown, lex, lex_rank))
            parts.append((len(sentences),))
            sentences.append(f"{shown} ({below})" if below else shown)
        line = acronym_line(hit.text, focus) if focus else None
        if line is not None and not any(c[0] == n and c[1] <= line[0] and line[1] <= c[2] for c in cands):
            # "ISAO Information Sharing and Analysis Organization" in a list of acronyms too
            # long to be read as one sentence.
            own = content_words(hit.text[line[0] : line[1]])
            cands.append(
                (n, *line, hit.text[line[0] : line[1]], "", _share(qwords, own, ref), _share(ranked_words, own))
            )
            parts.append((len(sentences),))
            sentences.append(hit.text[line[0] : line[1]])
        dated = title_date(question, hit)
        if dated is not None:
            s, e = dated
            while hit.text[s].isspace():
                s += 1
            while hit.text[e - 1].isspace():
                e -= 1
            title = hit.text.lstrip().split("\n", 1)[0].strip()
            describing.add(len(cands))
            shown = f"{title}: {hit.text[s:e]}" if 0 < len(title) <= 80 else ""
            cands.append((n, s, e, hit.text[s:e], shown, 1.0, 1.0))
            parts.append((len(sentences),))
            sentences.append(shown or hit.text[s:e])
        if want is _CODEISH:
            # "Which subcategory ID covers protecting data at rest?": the entry whose text
            # says what the question describes ("PR.DS-1: Data-at-rest is protected").
            for m in _ID_ENTRY.finditer(hit.text):
                if m.group(1).lower() in question.lower():
                    continue
                s, e = entry_span(hit.text, m.group(1)) or (m.start(), m.end())
                said = content_words(hit.text[m.end() : e]) & qwords
                own = content_words(hit.text[s:e])
                if len(said) >= 2:
                    describing.add(len(cands))
                cands.append((n, s, e, hit.text[s:e], "", _share(qwords, own, ref), _share(ranked_words, own)))
                parts.append((len(sentences),))
                sentences.append(hit.text[s:e])
    if not cands:
        return []
    if embed is not None:
        # Each sentence is embedded once; a pair is the normalised sum of its two vectors.
        vecs = embed([question] + sentences)
        sent = vecs[1:]
        sem = np.empty(len(cands))
        for j, idx in enumerate(parts):
            v = sent[list(idx)].sum(axis=0)
            sem[j] = float(v @ vecs[0]) / max(float(np.linalg.norm(v)), 1e-9)
    else:
        sem = np.zeros(len(cands))
    # Per passage: the question's identifiers, and those plus its labels ("Tier 3", whose
    # entry "Tier 3: Repeatable" answers), that do not name the passage's own document.
    # A label whose number names a document ("FIPS PUB 199") is no entry to look up.
    # A numbered part the question asks for as typed, in any case ("what is step 2?"): its
    # entry ("Step 2: Orient.") answers, and a sentence that does not name it does not.
    asked_labels = [
        lab
        for lab in numbered_labels(question, any_case=True)
        if _asks_for_label(question, lab) and not numbers(lab) & named_nums
    ]
    qlabels = [lab for lab in numbered_labels(question) if not _CAPTION.match(lab) and not numbers(lab) & named_nums]
    qlabels += [lab for lab in asked_labels if lab not in qlabels]
    doc_codes = [{c for c in qcodes if c not in h.doc.lower()} for h in hits[:max_passages]]
    doc_entries = [
        codes | {lab for lab in qlabels if lab not in doc_words(h.doc.lower())}
        for codes, h in zip(doc_codes, hits[:max_passages])
    ]
    yes_no = is_yes_no(question)
    wants_author = bool(_ASKS_AUTHOR.search(question))
    stands_for = bool(re.search(r"\bstands?\s+for\b", question, re.I))  # wants the expansion
    out: list[Quote] = []
    for j, ((n, s, e, text, shown, lex, lex_rank), idx, sv) in enumerate(zip(cands, parts, sem)):
        read = shown or text
        if not yes_no and content_words(read) <= qwords and numbers(read) <= qnums:
            continue  # "Hybrid cloud." for "What is a hybrid cloud?": the question's own words
        score = 0.55 * lex_rank + 0.45 * float(sv) - 0.04 * (n - 1)
        if want is not None:
            score += 0.08 if _has_new(want, read, question) else -0.08
            score += PROXIMITY_WEIGHT * _near_answer(want, read, question, qwords)
        if read.count(" ") > 60:  # two long sentences read as a wall of text
            score -= 0.03
        # "The five Framework Core Functions are defined below.": the answer is elsewhere -
        # unless a count is asked, which such a sentence gives ("How many Functions ...?").
        if any(_POINTER.search(sentences[i]) for i in idx) and not (
            want is _NUMBERISH and _has_new(want, read, question)
        ):
            score -= 0.15
        if wants_author and _BYLINE.search(read):
            score += 0.2
        asked = qnums - named_nums  # "FIPS 199" names a document, not the answer
        if asked:
            score += 0.08 if asked <= numbers(read) else -0.04
        codes = doc_codes[n - 1]
        if codes:  # "sbi_hart_suspend", "RS.MI": the answer names them whole
            named = sum(c in read.lower() for c in codes)
            score += 0.1 if named == len(codes) else -0.05 if named == 0 else 0.0
        # The term asked about, defined: the answer, however few question words it repeats.
        # Only a single sentence: in a glossary the next sentence is the next entry.
        flat = " ".join(text.split())
        # "Hybrid cloud. The cloud infrastructure is ...": a label sentence and its definition.
        label_first = len(idx) == 2 and focus is not None and _is_label(sentences[idx[0]], focus)
        entries = doc_entries[n - 1]
        labelled = [lab for lab in qlabels if lab in entries]
        if labelled and not any(_names_label(read, lab) for lab in labelled):
            score -= 0.1  # "What is Implementation Tier 3 called?": a sentence without "Tier 3"
        # "Supply Chain Risk Management (ID.SC)": the identifier of what is asked about
        named_at = _code_of_asked_name(text, question, qwords) if want is _CODEISH else None
        defined = (len(idx) == 1 or label_first) and (
            (focus is not None and defines(flat, focus, stands_for))
            or any(labels(flat, c) for c in entries)
            or named_at is not None
            or j in describing
        )
        if stands_for and focus is not None and not defined:
            score -= 0.2  # "What does SEE stand for?" is answered by its expansion only
        if defined:
            score += 0.3
            cut = _definition_cut(text, focus, entries, bool(shown))
            if cut is None and named_at:
                cut = (named_at, len(text)), False
            if cut is not None:
                (a, b), entry = cut
                s, e, text = s + a, s + b, text[a:b]
                if entry:
                    shown = ""  # an entry reads by itself, not under a table header
        out.append(Quote(n, s, e, text, lex, float(sv), score, shown, defined))
    naming = [q for q in out if any(_names_label(q.shown or q.text, lab) for lab in asked_labels)]
    out = naming or out
    # "What learning rate ...?" is answered by a sentence that names the learning rate: when
    # one does, the others are no candidates (unnamed_measure would refuse them anyway).
    measured = [q for q in out if not unnamed_measure(question, q.shown or q.text)]
    out = measured or out
    out.sort(key=lambda q: -q.score)  # stable: ties keep passage order
    return out


_CELL_NUMBER = re.compile(r"^[-+$€£(]?\d(?:[\d,.:]*\d)?%?\)?$|^0x[0-9a-fA-F]+$")
_RULE = re.compile(r"^[\s\-=_+|:]+$")
_MEASURE = re.compile(r"(?<![\w.])\d*\.\d+%?(?![\w.])|\d%")


def _is_row(line: str) -> bool:
    """A line of a table: short, cells split by spaces, some of them numbers (a line of
    prose with one number in it has too many words)."""
    cells = line.split()
    if not 2 <= len(cells) or len(line) > 120:
        return False
    nums = sum(1 for c in cells if _CELL_NUMBER.match(c))
    return nums >= 1 and (len(cells) <= 8 or nums >= 0.3 * len(cells))


def _value_cells(row: str) -> int:
    """How many cells at the end of a row are numbers."""
    n = 0
    for c in reversed(row.split()):
        if not _CELL_NUMBER.match(c):
            break
        n += 1
    return n


def _names_columns(line: str, row: str) -> bool:
    """A header line with a name for each of the row's number cells (or one more, for the
    label column)."""
    v = _value_cells(row)
    return v >= 2 and len(line.split()) in (v, v + 1) and not _is_row(line)


def _groups_columns(line: str, row: str) -> bool:
    """A header line of column groups above the column names: fewer names than the row has
    numbers, each over as many columns ("NQ HotpotQA WoW" over six), and no title (a title
    has small words: "Ranking of Pseudo RAG Systems")."""
    v, words = _value_cells(row), line.split()
    return (
        1 < len(words) < v
        and v % len(words) == 0
        and not _is_row(line)
        and not any(w.isalpha() and w.islower() and len(w) <= 4 for w in words)
    )


def table_rows(text: str) -> list[tuple[tuple[int, int], tuple[int, int] | None]]:
    """The rows of the tables in ``text``, each with its header line: ((start, end), (start, end)).

    A table is a run of at least two row lines (rule lines like "---- ----" may sit in it);
    its header is the line just above the run when that line is short and not a sentence,
    or else the run's first line ("Animal 2020 2021 2022 2023"), which then is no row,
    unless it holds measurements (decimals, percentages): then the table has no header.
    A row label wrapped onto a line of its own ("Kendall's Tau for" over "ARES LLM Judge
    0.89 1.0 ...") belongs to the row below it; a header's lines of column groups above it
    ("NQ HotpotQA WoW" over "C.R. A.R. C.R. A.R. C.R. A.R.") belong to the header.
    """
    lines = _line_spans(text)
    texts = [text[s:e].strip() for s, e in lines]
    out = []
    i = 0
    while i < len(lines):
        j = i
        run = []
        first = {}  # row line -> the line its wrapped label begins on
        if i + 1 < len(lines) and _is_fragment(texts[i]) and _is_row(texts[i + 1]) and i > 0:
            if _names_columns(texts[i - 1], texts[i + 1]):  # "C.R A.R. ...", "Kendall's Tau for", a row
                first[i + 1] = i
                j = i + 1
        while j < len(lines):
            line = texts[j]
            if _is_row(line):
                run.append(j)
            elif (
                run
                and j + 1 < len(lines)
                and _is_fragment(line)
                and _is_row(texts[j + 1])
                and _value_cells(texts[run[-1]]) == _value_cells(texts[j + 1]) >= 2
            ):
                first[j + 1] = j  # the rows above and below have as many figures: one table
            elif not (line and _RULE.match(line)):
                break
            j += 1
        if len(run) >= 2:
            top = first.get(run[0], run[0])
            above = texts[top - 1] if top > 0 else ""
            if above and len(above) <= 120 and not _SENTENCE_END.search(above) and not _is_row(above):
                h = top - 1
                while h > 0 and top - h < 3 and _groups_columns(texts[h - 1], texts[run[0]]):
                    h -= 1  # a line of column groups above the column names
                header = (lines[h][0], lines[top - 1][1])
            elif _MEASURE.search(texts[run[0]]):
                header = None
            else:
                header = lines[run[0]]
                run = run[1:]
            for r in run:
                s, e = lines[first.get(r, r)][0], lines[r][1]
                ls = len(text[s:e]) - len(text[s:e].lstrip())
                rs = len(text[s:e].rstrip())
                out.append(((s + ls, s + rs), header))
        i = max(j, i + 1)
    taken = {r for r, _ in out}
    return out + [r for r in _wrapped_rows(text, lines, texts) if r[0] not in taken]


_KEYED = re.compile(r"^\s*(\d{1,3})\s+\S")  # "2 START_PENDING Some other hart has ..."
_MAX_WRAP = 6  # lines a wrapped row's description may take


def _is_column_header(line: str) -> bool:
    """A line of column names ("State ID State Name Description"): a few words, most of them
    capitalised, no sentence, number or address."""
    words = line.split()
    return (
        2 <= len(words) <= 12
        and not line.endswith((".", "!", "?", ":"))
        and not _KEYED.match(line)
        and "://" not in line
        and sum(w[0].isupper() for w in words) >= 0.5 * len(words)
    )


def _wrapped_rows(
    text: str, lines: list[tuple[int, int]], texts: list[str]
) -> list[tuple[tuple[int, int], tuple[int, int] | None]]:
    """The rows of a table whose first column numbers them (0, 1, 2, ...) and whose last
    wraps over several lines, as a PDF prints a table of states or codes:

        State ID State Name Description
        0 STARTED The hart is physically powered-up and executing
        normally.
        1 STOPPED The hart is not executing in supervisor-mode ...

    Each row runs from its numbered line to the line before the next one (the last row to
    its first line that ends a sentence, within as many lines as the longest row above).
    At least three rows numbered in sequence, under a line of column names, make such a
    table, when some row wraps (rows of one line each are read by ``table_rows``). ``lines``
    are the spans of ``text``'s lines, ``texts`` their stripped text."""
    out = []
    i = 1
    while i < len(lines):
        m = _KEYED.match(texts[i])
        head = texts[i - 1]
        if not (m and _is_column_header(head)):
            i += 1
            continue
        keyed, key = [i], int(m.group(1))
        j = i + 1
        while j < len(lines) and j - keyed[-1] <= _MAX_WRAP and texts[j]:
            k = _KEYED.match(texts[j])
            if k and int(k.group(1)) == key + 1:
                keyed.append(j)
                key += 1
            j += 1
        wrap = max(b - a for a, b in zip(keyed, keyed[1:])) if len(keyed) >= 3 else 1
        if wrap == 1:  # rows of one line each are read by table_rows itself
            i += 1
            continue
        end = keyed[-1]  # the last row ends at its first line that ends a sentence
        while end < min(len(lines) - 1, keyed[-1] + wrap - 1) and not texts[end].endswith((".", "!", "?")):
            end += 1
        bounds = [*keyed, end + 1]
        for a, b in zip(bounds, bounds[1:]):
            s, e = lines[a][0], lines[b - 1][1]
            ls = len(text[s:e]) - len(text[s:e].lstrip())
            out.append(((s + ls, s + len(text[s:e].rstrip())), lines[i - 1]))
        i = end + 1
    return out


def _row_named(row: str, qwords: set[str], qnums: set[str]) -> bool:
    """The question names the row: most words of its label ("hermit crab", "evaluation set
    [size]"), or one of its numbers ("implementation ID 4"). A row the question does not
    name answers something else (the sea urchin count, asked about sea otters)."""

    def label(text: str) -> set[str]:
        return content_words(" ".join(c for c in text.split() if not _CELL_NUMBER.match(c)))

    # A label wrapped over lines ("Mean over" / "Drip irrigation 6.1 ..."): either all of it,
    # or its line with the figures.
    named = any(_share(label(t), qwords) >= 0.66 for t in {row, row.rsplit("\n", 1)[-1]})
    return named or bool(numbers(row) & qnums)


def read_row(header: str | None, row: str, question: str = "") -> str:
    """A table row as words: numbers paired with their column names when the header's last
    words name the row's last (number) cells ("Animal 2020 2021", "Hermit crab 405 389" ->
    "Hermit crab — 2020: 405, 2021: 389"), or else "header: row". A header of two lines
    names each column by its group and its own name ("NQ WoW" over "C.R. A.R. C.R. A.R."
    -> "NQ C.R.: 79.3%, NQ A.R.: 97.2%, ..."). When ``question`` names some of the columns
    ("on NQ", "in 2021", "context relevance" for "C.R."), only those are read."""
    cells = row.split()
    if header is None:
        return " ".join(cells)
    *groups, bottom = header.split("\n")
    head = bottom.split()
    v = _value_cells(row)
    if v >= 1 and len(head) in (v, v + 1) and len(cells) > v:
        names = head[-v:]
        levels = [names]
        g = groups[-1].split() if groups else []
        if g and len(g) < v and v % len(g) == 0:
            levels.insert(0, [g[k * len(g) // v] for k in range(v)])
        label = " ".join(cells[: len(cells) - v])
        keep = _named_columns(levels, question, label) if question else range(v)
        values = cells[-v:]
        cols = [" ".join(level[k] for level in levels) for k in range(v)]
        return f"{label} — " + ", ".join(f"{cols[k]}: {values[k]}" for k in keep)
    return f"{' '.join(head)}: {' '.join(cells)}"


def _abbreviates(name: str, question: str, label: str = "") -> bool:
    """A column name that is the question's words, or their initials ("C.R." for "context
    relevance", "2021" for "in 2021"); the words that name the row do not count ("ARES
    reach" is no "A.R." in "What did ARES reach ...?" of the row "ARES Accuracy")."""
    if content_words(name) and content_words(name) <= content_words(question):
        return True
    letters = re.sub(r"[^A-Za-z]", "", name)
    if not (2 <= len(letters) <= 4 and "." in name and letters.isupper()):
        return False
    own = content_words(label)
    words = [w for w in re.findall(r"[A-Za-z]+", question.lower()) if not content_words(w) & own]
    return any("".join(w[0] for w in words[i : i + len(letters)]) == letters.lower() for i in range(len(words)))


def _named_columns(levels: list[list[str]], question: str, label: str) -> list[int]:
    """The columns the question names at every header level it names anything of; all of
    them when it names none (or every one)."""
    v = len(levels[0])
    keep = set(range(v))
    for level in levels:
        named = {k for k in range(v) if _abbreviates(level[k], question, label)}
        if named and len(named) < v:
            keep &= named
    return sorted(keep) if keep else list(range(v))


_MD_LINE = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+\u2022•][ \t]+)", re.M)
_MD_EMPHASIS = re.compile(r"(?<!\w)(\*\*|\*|`)(?=\S)(.+?)(?<=\S)\1(?!\w)")


def plain_text(text: str) -> str:
    """A quote as prose: Markdown heading, list and quote markers, emphasis and code marks
    removed ("### a.pdf\n- Title: *FIPS PUB 199*" -> "a.pdf Title: FIPS PUB 199"), spaces
    collapsed. Only the answer's wording changes; the citation keeps the page's exact text."""
    text = _MD_EMPHASIS.sub(r"\2", _MD_LINE.sub("", text))
    text = re.sub(r"(?<=\w)\s*\u2014\s*(?=\w)", " \u2014 ", text)  # "Functions—Identify" -> "Functions — Identify"
    text = re.sub(r"(?<=[a-z]) -(?=[a-z])", "-", text)  # the PDF's "multi -tenant" -> "multi-tenant"
    return " ".join(text.split())


def _with_heading(q: Quote, passage: str) -> Quote:
    """Include a short label right before the quote ("Public cloud. The cloud infrastructure
    is provisioned for open use ..."): in lists and glossaries the label is the answer."""
    spans = split_sentences(passage[: q.start])
    if not spans:
        return q
    s, e = spans[-1]
    label = passage[s:e]
    if e - s > 40 or not passage[e : q.start].strip() == "" or not re.search(r"[A-Za-z]", label):
        return q
    return replace(q, start=s, text=passage[s : q.end])


_TABLE_CAPTION = re.compile(r"^\s*Table\s+\d+\s*[:.]", re.I)
_MAX_TABLE_CHARS = 3000
_SENTENCE_END = re.compile(r"(?<!\b[A-Z])(?<!\b[A-Z]\.[A-Z])[.!?]$")  # "... normally.", not "C.R. A.R."


def _line_spans(text: str) -> list[tuple[int, int]]:
    lines, pos = [], 0
    for line in text.split("\n"):
        lines.append((pos, pos + len(line)))
        pos += len(line) + 1
    return lines


def _is_fragment(line: str) -> bool:
    """A short piece of a table that is neither a row nor prose: a column name, a row label
    wrapped onto its own line ("Kendall's Tau for")."""
    return (
        0 < len(line.split()) <= 6
        and len(line) <= 60
        and re.search(r"[A-Za-z]", line) is not None
        and not line.endswith((".", "!", "?"))
    )


def caption_after(text: str, end: int) -> str:
    """The first line of the caption right below a table that ends at ``end`` ("Table 5:
    ARES Ranking on Real-World RAG Systems: ..."), or ""."""
    line = text[end:].lstrip("\n").split("\n", 1)[0]
    return line.strip() if _TABLE_CAPTION.match(line) else ""


def table_extent(page: str, start: int, end: int) -> tuple[int, int]:
    """The span of ``page`` to read a passage ``page[start:end]`` in, when it cuts a table of
    figures (rows of three numbers or more): the whole table, from the lines that name its columns to the first two lines of its
    caption ("Table 1: ..."), so that a row is read with its column names and a caption with
    its rows. A passage that cuts no table keeps its own span."""
    lines = _line_spans(page)
    texts = [page[s:e].strip() for s, e in lines]
    rows = [i for i, t in enumerate(texts) if _is_row(t) and sum(map(bool, map(_CELL_NUMBER.match, t.split()))) >= 3]
    lo, hi = start, end
    i = 0
    while i < len(rows):
        first = last = rows[i]
        j = i + 1
        # Rows, with up to two wrapped label lines between them, make one table.
        while j < len(rows) and rows[j] - last <= 3 and all(_is_fragment(texts[k]) for k in range(last + 1, rows[j])):
            last = rows[j]
            j += 1
        if j - i >= 2:
            top = first
            while (
                top > 0
                and first - top < 4
                and 0 < len(texts[top - 1]) <= 120
                and not _SENTENCE_END.search(texts[top - 1])
            ):
                top -= 1  # the lines that name the columns ("C.R. A.R. C.R. A.R.") and the title
            bottom = last
            if bottom + 1 < len(lines) and _TABLE_CAPTION.match(texts[bottom + 1]):
                bottom = min(len(lines) - 1, bottom + 2)
            s, e = lines[top][0], lines[bottom][1]
            if s < end and start < e and e - s <= _MAX_TABLE_CHARS:
                lo, hi = min(lo, s), max(hi, e)
        i = j
    return lo, hi
