"""Chunking: whole sentences, never over the token limit, overlapping, offsets exact."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import WhitespaceTokenizer, chunk_page, chunk_pages, split_sentences
from rag.types import Page

TOK = WhitespaceTokenizer()

SENTENCES = [
    "The lighthouse was built in 1872.",
    "Its lamp burned whale oil for twenty years.",
    "Keepers lived on the island with their families.",
    "A storm in 1901 damaged the lower gallery badly.",
    "The light was automated in 1968 and the keepers left.",
    "Today the tower is a museum open every summer.",
]


def _tokens(text: str) -> int:
    return len(TOK.offsets([text])[0])


def _sentence_spans(text: str) -> set[tuple[int, int]]:
    return set(split_sentences(text))


def test_split_sentences_finds_each_sentence_with_exact_offsets():
    text = "  First one here. Second? Third!  And a fourth.\n\nHeading\n\nBody line"
    spans = split_sentences(text)
    got = [text[s:e] for s, e in spans]
    assert got == ["First one here.", "Second?", "Third!", "And a fourth.", "Heading", "Body line"]


def test_abbreviations_do_not_end_sentences():
    text = (
        "The office is open from 8:00 a.m. to 6:30 p.m. on weekdays. Core hours are 10:00 a.m. to "
        "3:00 p.m.; be there. Sold to Mr. Emanuel, e.g. for cash. Done."
    )
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "The office is open from 8:00 a.m. to 6:30 p.m. on weekdays.",
        "Core hours are 10:00 a.m. to 3:00 p.m.; be there.",
        "Sold to Mr. Emanuel, e.g. for cash.",
        "Done.",
    ]
    cited = "ARES uses prediction-powered inference (PPI; Angelopoulos et al. 2023) to predict scores. It works."
    assert [cited[s:e] for s, e in split_sentences(cited)][0].endswith("to predict scores.")
    # Chunking keeps the plain rule (its boundaries are what retrieval was measured with).
    assert [text[s:e] for s, e in split_sentences(text, abbreviations=False)][:2] == [
        "The office is open from 8:00 a.m.",
        "to 6:30 p.m.",
    ]


def test_chunks_are_whole_sentences_under_the_limit():
    page = Page(3, " ".join(SENTENCES))
    chunks = chunk_pages([page], TOK, max_tokens=20, overlap=5)
    assert len(chunks) > 1
    sentence_starts = {s for s, _ in split_sentences(page.text)}
    sentence_ends = {e for _, e in split_sentences(page.text)}
    for c in chunks:
        assert c.page == 3
        assert _tokens(c.text) <= 20
        assert c.n_tokens == _tokens(c.text)
        # Sentence-aware: a chunk starts at a sentence start and ends at a sentence end.
        assert c.start in sentence_starts
        assert c.end in sentence_ends


def test_offsets_map_back_to_the_page_text_exactly():
    pages = [Page(1, " ".join(SENTENCES[:3])), Page(2, "\n".join(SENTENCES[3:]) + "\n\n  Trailing note.  ")]
    chunks = chunk_pages(pages, TOK, max_tokens=12, overlap=4)
    by_number = {p.number: p.text for p in pages}
    for c in chunks:
        assert by_number[c.page][c.start : c.end] == c.text


def test_consecutive_chunks_overlap():
    page = Page(1, " ".join(SENTENCES))
    chunks = chunk_pages([page], TOK, max_tokens=20, overlap=10)
    assert len(chunks) >= 3
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end, "the next chunk repeats the end of the previous one"
        shared = page.text[b.start : a.end]
        assert shared.strip() in a.text and shared.strip() in b.text


def test_no_overlap_when_overlap_is_zero():
    page = Page(1, " ".join(SENTENCES))
    chunks = chunk_pages([page], TOK, max_tokens=20, overlap=0)
    for a, b in zip(chunks, chunks[1:]):
        assert b.start >= a.end


def test_every_chunk_adds_new_text():
    # A chunk that only repeats the previous one's overlap is wasted index space and
    # returns the same passage twice.
    text = (
        "Alpha one two three. Beta four five six seven. Gamma eight nine. "
        "Delta ten eleven twelve thirteen fourteen. Epsilon fifteen."
    )
    chunks = chunk_pages([Page(1, text)], TOK, max_tokens=8, overlap=3)
    for a, b in zip(chunks, chunks[1:]):
        assert b.end > a.end, f"{b.text!r} adds nothing to {a.text!r}"


def test_pages_are_never_crossed():
    pages = [Page(1, "Short page one. It ends here."), Page(2, "Page two starts fresh."), Page(4, "Page four.")]
    chunks = chunk_pages(pages, TOK, max_tokens=50, overlap=10)
    assert [c.page for c in chunks] == [1, 2, 4]
    assert [c.text for c in chunks] == [p.text for p in pages]


def test_empty_pages_are_skipped():
    pages = [Page(1, "   \n  "), Page(2, ""), Page(3, "Only this page has text.")]
    chunks = chunk_pages(pages, TOK, max_tokens=50, overlap=10)
    assert [c.page for c in chunks] == [3]


def test_over_long_sentence_is_split_at_token_boundaries():
    words = [f"w{i}" for i in range(47)]
    text = "Intro sentence. " + " ".join(words) + ". Outro."
    chunks = chunk_pages([Page(1, text)], TOK, max_tokens=10, overlap=3)
    for c in chunks:
        assert _tokens(c.text) <= 10
        assert text[c.start : c.end] == c.text
    # Nothing of the long sentence is lost.
    covered = set()
    for c in chunks:
        covered.update(c.text.replace(".", "").split())
    assert set(words) <= covered
    assert "Outro." in chunks[-1].text


def test_chunk_page_without_tokens_returns_nothing():
    assert chunk_page(Page(1, "text"), [], 10, 2) == []


_word = st.text(alphabet="abcdefghij", min_size=1, max_size=6)
_sentence = st.lists(_word, min_size=1, max_size=25).map(lambda ws: " ".join(ws) + ".")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sentences=st.lists(_sentence, min_size=1, max_size=12),
    max_tokens=st.integers(min_value=4, max_value=30),
    overlap_share=st.floats(min_value=0.0, max_value=0.5),
)
def test_property_limits_offsets_and_coverage(sentences, max_tokens, overlap_share):
    text = " ".join(sentences)
    overlap = int(max_tokens * overlap_share)
    chunks = chunk_pages([Page(1, text)], TOK, max_tokens, overlap)
    covered = [False] * len(text)
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert _tokens(c.text) <= max_tokens
        for i in range(c.start, c.end):
            covered[i] = True
    # No word of the page is lost.
    for m in re.finditer(r"\S+", text):
        assert all(covered[m.start() : m.end()]), f"{m.group()!r} at {m.start()} is in no chunk"
    # Chunks advance through the page.
    for a, b in zip(chunks, chunks[1:]):
        assert b.start > a.start and b.end > a.end


@pytest.mark.integration
def test_real_tokenizer_never_exceeds_the_models_limit(real_embedder):
    """With MiniLM's own word pieces, no chunk is longer than the model reads."""
    tokenizer = real_embedder.model.tokenizer
    limit = real_embedder.max_tokens
    assert limit <= real_embedder.model.max_seq_length - 2
    # Word-piece-heavy text: rare words and numbers split into many pieces.
    sentence = (
        "Pneumonoultramicroscopicsilicovolcanoconiosis, otorhinolaryngological and 3.14159e-12 "
        "measurements were tabulated by Dr. Xylophagous-Quokkaberry in Llanfairpwllgwyngyll. "
    )
    page = Page(1, sentence * 40 + "A" + " unbroken" * 600 + ".")
    chunks = chunk_pages([page], real_embedder, limit, 32)
    assert len(chunks) > 3
    for c in chunks:
        n = len(tokenizer(c.text, add_special_tokens=False)["input_ids"])
        assert n <= limit, f"chunk of {n} word pieces exceeds {limit}"
        assert page.text[c.start : c.end] == c.text
    # The bundled model's setting: 128-piece chunks (default RAG_CHUNK_TOKENS).
    for c in chunk_pages([page], real_embedder, 128, 32):
        assert len(tokenizer(c.text, add_special_tokens=False)["input_ids"]) <= 128
