"""The RAG facade with fake models: streaming, abstention, follow-ups, deletion, status."""

from __future__ import annotations

import pytest

from rag.engine import PAGE_COVERED_MARGIN, RAG
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
    for c in answer.citations:
        source = answer.sources[c.n - 1]
        assert (source.doc, source.page, source.chunk_id) == (c.doc, c.page, c.chunk_id)
        page = rag.store.page_text(source.doc_id, source.page)
        assert page[c.quote_start : c.quote_end] == c.quote


def test_an_empty_index_abstains_without_calling_the_model(fake_rag):
    events = list(fake_rag.ask_stream("What is in the documents?"))
    answer = events[-1].value
    assert answer.abstained and answer.answer == NO_ANSWER and answer.citations == []
    assert fake_rag._generator.prompts == []


def test_irrelevant_passages_lead_to_abstention(rag):
    answer = rag.ask("zebra quantum saxophone?")
    assert max(h.dense_score for h in answer.sources) < rag.settings.min_relevance
    assert answer.abstained and answer.answer == NO_ANSWER
    assert rag._generator.prompts == []


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


def test_an_unverifiable_answer_without_a_matching_sentence_abstains(settings, docs):
    rag = RAG(settings, FakeEmbedder(), FakeGenerator(reply="The keeper's cat was named Biscuit [1]."))
    rag.ingest_paths([docs])
    answer = rag.ask("What was the name of the keeper's cat?")
    assert answer.abstained and answer.answer == NO_ANSWER and answer.mode == "abstained"
    assert answer.claims and not answer.claims[0].supported


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
    answer = rag.ask("And when was it automated?", history)
    assert "lighthouse" in answer.standalone_question.lower()
    assert answer.sources[0].doc == "lighthouse.md"
    assert answer.to_json()["standalone_question"] == answer.standalone_question


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


def test_the_extractive_backend_quotes_or_abstains(settings, docs):
    from rag.engine import RAG as Engine

    rag = Engine(settings.replace(llm_backend="extractive"), FakeEmbedder())
    rag.ingest_paths([docs])
    answered = rag.ask("When was the Harbor Point lighthouse built?")
    assert not answered.abstained and "1872" in answered.answer
    assert answered.citations[0].doc == "lighthouse.md"
    refused = rag.ask("What was the name of the keeper's cat?")
    assert refused.abstained and refused.citations == []


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
    assert answer.timings["first_token"] <= answer.timings["total"]
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


def test_a_definition_is_quoted_though_it_repeats_few_of_the_questions_words(settings, tmp_path):
    folder = tmp_path / "glossary"
    folder.mkdir()
    (folder / "glossary.md").write_text(
        "# Glossary\n\nBackfill A rerun of a pipeline over past dates.\n\n"
        "Watermark The latest event time a job has seen.\n\nSnapshot A copy of a table at one moment.\n"
    )
    gen = FakeGenerator(reply="A backfill is a kind of database [1].")
    rag = RAG(settings.replace(answer_policy="quoted", min_quote_coverage=0.9), FakeEmbedder(), gen)
    rag.ingest_paths([folder])
    answer = rag.ask("What does the data team's glossary say a backfill is?")
    assert answer.mode == "quoted" and answer.answer == "Backfill A rerun of a pipeline over past dates [1]."
    assert gen.prompts == []
    # The same gate still refuses a sentence that only shares words with the question.
    answer = rag.ask("What does the data team's glossary say a rollback is?")
    assert answer.mode != "quoted"


def test_a_definition_question_is_not_answered_by_a_sentence_without_its_term(settings, tmp_path):
    folder = _folder(
        tmp_path / "models",
        {
            "service-models.md": "The service models defined here form a simple taxonomy of cloud services.\n\n"
            "Software as a Service. The consumer uses the provider's applications running on a cloud.\n"
        },
    )
    gen = FakeGenerator(reply="")
    rag = RAG(settings.replace(answer_policy="quoted", min_quote_coverage=0.3), FakeEmbedder(), gen)
    rag.ingest_paths([folder])
    answer = rag.ask("How do the service models define function as a service?")
    assert answer.abstained and answer.mode == "abstained"
    answer = rag.ask("How do the service models define software as a service?")
    assert answer.mode == "quoted" and "provider's applications" in answer.answer


def test_a_generated_answer_to_a_narrow_question_must_give_what_it_asks(settings, docs):
    # The claim is on the page, but it gives no time for a "how long" question.
    gen = FakeGenerator(reply="Coffee should be brewed at 93 degrees Celsius [1].")
    rag = RAG(settings.replace(answer_policy="generated"), FakeEmbedder(), gen)
    rag.ingest_paths([docs])
    answer = rag.ask("How long should coffee be brewed for?")
    assert answer.mode != "generated"
    gen.reply = "Coffee should be brewed for four minutes [1]."
    answer = rag.ask("How long should coffee be brewed for?")
    assert answer.mode == "generated" and "four minutes" in answer.answer


def test_a_quote_from_a_page_that_never_names_what_is_asked_about_is_refused(settings, tmp_path):
    """A name the question asks about, rare in the document ("HotpotQA", on one page of
    eleven), must be on the quoted page or the page before it: the Kendall's tau on NQ does
    not answer for HotpotQA. A name the document uses throughout (the Falcon study, on most
    pages) does not need to be."""
    from tests.integration.multipage_pdf import make_pdf

    pages = ["HotpotQA is a multi-hop question answering dataset built from Wikipedia articles."]
    pages += [f"Note {i}: annotators labelled passages for the Falcon study in batch {i}." for i in range(2, 10)]
    pages += ["Contributors are listed at the end.", "ARES reached a Kendall's tau of 0.91 on NQ when ranking systems."]
    folder = tmp_path / "paper"
    folder.mkdir()
    make_pdf(folder / "paper.pdf", pages)
    rag = RAG(settings.replace(answer_policy="quoted"), FakeEmbedder(), FakeGenerator(reply="I do not know."))
    assert rag.ingest_paths([folder]).count("added") == 1
    answer = rag.ask("What Kendall's tau did ARES reach on NQ?")
    assert answer.mode == "quoted" and "0.91" in answer.answer and answer.citations[0].page == 11
    assert any(h.page == 1 for h in rag.search("What Kendall's tau did ARES reach on HotpotQA?"))
    assert rag.ask("What Kendall's tau did ARES reach on HotpotQA?").abstained
    answer = rag.ask("What Kendall's tau did ARES reach in the Falcon study?")
    assert answer.mode == "quoted" and "0.91" in answer.answer


def test_a_quote_may_repeat_fewer_of_the_questions_words_when_its_page_holds_them_all(settings, tmp_path):
    """The coverage gate lets a quote through with fewer of the question's words when its page
    holds every one of them, and the quote some; not when the page lacks one of them."""
    from tests.integration.multipage_pdf import make_pdf

    pages = [
        "The keeper often mistakes the visitor for his niece, who brings the lamp oil on Sundays. "
        "He calls her by that name: 'Margaret, fetch the oil at once!' he shouts down the stairs.",
        "The lighthouse was painted white in 1902.",
    ]
    folder = tmp_path / "keeper"
    folder.mkdir()
    make_pdf(folder / "keeper.pdf", pages)
    rag = RAG(settings.replace(answer_policy="quoted"), FakeEmbedder(), FakeGenerator())
    rag.ingest_paths([folder])
    question = "What name does the keeper shout when he mistakes the visitor for his niece?"
    hit = next(h for h in rag.search(question) if h.page == 1)
    assert rag._page_covers(question, hit, lexical=0.4, gate=0.55)
    assert not rag._page_covers(question, hit, lexical=0.3, gate=0.55)  # the quote holds too few
    elsewhere = "What name does the keeper shout when he mistakes the visitor for his nephew?"
    assert not rag._page_covers(elsewhere, hit, lexical=0.4, gate=0.55)  # "nephew" is not on the page


def test_quoted_first_asks_the_model_when_no_sentence_qualifies(settings, docs):
    gen = FakeGenerator(reply="The lamp was automated in 1968 [1].")
    rag = RAG(settings.replace(answer_policy="quoted", min_quote_coverage=1.0), FakeEmbedder(), gen)
    rag.ingest_paths([docs])
    answer = rag.ask("When did the Harbor Point lighthouse stop needing keepers?")
    assert len(gen.prompts) == 1
    assert answer.mode == "generated" and "1968" in answer.answer and answer.claims[0].supported


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


def test_a_question_naming_what_no_passage_mentions_abstains_without_the_model(rag):
    # Similar passages, but none mentions "Tier 5" or "FaaS": nothing here can answer.
    for q in ("When was lighthouse Tier 5 built?", "Which FaaS brewed the coffee?"):
        answer = rag.ask(q)
        assert answer.abstained and answer.mode == "abstained", q
    assert rag._generator.prompts == []


def test_a_short_question_is_relevant_when_one_sentence_names_all_its_words(rag):
    # Short questions sit far from whole passages in embedding space (low cosine), yet a
    # sentence that names exactly what they ask about answers them.
    from rag.types import Hit

    text = "Mars has two moons. A day on Mars is called a sol, and it lasts about 24 hours and 40 minutes."
    hits = [Hit(1, "planets.md", 1, text, 0.1, dense_score=0.03)]
    assert rag.is_relevant(hits, "What is a sol?")
    assert rag.is_relevant(hits, "What is a sol on Mars called?")
    assert not rag.is_relevant(hits, "What is a parsec?")
    assert not rag.is_relevant(hits, "What is a sol on Venus?")  # "venus" in no sentence


def test_an_acronym_of_the_file_names_title_is_no_missing_name(rag):
    from rag.types import Hit

    hits = [
        Hit(1, "nist-cybersecurity-framework.pdf", 54, "Taxonomy A scheme of classification.", 0.1, dense_score=0.5)
    ]
    assert rag.is_relevant(hits, "How does the CSF glossary define taxonomy?")
    assert not rag.is_relevant(hits, "How does the CSA glossary define taxonomy?")


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
    rag = RAG(settings.replace(answer_policy="generated"), FakeEmbedder(), FakeGenerator(reply=reply))
    rag.ingest_paths([folder])
    answer = rag.ask("How long should green tea leaves steep?")
    assert [c.supported for c in answer.claims] == [False, True]
    assert answer.abstained and answer.answer == NO_ANSWER
    # The same claim answers a question it speaks to.
    answer = rag.ask("At what temperature should coffee be brewed?")
    assert not answer.abstained and "93 degrees" in answer.answer


def test_a_question_for_a_length_is_quoted_only_from_a_sentence_with_one(settings, tmp_path):
    folder = _folder(
        tmp_path / "story",
        {
            "story.md": (
                "The Queen of Hearts walked into the garden with the King and the whole court.\n\n"
                "Everyone bowed low as the procession passed the roses.\n\n"
                "The little door behind the curtain was about fifteen inches high, and the key fitted it.\n"
            ),
        },
    )
    gen = FakeGenerator(reply="I do not know.")
    rag = RAG(settings.replace(answer_policy="quoted"), FakeEmbedder(), gen)
    rag.ingest_paths([folder])
    answer = rag.ask("How tall was the Queen of Hearts?")  # her sentence says no height
    assert answer.abstained and answer.mode == "abstained"
    answer = rag.ask("How tall was the little door?")
    assert answer.mode == "quoted" and "fifteen inches" in answer.answer


def test_a_sentence_with_the_asked_time_needs_fewer_of_the_questions_words(settings, tmp_path):
    from rag.quotes import best_quote, narrow_answer

    folder = _folder(
        tmp_path / "story",
        {
            "story.md": (
                "Since the quarrel with Time, the Hatter's watch has stopped at the tea-party. "
                "'It's always six o'clock now,' said the Hatter.\n"
            ),
        },
    )
    question = "Since the quarrel with Time, what time is it always at the tea-party?"
    rag = RAG(settings.replace(answer_policy="quoted"), FakeEmbedder(), FakeGenerator(reply="I do not know."))
    rag.ingest_paths([folder])
    q = best_quote(question, rag.search(question), rag.embedder.embed_passages)
    assert narrow_answer(question, q.text) is True

    def ask(coverage: float):
        settings_ = settings.replace(answer_policy="quoted", min_quote_coverage=coverage)
        return RAG(settings_, rag.embedder, rag.generator).ask(question)

    # Above the sentence's coverage, within the allowance of 0.1 for a narrow answer: quoted.
    answer = ask(q.lexical + 0.05)
    assert answer.mode == "quoted" and "six o'clock" in answer.answer
    # Beyond it, and beyond what a page that holds every word of the question allows: not.
    assert ask(q.lexical + 0.1 + PAGE_COVERED_MARGIN + 0.05).mode != "quoted"


def test_a_quote_about_another_version_does_not_answer(settings, tmp_path):
    folder = _folder(
        tmp_path / "release",
        {
            "release.md": "Version 2 of the tool was downloaded 180 million times since its release in July.\n\n"
            "The tool runs on every major operating system.\n\nA faster Version 3 is planned for next year.\n"
        },
    )
    rag = RAG(settings.replace(answer_policy="quoted"), FakeEmbedder(), FakeGenerator(reply=""))
    rag.ingest_paths([folder])
    assert rag.ask("How many times was version 2 of the tool downloaded?").mode == "quoted"
    assert rag.ask("How many times was version 3 of the tool downloaded?").abstained


def test_a_count_question_abstains_on_a_sentence_that_names_but_does_not_count(settings, tmp_path):
    folder = _folder(
        tmp_path / "paper",
        {
            "paper.md": "The judges were fine-tuned and then run as deployable models on commercial GPUs.\n\n"
            "The annotators labelled 150 passages for the validation set.\n"
        },
    )
    rag = RAG(settings.replace(answer_policy="quoted"), FakeEmbedder(), FakeGenerator(reply=""))
    rag.ingest_paths([folder])
    assert rag.ask("How many passages did the annotators label for the validation set?").mode == "quoted"
    assert rag.ask("How many GPUs were the judges fine-tuned on?").abstained


def test_a_generated_definition_must_name_the_term_asked_about(settings, tmp_path):
    folder = _folder(
        tmp_path / "cloud",
        {"cloud.md": "Cloud computing is a model for enabling on-demand network access to shared resources.\n"},
    )
    # The model copies the passage, with the framing the prompt gave it, for a term the page never defines.
    gen = FakeGenerator(
        reply="cloud.md, page 1:\n<<<Cloud computing is a model for enabling on-demand network access to shared resources."
    )
    rag = RAG(settings.replace(answer_policy="generated"), FakeEmbedder(), gen)
    rag.ingest_paths([folder])
    answer = rag.ask("What is the definition of a hybrid cloud deployment?")
    assert answer.abstained and answer.mode == "abstained"
    assert answer.claims and all("<<<" not in c.text and "page 1:" not in c.text for c in answer.claims)
    answer = rag.ask("What is the definition of cloud computing?")  # the term it does define
    assert (
        not answer.abstained and answer.answer.startswith("Cloud computing is a model") and "<<<" not in answer.answer
    )
