"""The first minutes in a real browser: a fresh start shows no developer chrome, the empty
library greets with a drop zone and the samples, a file attached to a question is added in
the conversation before the question is answered from it, and all of it works by keyboard.

The server runs the real bundled embedding model with the extractive answer backend, and
from a directory that holds no .streamlit/config.toml: what `rag serve` passes on its
command line must be enough.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import ARTIFACTS, SCROLL_TO, open_page, serve, tab_to, wait_idle
from tests.conftest import SAMPLE_DOCS

pytestmark = pytest.mark.browser

CHAT_FILES = '[data-testid="stChatInput"] input[type="file"]'
CHAT_BOX = '[data-testid="stChatInput"] textarea'


def _uploaded(pg, name: str) -> None:
    """Wait until a file attached to the chat box has reached the server (its chip's button
    turns from 'Cancel upload of' to 'Remove')."""
    pg.locator(f'[data-testid="stChatInput"] button[aria-label="Remove {name}"]').wait_for(timeout=60_000)


def _choose_file_by_keyboard(pg, path, tries: int = 3) -> None:
    """Tab to the chat box's 'Upload files' button and press Enter: the file chooser opens.

    A key that lands while the script is still re-rendering the page opens nothing, so the
    button is tabbed to again (at most ``tries`` times) until the chooser shows."""
    for attempt in range(tries):
        wait_idle(pg)
        tab_to(pg, '[data-testid="stChatInput"] button[aria-label="Upload files"]')
        try:
            with pg.expect_file_chooser(timeout=10_000) as chooser:
                pg.keyboard.press("Enter")
        except Exception:
            if attempt == tries - 1:
                raise
            continue
        chooser.value.set_files(str(path))
        return


@pytest.fixture(scope="module")
def server(tmp_path_factory, model_cache_dir, browser):
    tmp = tmp_path_factory.mktemp("first")
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    with serve(tmp / "data", model_cache_dir, "first-minutes", cwd=elsewhere, RAG_LLM_BACKEND="extractive") as url:
        yield url


def test_a_fresh_start_shows_no_deploy_button(server, browser):
    for path in ("", "library"):  # the very first load of a browser session, on two pages
        context = browser.new_context()
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        try:
            open_page(pg, server, path)
            pg.locator('[data-testid="stMainMenuButton"], [data-testid="stToolbar"]').first.wait_for(state="attached")
            assert pg.get_by_text("Deploy", exact=True).count() == 0, f"/{path} shows Deploy on its first load"
            assert pg.locator('[data-testid="stAppDeployButton"]').count() == 0
        finally:
            context.close()


def test_a_file_attached_to_a_question_is_added_then_the_question_is_answered_from_it(server, page):
    open_page(page, server)
    page.get_by_text("Start with your documents").wait_for()
    page.get_by_role("button", name="Try the sample documents").wait_for()
    page.get_by_text("Drop files here to add them to your library").wait_for()
    page.screenshot(path=str(ARTIFACTS / "ask-empty-1280.png"))

    page.set_input_files(CHAT_FILES, [str(SAMPLE_DOCS / "field-guide-to-tidepools.pdf")])
    _uploaded(page, "field-guide-to-tidepools.pdf")
    box = page.locator(CHAT_BOX)
    box.fill("What is a minus tide?")
    box.press("Enter")
    done = page.get_by_text("1 added (0 replaced), 0 unchanged, 0 failed")
    done.wait_for(timeout=240_000)
    page.get_by_text("Answered in").last.wait_for(timeout=300_000)
    wait_idle(page)
    messages = page.locator('[data-testid="stChatMessage"]')
    assert messages.count() == 3  # the question with its file, the ingestion, the answer
    assert "field-guide-to-tidepools.pdf" in messages.nth(0).inner_text()
    assert "Added to default" in messages.nth(1).inner_text()
    assert "minus tide is a low tide" in messages.nth(2).locator(".rag-answer").inner_text()
    chip = page.locator('[data-testid="stButtonGroup"] button').first
    assert "field-guide-to-tidepools.pdf" in chip.inner_text()
    assert not page.get_by_text("Start with your documents").count()
    messages.first.evaluate(SCROLL_TO)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "ask-upload-1280.png"))


def test_upload_ask_and_open_a_citation_by_keyboard_alone(server, page):
    open_page(page, server)
    _choose_file_by_keyboard(page, SAMPLE_DOCS / "coffee-brewing.txt")
    _uploaded(page, "coffee-brewing.txt")
    tab_to(page, CHAT_BOX)  # the attached file waits in the box for the question
    page.keyboard.type("What water temperature should I use for brewing coffee?")
    page.keyboard.press("Enter")
    page.get_by_text("1 added (0 replaced), 0 unchanged, 0 failed").wait_for(timeout=240_000)
    page.get_by_text("Answered in").last.wait_for(timeout=300_000)
    wait_idle(page)
    assert page.locator(".rag-passage mark").count() == 0

    tab_to(page, '[data-testid="stButtonGroup"] button', text="coffee-brewing.txt")
    page.keyboard.press("Enter")
    mark = page.locator(".rag-passage mark").first
    mark.wait_for(timeout=60_000)
    wait_idle(page)
    quoted = " ".join(mark.inner_text().split())
    coffee = " ".join((SAMPLE_DOCS / "coffee-brewing.txt").read_text().split())
    assert len(quoted) > 20 and quoted in coffee  # the cited passage, highlighted in its file's text
    assert page.locator(".rag-name").filter(has_text="coffee-brewing.txt").count()
    page.screenshot(path=str(ARTIFACTS / "ask-keyboard-1280.png"))
