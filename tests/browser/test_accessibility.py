"""axe-core on every page of the app, in the light and the dark theme: no serious or
critical violation, on the empty library and with documents, an answer and an open citation.

Streamlit follows the browser's colour scheme, so each theme is a browser context with
``color_scheme`` set; the test checks the app really is drawn in that theme.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import (
    ARTIFACTS,
    DESKTOP,
    ask,
    axe_violations,
    is_dark,
    open_page,
    serve,
    wait_idle,
)

pytestmark = pytest.mark.browser

PAGES = ["", "library", "search", "collections", "evaluation", "status"]
THEMES = ["light", "dark"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, model_cache_dir, browser):
    with serve(tmp_path_factory.mktemp("a11y") / "data", model_cache_dir, "a11y", RAG_LLM_BACKEND="extractive") as url:
        yield url


@pytest.fixture(params=THEMES)
def themed(request, browser):
    context = browser.new_context(viewport=DESKTOP, color_scheme=request.param)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield request.param, pg
    context.close()


def _check(pg, axe_js, theme: str, what: str) -> None:
    assert is_dark(pg) == (theme == "dark"), f"{what} is not drawn in the {theme} theme"
    found = axe_violations(pg, axe_js)
    assert not found, f"{what} ({theme}):\n" + "\n".join(found)


def test_the_empty_library_welcome(server, themed, axe_js):
    theme, pg = themed
    open_page(pg, server)
    if not pg.get_by_text("Start with your documents").count():
        pytest.skip("the library is no longer empty (the samples were added by an earlier test)")
    _check(pg, axe_js, theme, "the empty Ask page")


def test_every_page_with_documents(server, themed, axe_js):
    theme, pg = themed
    open_page(pg, server)
    samples = pg.get_by_role("button", name="Try the sample documents")
    if samples.count():
        samples.click()
        pg.get_by_text("4 added (0 replaced), 0 unchanged, 0 failed").wait_for(timeout=300_000)
        wait_idle(pg)
        _check(pg, axe_js, theme, "Ask after adding the samples")
    for path in PAGES:
        open_page(pg, server, path)
        pg.wait_for_timeout(1000)  # tables draw after the script run
        _check(pg, axe_js, theme, f"/{path}")
        pg.screenshot(path=str(ARTIFACTS / f"{path or 'ask'}-{theme}-1280.png"))


def test_an_answer_with_an_open_citation_and_search_results(server, themed, axe_js):
    theme, pg = themed
    open_page(pg, server)
    if pg.get_by_role("button", name="Try the sample documents").count():
        pg.get_by_role("button", name="Try the sample documents").click()
        pg.get_by_text("4 added (0 replaced), 0 unchanged, 0 failed").wait_for(timeout=300_000)
        wait_idle(pg)
    ask(pg, "How many purple sea urchins were counted in the 2023 survey?")
    pg.locator('[data-testid="stButtonGroup"] button').first.click()
    pg.locator('[data-testid="stImage"] img').first.wait_for()
    wait_idle(pg)
    pg.get_by_text("Sources (").first.click()  # the passages too
    wait_idle(pg)
    _check(pg, axe_js, theme, "an answer with its citation open")
    pg.screenshot(path=str(ARTIFACTS / f"ask-citation-{theme}-1280.png"))

    open_page(pg, server, "search")
    field = pg.get_by_label("Search the documents")
    field.fill("purple sea urchin survey")
    field.press("Enter")
    pg.locator(".rag-hit mark").first.wait_for()
    wait_idle(pg)
    _check(pg, axe_js, theme, "search results")
