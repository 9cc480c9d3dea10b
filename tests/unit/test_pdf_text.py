"""Pages whose words pypdf runs together are read again by PDFium, which places the spaces
by glyph positions (such PDFs space words by position, not by space characters)."""

from __future__ import annotations

import pytest
from pypdf import PageObject

import ingest.loaders as loaders
from ingest.loaders import LoadLimits, load_bytes, run_together
from tests.hostile import text_pdf

PROSE = (
    "The harbour master keeps the lighthouse lamp burning through every winter storm, and the "
    "fishing boats come home by its light when the fog rolls in from the open sea at dusk. "
) * 4


def test_run_together_text_is_recognised_and_prose_is_not():
    assert run_together(PROSE.replace(" ", ""))
    assert not run_together(PROSE)
    assert not run_together("Donaudampfschifffahrtsgesellschaftskapitän " + PROSE)  # one long word
    assert not run_together(PROSE.replace(" ", "")[:150])  # too little text to judge


def _pypdf_drops_spaces(monkeypatch):
    original = PageObject.extract_text

    def without_spaces(self, *args, **kwargs):
        return original(self, *args, **kwargs).replace(" ", "")

    monkeypatch.setattr(PageObject, "extract_text", without_spaces)


def test_a_page_read_without_spaces_gets_pdfiums_text(monkeypatch):
    _pypdf_drops_spaces(monkeypatch)
    loaded = load_bytes("harbour.pdf", text_pdf([PROSE, PROSE]), LoadLimits())
    assert len(loaded.pages) == 2
    for page in loaded.pages:
        assert "the lighthouse lamp burning" in " ".join(page.text.split())


def test_a_well_spaced_page_never_asks_pdfium(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("PDFium was consulted for a page pypdf read well")

    monkeypatch.setattr(loaders, "open_pdfium", fail)
    loaded = load_bytes("harbour.pdf", text_pdf([PROSE]), LoadLimits())
    assert "the lighthouse lamp burning" in " ".join(loaded.pages[0].text.split())


@pytest.mark.parametrize("error", [ValueError("PDFium cannot open the file"), RuntimeError("broken")])
def test_when_pdfium_fails_pypdfs_text_stands(monkeypatch, error):
    _pypdf_drops_spaces(monkeypatch)

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(loaders, "open_pdfium", fail)
    loaded = load_bytes("harbour.pdf", text_pdf([PROSE]), LoadLimits())
    assert "thelighthouselampburning" in loaded.pages[0].text
