"""The whole path with the real bundled models: a generated PDF is ingested, searched and asked about."""

from __future__ import annotations

import pytest

from rag.engine import RAG
from rag.prompts import NO_ANSWER
from rag.settings import Settings
from tests.integration.multipage_pdf import PAGES, make_pdf

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pdf(tmp_path_factory):
    return make_pdf(tmp_path_factory.mktemp("docs") / "orchard.pdf")


@pytest.fixture(scope="module")
def rag(tmp_path_factory, pdf, real_embedder, real_generator):
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), llm_max_new_tokens=48)
    engine = RAG(settings, embedder=real_embedder, generator=real_generator)
    report = engine.ingest_paths([pdf])
    assert [r.status for r in report.results] == ["added"], report.summary()
    return engine


def test_ingestion_keeps_every_page(rag, pdf):
    doc = rag.store.find_document("orchard.pdf")
    assert doc is not None and doc.n_pages == len(PAGES)
    for number, (text, _, key) in enumerate(PAGES, 1):
        page = rag.store.page_text(doc.id, number)
        assert key in page
        assert " ".join(page.split()) == text  # line breaks from the PDF layout aside, the text is intact
    again = rag.ingest_paths([pdf])
    assert [r.status for r in again.results] == ["unchanged"]


@pytest.mark.parametrize("page", range(1, len(PAGES) + 1))
def test_search_finds_the_right_page_first(rag, page):
    _, question, key = PAGES[page - 1]
    hits = rag.search(question, k=3)
    assert (hits[0].doc, hits[0].page) == ("orchard.pdf", page)
    assert key in hits[0].text


@pytest.mark.parametrize("policy", ["generated", "auto"])
@pytest.mark.parametrize("page", [3, 4])
def test_ask_streams_an_answer_cited_to_the_right_page(rag, page, policy):
    _, question, key = PAGES[page - 1]
    default = rag.settings
    rag.settings = default.replace(answer_policy=policy)
    try:
        events = list(rag.ask_stream(question))
    finally:
        rag.settings = default
    tokens = [e.value for e in events if e.kind == "token"]
    answer = events[-1].value
    if policy == "generated":
        assert len(tokens) > 1, "the model's answer is streamed piece by piece"
        assert answer.raw_answer.strip()
    else:  # the bundled model quotes the sentence that answers, without generating
        assert answer.mode == "quoted" and tokens == [answer.answer] and answer.raw_answer == ""
    assert not answer.abstained, answer.raw_answer
    assert key in answer.answer
    assert answer.citations
    doc = rag.store.find_document("orchard.pdf")
    for c in answer.citations:
        assert c.doc == "orchard.pdf" and 1 <= c.page <= doc.n_pages
        page_text = rag.store.page_text(doc.id, c.page)
        assert page_text[c.quote_start : c.quote_end] == c.quote
    assert page in {c.page for c in answer.citations}
    assert any(claim.supported for claim in answer.claims)


def test_a_question_the_documents_cannot_answer_is_declined(rag):
    answer = rag.ask("What is the boiling point of mercury?")
    assert answer.abstained
    assert answer.answer == NO_ANSWER
    assert answer.citations == []
