"""Text cleaning: what comes out of a PDF reads like the page did."""

from __future__ import annotations

import pytest

from ingest.clean import clean_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("the exam-\nple shows", "the example shows"),
        ("inter-  \n  national law", "international law"),
    ],
)
def test_line_end_hyphenation_is_joined(raw, expected):
    assert clean_text(raw) == expected


def test_real_hyphens_and_capitalised_continuations_are_kept():
    # "X-\nRay" continues with a capital: not a broken word; "well-known" has no line break.
    assert clean_text("a well-known X-\nRay machine") == "a well-known X-\nRay machine"


def test_whitespace_is_normalised():
    raw = "  Two\u00a0\u00a0spaces\tand\ttabs   here.  \r\nNext line\u2003ends. \r\n\r\n\r\n\r\nNew   paragraph.  "
    assert clean_text(raw) == "Two spaces and tabs here.\nNext line ends.\n\nNew paragraph."


def test_control_characters_soft_hyphens_and_ligatures_are_removed():
    raw = "soft\u00adware \ufb01le \ufb02ow\x00\x07 end\ufeff"
    assert clean_text(raw) == "software file flow end"


def test_unicode_is_nfc_normalised():
    decomposed = "Cafe\u0301"
    assert clean_text(decomposed) == "Caf\u00e9"


@pytest.mark.parametrize("raw", ["", "   ", "\n\n\t"])
def test_blank_input_gives_empty_text(raw):
    assert clean_text(raw) == ""


def test_cleaning_is_idempotent():
    raw = "The exam-\nple   has\u00a0spaces.\n\n\n\nAnd    paragraphs."
    once = clean_text(raw)
    assert clean_text(once) == once


def test_running_headers_and_footers_are_removed():
    from ingest.clean import strip_repeated_lines

    pages = [f"Acme Handbook\nSection {i} text about topic {i}.\nPage {i} of 4" for i in range(1, 5)]
    out = strip_repeated_lines(pages)
    assert out == [f"Section {i} text about topic {i}." for i in range(1, 5)]


def test_short_documents_keep_their_repeated_lines():
    from ingest.clean import strip_repeated_lines

    pages = ["Title\nOne.", "Title\nTwo."]
    assert strip_repeated_lines(pages) == pages
