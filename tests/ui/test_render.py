"""Pure rendering helpers: escaping, highlighting, finding a quote in re-extracted text."""

from __future__ import annotations

from rag.types import Answer, Claim
from ui import render


def test_mark_spans_escapes_everything_and_merges_overlaps():
    text = "a <b>bold</b> & 'quoted' claim"
    out = render.mark_spans(text, [(2, 9), (5, 13)])
    assert out == "a <mark>&lt;b&gt;bold&lt;/b&gt;</mark> &amp; &#x27;quoted&#x27; claim"


def test_highlight_terms_matches_word_starts_and_simple_plurals():
    out = render.highlight_terms("Tides and tide pools; a stide.", ["tides", "pool"])
    assert out == "<mark>Tides</mark> and <mark>tide</mark> <mark>pools</mark>; a stide."


def test_highlight_terms_escapes_regex_characters():
    assert render.highlight_terms("cost is 4.5 (approx)", ["4.5"]) == "cost is <mark>4.5</mark> (approx)"
    assert render.highlight_terms("nothing", []) == "nothing"


def test_passage_window_keeps_the_span_near_the_top():
    text = " ".join(f"w{i}" for i in range(2000))
    start = text.index("w1000")
    window, s, e, before, after = render.passage_window(text, start, start + 5)
    assert window[s:e] == "w1000"
    assert before and after
    assert s <= 260  # visible without scrolling


def test_answer_html_flags_unsupported_claims_without_citation_marks():
    a = Answer(
        "q",
        "x",
        [],
        [],
        False,
        claims=[Claim("Seals rest on rocks.", [2], True), Claim("Whales <fly>.", [], False)],
    )
    out = render.answer_html(a)
    assert 'Seals rest on rocks<span class="rag-cite">2</span>.' in out
    assert 'title="not supported by the cited passages"' in out
    assert "Whales &lt;fly&gt;." in out and "<fly>" not in out
    assert render.unsupported_count(a) == 1


def test_abstained_answer_shows_the_unsupported_draft_flagged():
    a = Answer(
        "q",
        "The documents do not contain the answer.",
        [],
        [],
        True,
        claims=[Claim("There were 202 urchins.", [1], False)],
    )
    out = render.answer_html(a)
    assert out.startswith('<div class="rag-answer">The documents do not contain the answer.')
    assert "rag-unsupported" in out and "There were 202 urchins." in out
    assert "rag-cite" not in out


def test_locate_ignores_spacing_hyphenation_ligatures_and_case():
    pdf_text = "Tide heights are mea-\r\nsured from a refer\u00adence level called chart datum. A \ufb01ne day."
    spans = render.locate(pdf_text, "tide heights are measured from a reference level")
    assert len(spans) == 1
    s, e = spans[0]
    assert pdf_text[s:e].startswith("Tide heights") and pdf_text[s:e].endswith("level")
    assert render.locate(pdf_text, "A fine day")  # "ﬁ" ligature


def test_locate_uses_long_partial_matches_and_rejects_unrelated_text():
    page = "Column one talks about crabs hiding under rocks. Column two is about sea stars and their arms."
    quote = "crabs hiding under rocks. [figure] sea stars and their arms"
    spans = render.locate(page, quote)
    assert len(spans) == 2
    assert render.locate(page, "nothing like this sentence appears anywhere here") == []


def test_md_escape_neutralises_markdown_and_latex():
    assert render.md_escape("$5 and *bold* [x](y)") == r"\$5 and \*bold\* \[x\]\(y\)"


def test_human_sizes_and_short_names():
    assert render.human_size(512) == "512 B" and render.human_size(10_445) == "10.2 KB"
    name = "a-very-long-file-name-" * 5 + "report.pdf"
    short = render.short_name(name, 30)
    assert len(short) == 30 and short.endswith(".pdf") and "…" in short


def test_an_unsure_quote_is_shown_as_the_closest_passage():
    from rag.types import Citation

    cite = Citation(n=1, doc="guide.pdf", page=4, chunk_id=1, quote="Seals rest on rocks.")
    sure = Answer("q", "Seals rest on rocks [1].", [cite], [], False, [Claim("Seals rest on rocks.", [1], True)])
    sure.mode, sure.confidence = "quoted", 0.8
    unsure = Answer("q", sure.answer, [cite], [], False, sure.claims, mode="quoted", confidence=0.2, unsure=True)
    assert "Quoted from guide.pdf, page 4:" in render.answer_html(sure)
    out = render.answer_html(unsure)
    assert "The closest passage, in guide.pdf, page 4 (it may not answer the question):" in out
    assert "Seals rest on rocks" in out
    assert unsure.to_json()["unsure"] is True and unsure.to_json()["confidence"] == 0.2
    assert sure.to_json()["unsure"] is False
