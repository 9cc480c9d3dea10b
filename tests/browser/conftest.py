"""Real-browser fixtures: `rag serve` in a subprocess, Debian's Chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = Path(os.environ.get("RAG_TEST_CHROMIUM", "/usr/bin/chromium"))
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"  # package.json; `make setup-browser` installs it
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Scroll an element to the top of the view, below Streamlit's fixed header.
SCROLL_TO = """el => {
    el.scrollIntoView({block: 'start'});
    for (let p = el.parentElement; p; p = p.parentElement) {
        if (p.scrollHeight > p.clientHeight && getComputedStyle(p).overflowY !== 'visible') { p.scrollBy(0, -70); break; }
    }
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rag_command() -> list[str]:
    exe = Path(sys.executable).parent / "rag"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "rag.cli"]


@contextlib.contextmanager
def rag_server(data_dir: Path, port: int, cwd: Path, env: dict, log_path: Path) -> Iterator[str]:
    """Run `rag serve` until the block ends; yields the base URL once it answers health checks."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*_rag_command(), "serve", "--data-dir", str(data_dir), "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"rag serve exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"rag serve did not answer on {url}:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
            yield url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


@contextlib.contextmanager
def serve(data_dir: Path, model_cache: Path, name: str, cwd: Path = ROOT, **env_extra: str) -> Iterator[str]:
    """Run `rag serve` (from ``cwd``) on a free port until the block ends; yields the base URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    models = data_dir / "models"
    if not models.exists():
        models.symlink_to(model_cache / "models", target_is_directory=True)  # keep the converted generator
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(env_extra)
    ARTIFACTS.mkdir(exist_ok=True)
    with rag_server(data_dir, _free_port(), cwd, env, ARTIFACTS / f"server-{name}.log") as url:
        yield url


@pytest.fixture(scope="package")  # stopped before other packages start their own Playwright
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (install the Debian package: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def axe_js() -> Path:
    """axe-core's script, injected into pages for the accessibility checks."""
    if not AXE_JS.exists():
        pytest.skip(f"axe-core is not installed ({AXE_JS} missing): run `make setup-browser` (npm ci)")
    return AXE_JS


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


# -- helpers used by the tests ---------------------------------------------------------------
def wait_idle(pg, timeout_ms: int = 120_000) -> None:
    """Wait until Streamlit has finished running the script (no "running" indicator)."""
    pg.wait_for_timeout(500)  # the indicator appears shortly after a run starts
    pg.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidgetRunningIcon\"]')", timeout=timeout_ms
    )
    pg.wait_for_timeout(300)


def open_page(pg, url: str, path: str = "") -> None:
    pg.goto(f"{url}/{path}")
    pg.wait_for_selector('[data-testid="stSidebarNav"]', state="attached")  # hidden on a phone
    wait_idle(pg)


def choose(pg, select, option: str, tries: int = 5) -> None:
    """Open a Streamlit selectbox and pick an option.

    A click that lands while the script is still re-rendering the widget opens nothing, so the
    dropdown is reopened until the option shows (a busy machine can take several tries).
    """
    for attempt in range(tries):
        wait_idle(pg)
        select.click()
        item = pg.get_by_role("option", name=option)
        try:
            item.first.wait_for(timeout=10_000)
        except Exception:
            if attempt == tries - 1:
                raise
            pg.keyboard.press("Escape")
            continue
        item.first.click()
        wait_idle(pg)
        return


def upload(pg, url: str, files: list[Path], timeout_ms: int = 240_000) -> str:
    """Upload files on the Library page; returns the summary line once ingestion is done."""
    open_page(pg, url, "library")
    pg.set_input_files('[data-testid="stFileUploader"] input[type="file"]', [str(f) for f in files])
    summary = pg.locator('[data-testid="stAlertContainer"]').filter(has_text="unchanged").first
    summary.wait_for(timeout=timeout_ms)
    wait_idle(pg)
    return summary.locator('[data-testid="stMarkdownContainer"]').first.inner_text()


def ask(pg, question: str, timeout_ms: int = 300_000) -> None:
    """Type a question in the chat box and wait for the finished answer."""
    box = pg.locator('[data-testid="stChatInput"] textarea')
    box.fill(question)
    box.press("Enter")
    pg.get_by_text("Answered in").last.wait_for(timeout=timeout_ms)
    wait_idle(pg)


def yellow_share(png: bytes) -> float:
    """Share of the image's pixels in the highlight colour (semi-transparent yellow)."""
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    return float(((r > 200) & (g > 180) & (b < 160) & (r - b > 80)).mean())


def no_horizontal_overflow(pg) -> bool:
    return pg.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def axe_violations(pg, axe_js: Path, impacts=("serious", "critical")) -> list[str]:
    """axe-core's violations of the given impacts on the page as it is, one line each
    (rule id, impact, how many elements, the first element and what is wrong with it)."""
    if not pg.evaluate("() => typeof window.axe !== 'undefined'"):
        pg.add_script_tag(path=str(axe_js))
    result = pg.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    out = []
    for v in result["violations"]:
        if v["impact"] in impacts:
            node = v["nodes"][0]
            why = " ".join(node.get("failureSummary", "").split())[:300]
            out.append(f"{v['id']} ({v['impact']}, {len(v['nodes'])} elements): {node['html'][:200]} — {why}")
    return out


def tab_to(pg, selector: str, text: str = "", presses: int = 80) -> int:
    """Press Tab until the focused element matches ``selector`` (and shows ``text``);
    returns how many presses it took."""
    check = "([s, t]) => { const e = document.activeElement; return !!e && e.matches(s) && e.innerText.includes(t) }"
    for n in range(1, presses + 1):
        pg.keyboard.press("Tab")
        if pg.evaluate(check, [selector, text]):
            return n
    raise AssertionError(f"{selector} {text!r} not reached with {presses} presses of Tab")


def is_dark(pg) -> bool:
    """Whether the app is drawn in the dark theme (its background is dark)."""
    rgb = pg.evaluate("() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor")
    r, g, b = (int(x) for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
    return (r + g + b) / 3 < 100
