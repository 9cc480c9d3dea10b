"""The answer selector with the real embedding model over the bundled sample documents:
answers hold the fact and cite the page it is on; what the documents do not say is declined
without running the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.engine import RAG
from rag.evaluation import answer_correct, load_qa, page_hit
from rag.prompts import NO_ANSWER
from rag.settings import Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


class NoGenerator:
    """Fails the test if the model is asked: the bundled policy quotes or abstains."""

    name = "no-generator"
    context_window = 2048

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, messages, max_new_tokens=None):
        raise AssertionError("the model was asked")


@pytest.fixture(scope="module")
def rag(tmp_path_factory, real_embedder):
    engine = RAG(Settings(data_dir=tmp_path_factory.mktemp("data")), embedder=real_embedder, generator=NoGenerator())
    report = engine.ingest_paths([ROOT / "sample_docs"])
    assert report.count("added") == 4, report.summary()
    return engine


def test_most_sample_questions_are_answered_from_their_page(rag):
    qas = [qa for qa in load_qa(ROOT / "eval" / "sample_docs.jsonl") if qa.answerable]
    right = cited = 0
    for qa in qas:
        answer = rag.ask(qa.question)
        if answer.abstained:
            continue
        right += answer_correct(answer.answer, qa)
        cited += any(page_hit(c.doc, c.page, qa) for c in answer.citations)
        for c in answer.citations:  # every citation is the page's own text, for highlighting
            assert rag.store.page_text(c.doc_id, c.page)[c.quote_start : c.quote_end] == c.quote
    # The sample set is in the scorer's training data: this guards against a broken
    # pipeline, not a measure of quality (docs/evaluation.md has those).
    assert right >= 0.7 * len(qas), f"{right} of {len(qas)} right"
    assert cited >= 0.8 * len(qas), f"{cited} of {len(qas)} cited to a gold page"


def test_a_table_cell_is_read_under_its_column(rag):
    answer = rag.ask("What was the hermit crab count in the 2021 survey?")
    assert "389" in answer.answer and answer.citations[0].doc == "field-guide-to-tidepools.pdf"


@pytest.mark.parametrize(
    "question",
    ["zebra quantum saxophone?", "Who won the 1998 football world cup?", "What is the capital of Australia?"],
)
def test_what_the_documents_do_not_say_is_declined(rag, question):
    answer = rag.ask(question)
    assert answer.abstained and answer.answer == NO_ANSWER and answer.citations == []
    assert answer.mode == "abstained"
