"""The RAG facade with fake models: streaming, abstention, follow-ups, deletion, status."""

from __future__ import annotations

import pytest

from rag.engine import RAG
from rag.prompts import NO_ANSWER
from rag.types import Answer
from tests.fakes import FakeEmbedder, FakeGenerator
from tests.unit.inprocess import parse_in_process  # noqa: F401 (autouse)

FACTS = {
    "lighthouse.md": "The Harbor Point lighthouse was built in 1872 by the harbour board.\n\n"
    "Its lamp was automated in 1968 and the keepers left the island.",
    "coffee.txt": "Coffee should be brewed at 93 degrees Celsius for four minutes.\n\n"
    "Grind the beans coarsely for a French press.",
}


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in FACTS.items():
        (folder / name).write_text(text)
    return folder


def _folder(path, files: dict[str, str]):
    """A folder of text files to ingest."""
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)
    return path


@pytest.fixture
def rag(fake_rag, docs) -> RAG:
    report = fake_rag.ingest_paths([docs])
    assert report.count("added") == 2
    return fake_rag


def test_ask_stream_yields_sources_then_tokens_then_the_answer(rag):
    events = list(rag.ask_stream("When was the Harbor Point lighthouse built?"))
    kinds = [e.kind for e in events]
    assert kinds[0] == "sources" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"token"} and len(kinds) > 3
    answer: Answer = events[-1].value
    streamed = "".join(e.value for e in events if e.kind == "token")
    assert "1872" in streamed
    assert not answer.abstained
    assert answer.sources == events[0].value
    assert answer.citations and answer.citations[0].doc == "lighthouse.md" and answer.citations[0].page == 1
    assert {"retrieval", "first_token", "total"} <= set(answer.timings)


def test_citations_point_at_the_passages_shown(rag):
    answer = rag.ask("How hot should coffee be brewed?")
    assert answer.citations
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    by_chunk = {h.chunk_id: h for h in answer.sources}
    for c in answer.citations:
        source = by_chunk[c.chunk_id]
        assert (source.doc, source.page) == (c.doc, c.page)
        page = rag.store.page_text(source.doc_id, source.page)
        assert page[c.quote_start : c.quote_end] == c.quote


def test_an_empty_index_abstains_without_calling_the_model(fake_rag):
    events = list(fake_rag.ask_stream("What is in the documents?"))
    answer = events[-1].value
    assert answer.abstained and answer.answer == NO_ANSWER and answer.citations == []
    assert fake_rag._generator.prompts == []


def test_nothing_scoring_as_an_answer_abstains_without_the_model(settings, docs):
    # The threshold is a probability: at 1.0 no candidate reaches it.
    for policy in ("quoted", "generated"):
        gen = FakeGenerator(reply="The lighthouse was built in 1872 [1].")
        rag = RAG(settings.replace(answer_threshold=1.0, answer_policy=policy), FakeEmbedder(), gen)
        rag.ingest_paths([docs])
        answer = rag.ask("When was the Harbor Point lighthouse built?")
        assert answer.abstained and answer.answer == NO_ANSWER and answer.citations == []
        assert answer.mode == "abstained" and gen.prompts == []


def test_the_extractive_backend_quotes_or_abstains(settings, docs):
    answering = RAG(settings.replace(llm_backend="extractive", answer_threshold=0.0), FakeEmbedder())
    answering.ingest_paths([docs])
    answered = answering.ask("When was the Harbor Point lighthouse built?")
    assert not answered.abstained and "1872" in answered.answer and answered.mode == "quoted"
    assert answered.citations[0].doc == "lighthouse.md"
    refusing = RAG(settings.replace(llm_backend="extractive", answer_threshold=1.0), FakeEmbedder())
    refused = refusing.ask("When was the Harbor Point lighthouse built?")
    assert refused.abstained and refused.citations == []


def test_the_models_own_abstention_is_recognised(settings, docs):
    rag = RAG(settings, FakeEmbedder(), FakeGenerator(reply=NO_ANSWER))
    rag.ingest_paths([docs])
    answer = rag.ask("When was the Harbor Point lighthouse built?")
    assert answer.abstained and answer.citations == []


def test_an_unverifiable_answer_is_replaced_by_a_quote_of_the_page(settings, docs):
    rag = RAG(settings, FakeEmbedder(), FakeGenerator(reply="The lighthouse was painted purple in 1999 [1]."))
    rag.ingest_paths([docs])
    answer = rag.ask("When was the Harbor Point lighthouse built?")
    assert not answer.abstained and answer.mode == "quoted"
    assert "purple" not in answer.answer and "1872" in answer.answer
    assert [c.doc for c in answer.citations] == ["lighthouse.md"]
    assert all(c.supported for c in answer.claims)
    assert "purple" in answer.raw_answer


def test_a_wrong_citation_is_corrected(settings, docs):
    # Both passages are retrieved; the model cites the coffee passage for a lighthouse fact.
    reply = "The Harbor Point lighthouse was built in 1872 [2]."
    rag = RAG(settings, FakeEmbedder(), FakeGenerator(reply=reply))
    rag.ingest_paths([docs])
    answer = rag.ask("When was the Harbor Point lighthouse built, and how hot should coffee be?", k=4)
    assert not answer.abstained
    assert {c.doc for c in answer.citations} == {"lighthouse.md"}


def test_follow_up_questions_search_with_the_conversation(rag):
    history = [
        {"role": "user", "content": "When was the Harbor Point lighthouse built?"},
        {"role": "assistant", "content": "In 1872 [1]."},
    ]
    queries = []
    search = rag.search
    rag.search = lambda q, *a, **kw: queries.append(q) or search(q, *a, **kw)
    answer = rag.ask("And what happened next?", history)
    # The bundled model does not rewrite: the conversation's words search beside the
    # question as typed and the previous answer, and the answer is chosen for the question.
    assert "lighthouse" in queries[0] and "And what happened next?" in queries[1] and "1872" in queries[2]
    assert answer.sources[0].doc == "lighthouse.md"
    assert answer.standalone_question == "And what happened next?"


def test_a_capable_model_rewrites_a_follow_up(settings, docs):
    rewritten = "When was the Harbor Point lighthouse automated?"
    gen = FakeGenerator(reply=rewritten)
    rag = RAG(settings.replace(llm_model="meta-llama/Llama-3.1-8B-Instruct"), FakeEmbedder(), gen)
    rag.ingest_paths([docs])
    history = [
        {"role": "user", "content": "When was the Harbor Point lighthouse built?"},
        {"role": "assistant", "content": "In 1872 [1]."},
    ]
    answer = rag.ask("And when was it automated?", history)
    assert answer.standalone_question == rewritten
    assert answer.to_json()["standalone_question"] == rewritten
    assert answer.sources[0].doc == "lighthouse.md"
    assert "Last question: And when was it automated?" in gen.prompts[0][-1]["content"]


def test_the_prompt_fits_the_generators_context_window(settings, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(5):
        (folder / f"note{i}.md").write_text(f"Harbour note {i}: " + "the tide pool holds crabs and anemones. " * 8)
    small = FakeGenerator(context_window=settings.llm_max_new_tokens + 200 + 130)
    rag = RAG(settings, FakeEmbedder(), small)
    rag.ingest_paths([folder])
    rag.ask("What does the tide pool hold?", k=4)
    small_prompt = small.prompts[-1][-1]["content"]
    assert small_prompt.count("<<<") == 1  # one ~110-token passage fits a 130-token budget, not two
    big = FakeGenerator()
    RAG(settings, FakeEmbedder(), big).ask("What does the tide pool hold?", k=4)
    assert big.prompts[-1][-1]["content"].count("<<<") == 4


def test_deleting_a_document_removes_it_from_search(rag):
    doc = rag.store.find_document("coffee.txt")
    rag.delete_document(doc.id)
    for mode in ("hybrid", "dense", "bm25"):
        assert all(h.doc != "coffee.txt" for h in rag.search("coffee brewed degrees", k=10, mode=mode))
    assert rag.index.ntotal == rag.store.chunk_count()


def test_collections_restrict_answers(settings, docs, tmp_path):
    rag = RAG(settings, FakeEmbedder(), FakeGenerator())
    rag.ingest_paths([docs / "lighthouse.md"], collection="history")
    rag.ingest_paths([docs / "coffee.txt"], collection="kitchen")
    answer = rag.ask("How hot should coffee be brewed?", collections=["history"])
    assert all(h.collection == "history" for h in answer.sources)
    rag.delete_collection("kitchen")
    assert [d.name for d in rag.store.documents()] == ["lighthouse.md"]
    assert rag.index.ntotal == rag.store.chunk_count()


def test_a_restarted_engine_finds_the_same_passages(rag, settings):
    before = [h.chunk_id for h in rag.search("lighthouse automated", k=3)]
    again = RAG(settings, FakeEmbedder(), FakeGenerator())
    assert [h.chunk_id for h in again.search("lighthouse automated", k=3)] == before


def test_status_reports_the_data_directory(rag):
    status = rag.status()
    assert status["documents"] == 2 and status["chunks"] >= 2 and status["pages"] == 2
    assert status["embed_model_index"] == status["embed_model_configured"] == FakeEmbedder.name
    assert status["index_files_bytes"] > 0


def test_reindex_keeps_documents_searchable(rag):
    assert rag.reindex() == 2
    assert rag.search("coffee brewed", k=1)[0].doc == "coffee.txt"
    assert rag.index.ntotal == rag.store.chunk_count()


# -- answer policy ---------------------------------------------------------------------------


def test_quoted_first_answers_from_the_page_without_running_the_model(settings, docs):
    gen = FakeGenerator(reply="The lighthouse was painted purple in 1999 [1].")
    rag = RAG(settings.replace(answer_policy="quoted"), FakeEmbedder(), gen)
    rag.ingest_paths([docs])
    events = list(rag.ask_stream("When was the Harbor Point lighthouse built?"))
    answer = events[-1].value
    assert [e.kind for e in events] == ["sources", "token", "done"]
    assert answer.mode == "quoted" and "1872" in answer.answer and answer.answer.endswith("[1].")
    c = answer.citations[0]
    assert c.doc == "lighthouse.md" and "built in 1872" in c.quote
    assert {"retrieval", "select", "first_token", "total"} <= set(answer.timings)
    assert gen.prompts == []  # the model was never asked


def test_a_table_row_is_answered_in_words_and_cited_as_the_pages_text(settings, tmp_path):
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "survey.txt").write_text(
        "Every June, volunteers count the animals along the survey line.\n"
        "Animal 2020 2021 2022\n---------- ---- ---- ----\n"
        "Ochre sea star 212 187 143\nHermit crab 405 389 421\nPurple shore crab 58 63 49\n"
    )
    rag = RAG(settings.replace(answer_policy="quoted"), FakeEmbedder(), FakeGenerator())
    rag.ingest_paths([folder])
    answer = rag.ask("How many hermit crabs did volunteers count in the 2021 survey?")
    assert answer.mode == "quoted"
    assert answer.answer == "Hermit crab — 2021: 389 [1]."  # the column the question names
    c = answer.citations[0]
    assert c.quote == "Hermit crab 405 389 421"  # the page's own text, for highlighting
    assert rag.store.page_text(c.doc_id, c.page)[c.quote_start : c.quote_end] == c.quote


@pytest.mark.parametrize(
    ("overrides", "quote_first"),
    [
        ({}, True),  # the small bundled model
        ({"llm_model": "meta-llama/Llama-3.1-8B-Instruct"}, False),
        ({"llm_backend": "openai", "openai_model": "llama3"}, False),
        ({"llm_model": "meta-llama/Llama-3.1-8B-Instruct", "answer_policy": "quoted"}, True),
        ({"answer_policy": "generated"}, False),
    ],
)
def test_auto_policy_quotes_first_only_with_the_bundled_model(settings, overrides, quote_first):
    rag = RAG(settings.replace(answer_policy="auto").replace(**overrides), FakeEmbedder(), FakeGenerator())
    assert rag.quote_first is quote_first


def test_a_supported_claim_about_something_else_does_not_answer_the_question(settings, tmp_path):
    folder = _folder(
        tmp_path / "kitchen",
        {
            "tea.md": "Green tea leaves are picked by hand in spring and steamed.\n",
            "coffee.md": "Coffee should be brewed at 93 degrees Celsius.\n",
        },
    )
    # The model answers from its own knowledge; its one checkable sentence is beside the point.
    reply = "Green tea steeps for 7-10 minutes. Coffee should be brewed at 93 degrees Celsius [2]."
    settings = settings.replace(answer_policy="generated", answer_threshold=0.0)
    rag = RAG(settings, FakeEmbedder(), FakeGenerator(reply=reply))
    rag.ingest_paths([folder])
    answer = rag.ask("How long should green tea leaves steep?")
    # Not the model's words: the selector's best passage text stands instead.
    assert answer.mode == "quoted" and "93 degrees" not in answer.answer and "7-10" not in answer.answer
    assert answer.raw_answer == reply
    # The same claim answers a question it speaks to.
    answer = rag.ask("At what temperature should coffee be brewed?")
    assert not answer.abstained and "93 degrees" in answer.answer
