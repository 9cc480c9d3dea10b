"""Definition, acronym and identifier questions with the real bundled models: the answer
quotes the entry the question asks for, cited to its exact place on the page."""

from __future__ import annotations

import pytest

from rag.engine import RAG
from rag.settings import Settings

pytestmark = pytest.mark.integration

HANDBOOK = """# Orchard operations handbook

The orchard follows the Cider Safety Agreement (CSA), signed by every grower in the valley.
Each harvest is logged by the Harvest Volume Registry, known from here on as HVR.

## Glossary

Windfall An apple that has fallen from the tree before picking.

Russeting A rough brown patch on the skin of an apple, harmless to eat.

## Controls

The controls below apply to every press house.

OR.PR-1: Presses are washed with hot water after each batch
CIS 4, 7
OR.PR-2: Juice is chilled below 5 degrees within one hour
CIS 9, 12
"""


@pytest.fixture(scope="module")
def rag(tmp_path_factory, real_embedder, real_generator):
    docs = tmp_path_factory.mktemp("docs")
    (docs / "handbook.md").write_text(HANDBOOK)
    engine = RAG(Settings(data_dir=tmp_path_factory.mktemp("data")), embedder=real_embedder, generator=real_generator)
    assert [r.status for r in engine.ingest_paths([docs]).results] == ["added"]
    return engine


@pytest.mark.parametrize(
    ("question", "quote"),
    [
        ("What does CSA stand for?", "The orchard follows the Cider Safety Agreement (CSA)"),
        ("What does HVR stand for in the handbook?", "Each harvest is logged by the Harvest Volume Registry"),
        ("What does the glossary say russeting is?", "Russeting A rough brown patch on the skin of an apple"),
        ("What does control OR.PR-2 require?", "OR.PR-2: Juice is chilled below 5 degrees within one hour"),
    ],
)
def test_the_entry_asked_for_is_quoted_from_its_page(rag, question, quote):
    answer = rag.ask(question)
    assert answer.mode == "quoted" and not answer.abstained, answer.answer
    c = answer.citations[0]
    assert c.quote.startswith(quote), c.quote
    page = rag.store.page_text(c.doc_id, c.page)
    assert page[c.quote_start : c.quote_end] == c.quote
    assert "CIS" not in c.quote  # an identifier's entry ends before the references beside it


def test_a_stand_for_question_without_an_expansion_is_not_answered_with_a_mention(rag):
    answer = rag.ask("What does HCA stand for?")
    assert answer.mode != "quoted"
