"""The first five minutes, timed in a real browser: a fresh data directory, then a PDF
attached to the chat box with a question, the answer, and its citation opened on the
highlighted page image. Counts the user's actions and the seconds they wait.

    .venv/bin/python bench/first_minutes.py                # the bundled defaults (`make run`)
    .venv/bin/python bench/first_minutes.py --backend extractive

`rag serve` starts on an empty data directory with headless Chromium; the clock starts once
the page says the models are loaded (their load is printed apart). The user's actions:
1. attach the PDF with the chat box's + (a file chooser), 2. type the question,
3. press Enter, 4. click the citation chip. Printed: each step's wait and the total.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, open_page, serve, wait_idle  # noqa: E402
from tests.conftest import ROOT, SAMPLE_DOCS  # noqa: E402

PDF = SAMPLE_DOCS / "field-guide-to-tidepools.pdf"
QUESTION = "What is a minus tide?"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", default="", help="RAG_LLM_BACKEND (default: the bundled model)")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    cache = ROOT / ".venv" / "rag-test-cache"
    cache.mkdir(parents=True, exist_ok=True)
    env = {"RAG_LLM_BACKEND": args.backend} if args.backend else {}
    steps: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        t0 = time.perf_counter()
        with serve(Path(tmp) / "data", cache, "first-minutes-bench", **env) as url:
            pg = browser.new_page(viewport=DESKTOP)
            pg.set_default_timeout(300_000)
            open_page(pg, url)
            pg.get_by_text("Loading the models").wait_for(state="detached", timeout=600_000)
            pg.get_by_text("Start with your documents").wait_for()
            wait_idle(pg)
            print(f"# server start and model load: {time.perf_counter() - t0:.1f} s (not counted)")

            t = time.perf_counter()
            with pg.expect_file_chooser() as chooser:  # action 1: the + of the chat box
                pg.locator('[data-testid="stChatInput"] button[aria-label="Upload files"]').click()
            chooser.value.set_files(str(PDF))
            pg.locator(f'[data-testid="stChatInput"] button[aria-label="Remove {PDF.name}"]').wait_for()
            steps.append(("attach the PDF (upload to the server)", time.perf_counter() - t))

            t = time.perf_counter()
            box = pg.locator('[data-testid="stChatInput"] textarea')
            box.fill(QUESTION)  # action 2
            box.press("Enter")  # action 3
            pg.get_by_text("1 added (0 replaced), 0 unchanged, 0 failed").wait_for()
            steps.append(("ingest it (after Enter)", time.perf_counter() - t))
            t2 = time.perf_counter()
            pg.get_by_text("Answered in").last.wait_for()
            wait_idle(pg)
            steps.append(("answer with its citation", time.perf_counter() - t2))

            t = time.perf_counter()
            pg.locator('[data-testid="stButtonGroup"] button').first.click()  # action 4
            image = pg.locator('[data-testid="stImage"] img').last
            image.wait_for()
            pg.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
            steps.append(("open the citation: the highlighted page image", time.perf_counter() - t))
            answer = pg.locator(".rag-answer").last.inner_text()
        browser.close()
    print("\n| step | seconds |\n|---|---:|")
    for name, s in steps:
        print(f"| {name} | {s:.1f} |")
    print(f"| **total, 4 user actions** | **{sum(s for _, s in steps):.1f}** |")
    print(f"\nanswer: {' '.join(answer.split())[:200]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
