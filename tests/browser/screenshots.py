"""Retake the screenshots in README.md and docs/ui.md (not a test).

    .venv/bin/python -m tests.browser.screenshots

Starts `rag serve` on an empty data directory with the bundled embedding model and the
extractive backend (a predictable answer), then drives headless Chromium through the first
minutes: the empty library, a question asked with a file attached, an opened citation (light
and dark theme). Writes docs/screenshot-*.png.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.browser.conftest import CHROMIUM, DESKTOP, SCROLL_TO, open_page, serve, wait_idle
from tests.conftest import ROOT, SAMPLE_DOCS

DOCS = ROOT / "docs"
QUESTION = "What is a minus tide?"


def _attach_and_ask(pg, path: Path, question: str) -> None:
    pg.set_input_files('[data-testid="stChatInput"] input[type="file"]', [str(path)])
    pg.locator(f'[data-testid="stChatInput"] button[aria-label="Remove {path.name}"]').wait_for(timeout=60_000)
    box = pg.locator('[data-testid="stChatInput"] textarea')
    box.fill(question)
    box.press("Enter")
    pg.get_by_text("Answered in").last.wait_for(timeout=300_000)
    wait_idle(pg)


def _open_citation(pg) -> None:
    pg.locator('[data-testid="stButtonGroup"] button').last.click()
    image = pg.locator('[data-testid="stImage"] img').last
    image.wait_for()
    wait_idle(pg)
    pg.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())


def main() -> int:
    from playwright.sync_api import sync_playwright

    cache = ROOT / ".venv" / "rag-test-cache"
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-background-networking"]
        )
        with serve(Path(tmp) / "data", cache, "screenshots", RAG_LLM_BACKEND="extractive") as url:
            pg = browser.new_page(viewport=DESKTOP)
            pg.set_default_timeout(60_000)
            open_page(pg, url)
            pg.get_by_text("Loading the models").wait_for(state="detached", timeout=300_000)
            wait_idle(pg)
            pg.screenshot(path=str(DOCS / "screenshot-start.png"))

            _attach_and_ask(pg, SAMPLE_DOCS / "field-guide-to-tidepools.pdf", QUESTION)
            pg.locator('[data-testid="stChatMessage"]').first.evaluate(SCROLL_TO)
            pg.wait_for_timeout(500)
            pg.screenshot(path=str(DOCS / "screenshot-upload.png"))

            for scheme, name in (("light", "ask"), ("dark", "ask-dark")):  # a new conversation each
                other = browser.new_context(viewport=DESKTOP, color_scheme=scheme).new_page()
                other.set_default_timeout(60_000)
                open_page(other, url)
                box = other.locator('[data-testid="stChatInput"] textarea')
                box.fill(QUESTION)
                box.press("Enter")
                other.get_by_text("Answered in").last.wait_for(timeout=300_000)
                wait_idle(other)
                _open_citation(other)
                other.locator('[data-testid="stChatMessage"]').first.evaluate(SCROLL_TO)
                other.wait_for_timeout(500)
                other.screenshot(path=str(DOCS / f"screenshot-{name}.png"))
        browser.close()
    for name in ("start", "upload", "ask", "ask-dark"):
        print(DOCS / f"screenshot-{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
