"""Citations: markers parsed, claims checked against the passages they cite."""

from __future__ import annotations

import pytest

from rag.citations import lexical_support, numbers_in_context, parse_markers, split_claims, strip_markers, verify_answer
from rag.types import Hit
from tests.fakes import FakeEmbedder

PAGES = {
    ("history.pdf", 3): (
        "Harbor history, chapter two. The lighthouse was built in 1872 by the harbour board. "
        "It stands on the north cape, forty metres above the water."
    ),
    ("coffee.txt", 1): "Brewing guide. Coffee should be brewed at 93 degrees Celsius for four minutes.",
    ("tides.md", 2): "Tides. A spring tide happens twice a month, near the new and the full moon.",
}


def _hit(n: int, doc: str, page: int, start_phrase: str) -> Hit:
    text = PAGES[(doc, page)]
    start = text.index(start_phrase)
    return Hit(
        chunk_id=100 + n,
        doc=doc,
        page=page,
        text=text[start:],
        score=1.0 / n,
        rank=n,
        start=start,
        end=len(text),
        doc_id=n,
    )


@pytest.fixture
def hits() -> list[Hit]:
    return [
        _hit(1, "history.pdf", 3, "The lighthouse"),
        _hit(2, "coffee.txt", 1, "Coffee"),
        _hit(3, "tides.md", 2, "A spring tide"),
    ]


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Built in 1872 [1].", [1]),
        ("Both [1, 2] agree.", [1, 2]),
        ("See [2-3].", [2, 3]),
        ("See [2–4] and [1].", [2, 3, 4, 1]),
        ("Repeated [2] and [2] and [1,2].", [2, 1]),
        ("[3][1]", [3, 1]),
        ("Spaced [ 4 ].", [4]),
        ("No markers here.", []),
        ("Junk [a] [] [1a] [-] [see 2] (1) {2}", []),
        ("A year [1872] in brackets.", [1872]),  # parsed; verify_answer drops numbers past the passages
    ],
)
def test_parse_markers(text, expected):
    assert parse_markers(text) == expected


def test_strip_markers_leaves_clean_text():
    assert strip_markers("Built in 1872 [1] by the board [2, 3] .") == "Built in 1872 by the board."


def test_split_claims_keeps_markers_with_their_sentence():
    claims = split_claims("The tower was built in 1872. [1] It was automated in 1968 [2][3].\nKeepers left.")
    assert claims == [
        ("The tower was built in 1872.", [1]),
        ("It was automated in 1968.", [2, 3]),
        ("Keepers left.", []),
    ]


def test_split_claims_of_empty_and_marker_only_answers():
    assert split_claims("") == []
    assert split_claims("   [1] [2]  ") == []


# -- verification ------------------------------------------------------------------------------


@pytest.mark.parametrize("embed", [None, FakeEmbedder().embed_passages], ids=["lexical", "with-embeddings"])
def test_a_claim_citing_the_wrong_passage_moves_to_the_supporting_one(hits, embed):
    v = verify_answer("The lighthouse was built in 1872 [2].", hits, embed)
    assert v.claims[0].supported
    assert v.claims[0].citations == [1]
    assert "[1]" in v.answer and "[2]" not in v.answer and "1872" in v.answer
    assert [(c.n, c.doc, c.page, c.chunk_id) for c in v.citations] == [(1, "history.pdf", 3, 101)]


def test_a_correct_citation_is_kept(hits):
    v = verify_answer("Coffee should be brewed at 93 degrees [2].", hits)
    # The passage ranked second is the answer's first (and only) citation: [1].
    assert v.claims[0].citations == [1] and v.answer.endswith("[1].")
    assert [(c.n, c.doc, c.chunk_id) for c in v.citations] == [(1, "coffee.txt", hits[1].chunk_id)]


def test_citations_are_numbered_in_order_of_first_appearance(hits):
    v = verify_answer(
        "Spring tides come twice a month near the new moon [3]. The lighthouse was built in 1872 [1]. "
        "It was built by the harbour board [1].",
        hits,
    )
    assert [c.citations for c in v.claims] == [[1], [2], [2]]
    assert [(c.n, c.chunk_id) for c in v.citations] == [(1, hits[2].chunk_id), (2, hits[0].chunk_id)]
    assert "[1]" in v.answer.split(".")[0] and "[3]" not in v.answer


def test_citations_quote_the_supporting_sentence_with_page_offsets(hits):
    v = verify_answer(
        "The lighthouse was built in 1872 [1]. Spring tides come twice a month near the new moon [3].", hits
    )
    assert [(c.n, c.doc) for c in v.citations] == [(1, "history.pdf"), (2, "tides.md")]
    for c in v.citations:
        page_text = PAGES[(c.doc, c.page)]
        assert page_text[c.quote_start : c.quote_end] == c.quote
    assert v.citations[0].quote == "The lighthouse was built in 1872 by the harbour board."
    assert "spring tide happens twice a month" in v.citations[1].quote


def test_numbers_must_match(hits):
    v = verify_answer("The lighthouse was built in 1875 [1].", hits)
    assert not v.claims[0].supported
    assert v.citations == []
    assert lexical_support("built in 1875", "was built in 1872") == 0.0
    assert lexical_support("built in 1872", "was built in 1872") == 1.0


LEAVE = (
    "2. Leave Policy Full-time employees receive 25 days of paid annual leave per year, in addition to public holidays."
)


@pytest.mark.parametrize(
    ("claim", "support", "ok"),
    [
        # A heading's number next to unrelated words does not support a count of years.
        ("Employees get 2 years of paid annual leave.", LEAVE, False),
        ("Employees get 25 days of paid annual leave.", LEAVE, True),
        ("Employees get 25 years of paid annual leave.", LEAVE, False),
        # Abbreviated units and thousands separators still match.
        ("The press handles 500 kilograms per hour.", "It presses 500 kg of apples per hour.", True),
        ("It cost $1,200 in 2013.", "In 2013 the licence cost $1200.", True),
        # A number followed by a stop word only has to occur.
        ("It was built in 1872 by the board.", "The board built it in 1872.", True),
        ("It was built in 1872 by the board.", "The board built it in 1827.", False),
    ],
)
def test_numbers_must_stand_next_to_what_they_count(claim, support, ok):
    assert numbers_in_context(claim, support) is ok
    assert (lexical_support(claim, support) > 0) is ok


def test_a_heading_number_does_not_verify_a_wrong_count():
    hit = Hit(chunk_id=1, doc="acme-handbook.pdf", page=2, text=LEAVE, score=1.0, rank=1, end=len(LEAVE))
    v = verify_answer(
        "Full-time employees get 2 years of paid annual leave [1].", [hit], embed=FakeEmbedder().embed_passages
    )
    assert not v.claims[0].supported
    v = verify_answer(
        "Full-time employees get 25 days of paid annual leave [1].", [hit], embed=FakeEmbedder().embed_passages
    )
    assert v.claims[0].supported and v.citations[0].page == 2


@pytest.mark.parametrize("policy", ["flag", "drop"])
def test_unsupported_claims_are_flagged_or_dropped(hits, policy):
    v = verify_answer("The moon is made of green cheese [1]. Coffee is brewed at 93 degrees [2].", hits, policy=policy)
    assert [c.supported for c in v.claims] == [False, True]
    assert v.claims[0].citations == []
    assert [(c.n, c.doc) for c in v.citations] == [(1, "coffee.txt")]
    if policy == "drop":
        assert "cheese" not in v.answer
    else:
        assert "cheese" in v.answer and "cheese [" not in v.answer  # kept, but cites nothing
    assert "93 degrees [1]" in v.answer and "[2]" not in v.answer


def test_markers_pointing_at_no_passage_are_dropped(hits):
    v = verify_answer("Coffee is brewed at 93 degrees [7].", hits)
    assert "[7]" not in v.answer
    assert [(c.n, c.doc) for c in v.citations] == [(1, "coffee.txt")]  # re-attributed to the passage that supports it
    assert v.claims[0].citations == [1]


def test_a_claim_supported_by_two_cited_passages_keeps_both():
    text = "The museum opens at 9 am on weekdays."
    a = Hit(1, "a.pdf", 1, text, 1.0, start=0, end=len(text))
    b = Hit(2, "b.pdf", 4, text, 0.9, start=0, end=len(text))
    v = verify_answer("The museum opens at 9 am on weekdays [1, 2].", [a, b])
    assert v.claims[0].citations == [1, 2]
    assert [(c.doc, c.page) for c in v.citations] == [("a.pdf", 1), ("b.pdf", 4)]


def test_nothing_to_verify(hits):
    assert verify_answer("", hits).claims == []
    v = verify_answer("Something [1].", [])
    assert v.citations == [] and not v.claims[0].supported


def test_a_claim_that_only_restates_the_question_is_no_answer():
    page = "The animals sent Bill, the Lizard, down the White Rabbit's chimney."
    question = "Which animal did they send down the White Rabbit's chimney?"
    assert lexical_support("The animal is the White Rabbit.", page, question) == 0.0
    assert lexical_support("They sent Bill, the Lizard.", page, question) == 1.0
    # A yes/no question is answered by restating it.
    vpn = "Contractors can use the VPN from home."
    assert lexical_support("Contractors can use the VPN.", vpn, "Can contractors use the VPN?") == 1.0


def test_a_count_in_words_must_be_the_pages_count():
    page = "The cloud model has five essential characteristics, three service models, and four deployment models."
    assert lexical_support("NIST defines six deployment models.", page) == 0.0
    assert lexical_support("NIST defines four deployment models.", page) > 0.5
    assert lexical_support("There are 5 essential characteristics.", "It has 5 essential characteristics.") == 1.0


def test_list_numbers_and_lead_ins_are_no_claims_and_cite_nothing(hits):
    v = verify_answer("These include: [1]\n1. [2] The lighthouse was built in 1872 [1].", hits)
    assert [(c.text, c.supported, c.citations) for c in v.claims] == [
        ("These include:", False, []),
        ("1.", False, []),
        ("The lighthouse was built in 1872.", True, [1]),
    ]
    assert [c.n for c in v.citations] == [1]


def test_a_claim_needs_most_of_its_words_on_the_page():
    # Half the words (Alice, sister, Queen) are on the page; "older sister ... is the Queen" is not.
    page = [
        Hit(
            chunk_id=1,
            doc="alice.pdf",
            page=76,
            text="Alice saw the Queen, and her sister's dream faded away.",
            score=1.0,
        )
    ]
    claim = "Alice's older sister in Alice's Adventures in Wonderland is the Queen."
    assert lexical_support(claim, page[0].text) == 0.5
    v = verify_answer(claim, page, question="What is the name of Alice's older sister?")
    assert not v.claims[0].supported and v.citations == []
    v = verify_answer("Alice saw the Queen [1].", page, question="Whom did Alice see?")
    assert v.claims[0].supported and v.citations[0].page == 76


def test_a_titles_full_stop_ends_no_claim():
    # "In 2013, Mr [1]." alone would be a claim that says nothing, and verifies.
    claims = split_claims("In 2013, Mr [1]. Zuckerberg paid $57.5 billion for it [1]. Dr. Ng agreed.")
    assert claims == [("In 2013, Mr. Zuckerberg paid $57.5 billion for it.", [1]), ("Dr. Ng agreed.", [])]
