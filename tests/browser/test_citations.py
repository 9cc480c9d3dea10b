"""Click a citation, see the cited page as an image with the passage highlighted (real Chromium).

The server runs the real bundled embedding model with the extractive answer backend, so
every answer quotes its passages and carries citations: what is tested here is the
citation experience, not the wording of the small language model (see test_app.py).
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    SCROLL_TO,
    ask,
    no_horizontal_overflow,
    open_page,
    serve,
    upload,
    wait_idle,
    yellow_share,
)
from tests.conftest import SAMPLE_DOCS

pytestmark = pytest.mark.browser

QUESTION = "What is a minus tide?"


@pytest.fixture(scope="module")
def server(tmp_path_factory, model_cache_dir, browser):
    with serve(
        tmp_path_factory.mktemp("cite") / "data", model_cache_dir, "citations", RAG_LLM_BACKEND="extractive"
    ) as url:
        pg = browser.new_page(viewport=DESKTOP)
        summary = upload(pg, url, [SAMPLE_DOCS / "field-guide-to-tidepools.pdf"])
        pg.close()
        assert summary.startswith("1 added")
        yield url


def _click_first_citation(pg, page_no: int) -> float:
    """Open the answer's first citation (on ``page_no`` of the tidepool guide); returns the
    share of the page image highlighted."""
    chips = pg.locator('[data-testid="stButtonGroup"] button')
    chips.first.wait_for()
    assert f"field-guide-to-tidepools.pdf · p. {page_no}" in chips.first.inner_text()
    chips.first.click()
    image = pg.locator('[data-testid="stImage"] img').first
    image.wait_for()
    wait_idle(pg)
    pg.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    return yellow_share(image.screenshot())


def _open_first_citation(pg, name: str) -> None:
    # The quote (two lines of a letter-size page) covers about 1% of the page image.
    assert 0.002 < _click_first_citation(pg, 2) < 0.05, "the quote is not highlighted on the page image"
    assert pg.get_by_text("page 2 of 7").first.is_visible()
    assert pg.get_by_role("button", name="Download the original").first.is_visible()
    pg.locator('[data-testid="stChatMessage"]').first.evaluate(SCROLL_TO)  # the question, then the answer
    pg.wait_for_timeout(500)
    pg.screenshot(path=str(ARTIFACTS / f"ask-citation-{name}.png"))
    assert no_horizontal_overflow(pg)


def test_citation_shows_the_page_image_with_the_passage_highlighted(server, page):
    open_page(page, server)
    ask(page, QUESTION)
    page.screenshot(path=str(ARTIFACTS / "ask-answer-1280.png"))
    assert "minus tide is a low tide" in page.locator(".rag-answer").first.inner_text()
    _open_first_citation(page, "1280")


def test_citation_on_a_phone_width_screen(server, browser):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    try:
        open_page(pg, server)
        ask(pg, QUESTION)
        pg.screenshot(path=str(ARTIFACTS / "ask-answer-390.png"))
        assert no_horizontal_overflow(pg)
        _open_first_citation(pg, "390")
    finally:
        context.close()


def test_a_table_question_is_answered_with_its_row_highlighted_on_the_page(server, page):
    open_page(page, server)
    ask(page, "How many hermit crabs did volunteers count in the 2021 survey?")
    answer = page.locator(".rag-answer").first.inner_text()
    assert "Hermit crab — 2021: 389" in answer  # the row, read in the column the question names
    # One table row of a letter-size page: a thin highlighted band.
    assert 0.0005 < _click_first_citation(page, 6) < 0.02, "the row is not highlighted on the page image"
    page.locator('[data-testid="stChatMessage"]').first.evaluate(SCROLL_TO)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "ask-table-row-1280.png"))
