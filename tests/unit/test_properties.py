"""Property-based tests (hypothesis): chunking, cleaning and loading on arbitrary input.

The guarantees checked here are the ones a user relies on without seeing them: no text
is silently dropped or cut past what the embedding model reads, a citation's offsets
point at exactly the cited text, and no file content can crash ingestion with anything
but a clear :class:`~rag.errors.IngestError`.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from ingest.chunking import WhitespaceTokenizer, chunk_page, chunk_pages
from ingest.clean import clean_text
from ingest.loaders import LoadLimits, load_bytes
from rag.errors import IngestError
from rag.types import Page

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that looks like documents: words, sentence ends, quotes, bullets, blank lines, odd spaces.
_PIECES = st.sampled_from(
    [
        "word",
        "Word",
        "a",
        "I",
        "3.",
        "1)",
        "-",
        "•",
        ".",
        "!",
        "?",
        '"',
        ")",
        "]",
        "e.g.",
        "x" * 40,
        " ",
        "  ",
        "\n",
        "\n\n",
        "\t",
        "\u00a0",
        "Überschrift",
        "日本語の文",
        "",
        "\u2028",
    ]
)
doc_text = st.lists(_PIECES, max_size=400).map(lambda parts: "".join(parts)) | st.text(max_size=600)
limits = st.tuples(st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=39)).filter(
    lambda t: t[1] < t[0]
)


def _tokens_in(offsets: list[tuple[int, int]], start: int, end: int) -> int:
    return sum(1 for s, e in offsets if s >= start and e <= end)


# -- chunking ------------------------------------------------------------------------------------
@PROPERTY
@given(text=doc_text, lim=limits)
@example(text="Short. " * 50, lim=(5, 4))
@example(text="x" * 10 + " " + "y " * 100, lim=(1, 0))
def test_chunks_fit_the_model_and_point_at_their_text(text, lim):
    max_tokens, overlap = lim
    page = Page(3, text)
    offsets = WhitespaceTokenizer().offsets([text])[0]
    chunks = chunk_page(page, offsets, max_tokens, overlap)
    for c in chunks:
        assert c.page == 3
        assert 0 <= c.start < c.end <= len(text)
        assert c.text == text[c.start : c.end]  # a citation's offsets highlight exactly this text
        assert c.text == c.text.strip()
        assert _tokens_in(offsets, c.start, c.end) <= max_tokens  # the model reads all of it
        assert 1 <= c.n_tokens <= max_tokens


@PROPERTY
@given(text=doc_text, lim=limits)
@example(text='He said "Stop." Then he left.', lim=(3, 0))  # the closing quote was dropped
def test_chunks_cover_every_non_whitespace_character(text, lim):
    max_tokens, overlap = lim
    offsets = WhitespaceTokenizer().offsets([text])[0]
    chunks = chunk_page(Page(1, text), offsets, max_tokens, overlap)
    covered = bytearray(len(text))
    for c in chunks:
        covered[c.start : c.end] = b"\x01" * (c.end - c.start)
    lost = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not lost, f"characters never indexed: {[text[i] for i in lost][:10]}"


@PROPERTY
@given(text=doc_text, lim=limits)
def test_chunking_always_advances(text, lim):
    """No infinite loop, no chunk repeated: starts strictly increase, at most one chunk per token."""
    max_tokens, overlap = lim
    offsets = WhitespaceTokenizer().offsets([text])[0]
    chunks = chunk_page(Page(1, text), offsets, max_tokens, overlap)
    starts = [c.start for c in chunks]
    assert starts == sorted(set(starts))
    assert len(chunks) <= max(1, len(offsets))
    ends = [c.end for c in chunks]
    assert ends == sorted(ends)


@PROPERTY
@given(pages=st.lists(doc_text, max_size=5), lim=limits)
def test_chunk_pages_keeps_page_numbers(pages, lim):
    max_tokens, overlap = lim
    doc = [Page(i + 1, t) for i, t in enumerate(pages)]
    chunks = chunk_pages(doc, WhitespaceTokenizer(), max_tokens, overlap)
    assert [c.page for c in chunks] == sorted(c.page for c in chunks)
    for c in chunks:
        assert doc[c.page - 1].text[c.start : c.end] == c.text
    pages_with_text = {p.number for p in doc if p.text.strip()}
    assert {c.page for c in chunks} == pages_with_text


@pytest.fixture(scope="module")
def bundled_tokenizer():
    """The real word-piece tokenizer of the bundled embedding model (no weights loaded)."""
    from transformers import AutoTokenizer

    from rag.models import bundled_embedding_dir

    tok = AutoTokenizer.from_pretrained(str(bundled_embedding_dir()))

    class _Offsets:
        def offsets(self, texts):
            enc = tok(list(texts), add_special_tokens=False, return_offsets_mapping=True, truncation=False)
            return [[(int(a), int(b)) for a, b in o] for o in enc["offset_mapping"]]

    return _Offsets()


@pytest.mark.integration
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=doc_text | st.text(alphabet=st.characters(codec="utf-8"), max_size=400), lim=limits)
def test_real_tokenizer_chunks_fit_and_cover(bundled_tokenizer, text, lim):
    max_tokens, overlap = lim
    text = clean_text(text)
    offsets = bundled_tokenizer.offsets([text])[0]
    chunks = chunk_page(Page(1, text), offsets, max_tokens, overlap)
    covered = bytearray(len(text))
    for c in chunks:
        assert c.text == text[c.start : c.end]
        assert (
            bundled_tokenizer.offsets([c.text])[0].__len__() <= max_tokens
            or _tokens_in(offsets, c.start, c.end) <= max_tokens
        )
        covered[c.start : c.end] = b"\x01" * (c.end - c.start)
    tokenized = bytearray(len(text))
    for s, e in offsets:
        tokenized[s:e] = b"\x01" * (e - s)
    # Every character the model can read at all ends up in some chunk.
    assert all(covered[i] for i in range(len(text)) if tokenized[i])


# -- cleaning ------------------------------------------------------------------------------------
_MESSY = st.text(
    alphabet=st.sampled_from(list("ab Z-\t\n\r\x00\x0b\x0c\x85\u00a0\u00ad\u0301e\ufb01\ufb02\ufeff\u2028\u3000.")),
    max_size=60,
)


@PROPERTY
@given(text=_MESSY | st.text(max_size=200))
@example(text="\ufb01\u0301")  # a ligature before a combining accent (was not idempotent)
@example(text="e\u00ad\u0301")  # a soft hyphen between a letter and its accent (same)
@example(text="exam-\u00a0\nple")  # hyphenation with a no-break space before the line end (same)
def test_clean_text_is_idempotent_and_normalised(text):
    once = clean_text(text)
    assert clean_text(once) == once
    assert unicodedata.is_normalized("NFC", once)
    assert once == once.strip()
    assert "\r" not in once and "  " not in once and "\n\n\n" not in once
    assert " \n" not in once and "\n " not in once
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\ufeff\u2028\u2029]", once)


@PROPERTY
@given(
    text=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.sampled_from("\n\t\r"), max_size=300)
)
def test_clean_text_keeps_every_letter_and_digit(text):
    """Cleaning only changes whitespace and line-end hyphens: the words survive in order."""
    out = clean_text(text)
    assert [c for c in out if c.isalnum()] == [c for c in text if c.isalnum()]
    assert out.count("-") <= text.count("-")


# -- loaders -------------------------------------------------------------------------------------
_SMALL = LoadLimits(max_bytes=1 << 20, max_pages=50, max_page_chars=10_000)
_pdfish = st.builds(
    lambda head, body: head + body,
    st.sampled_from([b"%PDF-1.4\n", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", b"", b"\xef\xbb\xbf", b"\xff\xfe"]),
    st.binary(max_size=2000)
    | st.lists(
        st.sampled_from(
            [
                b"1 0 obj",
                b"endobj",
                b"<<",
                b">>",
                b"/Type /Catalog",
                b"/Pages 2 0 R",
                b"/Kids [3 0 R]",
                b"/Count 99999999",
                b"stream\n",
                b"endstream",
                b"xref\n0 1\n",
                b"trailer",
                b"startxref\n9\n",
                b"%%EOF",
                b"[",
                b"]",
                b"(",
                b")",
                b" ",
                b"\n",
                b"3 0 R",
                b"/Length 5",
                b"/Filter /FlateDecode",
            ]
        ),
        max_size=80,
    ).map(b"".join),
)


@PROPERTY
@given(data=_pdfish | st.binary(max_size=3000), suffix=st.sampled_from([".pdf", ".txt", ".md", ".PDF", ".docx", ""]))
def test_load_bytes_raises_only_ingest_errors(data, suffix):
    name = "upload" + suffix
    try:
        loaded = load_bytes(name, data, _SMALL)
    except IngestError as e:
        assert e.path == name and e.reason  # names the file, gives a reason
        assert "\n" not in e.reason
        return
    assert loaded.pages, "a loaded file has at least one page of text"
    for p in loaded.pages:
        assert p.text and p.text == clean_text(p.text)
        assert 1 <= p.number <= loaded.n_pages


@PROPERTY
@given(text=st.text(max_size=500))
def test_utf8_text_files_load_as_cleaned_text(text):
    assume(clean_text(text))
    assume(not text.lstrip().lower().startswith(("<!doctype html", "<html", "%pdf")))
    data = text.encode("utf-8")
    assume("\x00" not in text[:4096] and "%PDF-" not in text[:1024] and "<html" not in text[:200].lower())
    loaded = load_bytes("notes.md", data, _SMALL)
    assert [p.text for p in loaded.pages] == [clean_text(text.removeprefix("\ufeff"))]
