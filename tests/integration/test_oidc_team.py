"""Team mode end to end: a real OpenID Connect provider, the real `rag serve`, Chromium.

The provider (``oidc-provider-mock``: a real OIDC server with predefined users) runs on
127.0.0.1; the app's secrets file lives in a temporary working directory, never in the
repository's ``.streamlit/``. Two users, two collections: each signs in through the
provider and sees and finds only their own collection's document.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, DESKTOP, _free_port, rag_server, wait_idle

pytestmark = pytest.mark.browser

ADMIN = "root@ops.test"
USERS = {"alice@alpha.test": ("alpha", "alpha-notes.md"), "bob@beta.test": ("beta", "beta-notes.md")}
TEXTS = {
    "alpha": "The Harbor Point lighthouse was built in 1872 by the harbour board.\n",
    "beta": "The lighthouse museum of the beta team has a budget of twelve thousand euros.\n",
}


@contextlib.contextmanager
def oidc_provider() -> Iterator[str]:
    """A real OpenID Connect provider on 127.0.0.1 with the two users; yields its issuer URL."""
    oidc = pytest.importorskip("oidc_provider_mock")
    import werkzeug.serving

    app = oidc.app(user_claims=[oidc.User(sub=email, claims={"email": email}) for email in [*USERS, ADMIN]])
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextlib.contextmanager
def team_server(tmp: Path, data_dir: Path, issuer: str) -> Iterator[str]:
    """`rag serve` in a working directory whose .streamlit/secrets.toml enables sign-in."""
    port = _free_port()
    workdir, home = tmp / "workdir", tmp / "home"
    (workdir / ".streamlit").mkdir(parents=True)
    home.mkdir()
    (workdir / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "rag-test"\n'
        'client_secret = "rag-test-secret"\n'
        f'server_metadata_url = "{issuer}/.well-known/openid-configuration"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "STREAMLIT_"))}
    env.update(HOME=str(home), RAG_LLM_BACKEND="extractive", RAG_ADMINS=ADMIN, HF_HUB_OFFLINE="1")
    with rag_server(data_dir, port, workdir, env, tmp / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def team(tmp_path_factory, real_embedder):
    """Two collections, one document each, readable by one user each; the app and the provider running."""
    from rag.engine import RAG
    from rag.settings import Settings

    tmp = tmp_path_factory.mktemp("team")
    data = tmp / "data"
    rag = RAG(Settings(data_dir=data, llm_backend="extractive"), embedder=real_embedder)
    for email, (coll, name) in USERS.items():
        folder = tmp / coll
        folder.mkdir()
        (folder / name).write_text(TEXTS[coll])
        rag.store.create_collection(coll, readers=email)
        assert rag.ingest_paths([folder], collection=coll).count("added") == 1
    rag.store.close()
    with oidc_provider() as issuer, team_server(tmp, data, issuer) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (install the Debian package: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def sign_in(browser, url: str, email: str):
    """A fresh browser context signed in as ``email`` through the provider's login form."""
    context = browser.new_context(viewport=DESKTOP)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(url)
    pg.get_by_role("button", name="Sign in").click()
    pg.locator(f'button[name="sub"][value="{email}"]').click()  # the provider's authorization form
    pg.wait_for_url(f"{url}/**")
    pg.wait_for_selector('[data-testid="stSidebarNav"]', state="attached")
    wait_idle(pg)
    return context, pg


def search(pg, url: str, query: str) -> str:
    pg.goto(f"{url}/search")
    pg.wait_for_selector('[data-testid="stSidebarNav"]', state="attached")
    wait_idle(pg)
    box = pg.get_by_label("Search the documents")
    box.fill(query)
    box.press("Enter")
    pg.locator(".rag-name").first.wait_for(timeout=180_000)
    wait_idle(pg)
    return "\n".join(pg.locator(".rag-name").all_inner_texts() + pg.locator(".rag-hit").all_inner_texts())


def ask(pg, url: str, question: str) -> str:
    """Ask on the Ask page; returns the answer with its citations and opened sources."""
    pg.goto(url)
    pg.wait_for_selector('[data-testid="stSidebarNav"]', state="attached")
    wait_idle(pg)
    box = pg.locator('[data-testid="stChatInput"] textarea')
    box.fill(question)
    box.press("Enter")
    pg.locator('[data-testid="stChatMessage"]').nth(1).wait_for(timeout=180_000)
    wait_idle(pg, 180_000)
    sources = pg.get_by_text("Sources (")
    if sources.count():
        sources.last.click()
        wait_idle(pg)
    return "\n".join(pg.locator('[data-testid="stChatMessage"]').all_inner_texts())


def test_without_sign_in_nothing_is_shown(team, browser):
    context = browser.new_context(viewport=DESKTOP)
    pg = context.new_page()
    pg.goto(team)
    pg.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
    wait_idle(pg)
    body = pg.locator("body").inner_text()
    assert "alpha-notes.md" not in body and "beta-notes.md" not in body
    assert pg.locator('[data-testid="stSidebarNav"]').count() == 0
    context.close()


@pytest.mark.parametrize("email", list(USERS))
def test_each_user_sees_and_finds_only_their_collection(team, browser, email):
    own_coll, own_doc = USERS[email]
    other_doc = next(doc for e, (_, doc) in USERS.items() if e != email)
    context, pg = sign_in(browser, team, email)
    try:
        from playwright.sync_api import expect

        expect(pg.locator('[data-testid="stSidebar"]')).to_contain_text(email, timeout=60_000)

        pg.goto(f"{team}/library")
        pg.get_by_text("Documents (1)").wait_for()
        wait_idle(pg)
        library = pg.locator("body").inner_text() + " ".join(
            pg.eval_on_selector_all(
                "input", "els => els.map(e => e.value + ' ' + (e.getAttribute('aria-label') || ''))"
            )
        )
        pg.locator('[data-testid="stSelectbox"]').filter(has_text="Document").first.click()  # open the picker
        options = " ".join(pg.get_by_role("option").all_inner_texts())
        pg.keyboard.press("Escape")
        assert f"{own_doc} ({own_coll})" in library + options, library + options
        assert other_doc not in library + options

        # Both documents mention the lighthouse; each user is given only their own.
        results = search(pg, team, "lighthouse")
        assert own_doc in results and other_doc not in results
        results = search(pg, team, "when was the Harbor Point lighthouse built")
        assert other_doc not in results and ("1872" in results) == (own_coll == "alpha")

        # Asked about alpha's fact, only alice is answered from it; bob is never given or cited it.
        answer = ask(pg, team, "When was the Harbor Point lighthouse built?")
        assert other_doc not in answer and ("1872" in answer) == (own_coll == "alpha"), answer
    finally:
        context.close()


def test_admin_sees_every_collection_and_manages_access(team, browser):
    context, pg = sign_in(browser, team, ADMIN)
    try:
        from playwright.sync_api import expect

        # Streamlit renders in several passes: wait (with retries) rather than read once.
        expect(pg.locator('[data-testid="stSidebar"]')).to_contain_text(f"{ADMIN} · admin", timeout=60_000)
        pg.goto(f"{team}/library")
        pg.get_by_text("Documents (2)").wait_for()
        pg.goto(f"{team}/collections")
        pg.get_by_role("tab", name="Access").click()
        readers = pg.get_by_label("Readers")
        expect(readers).to_have_value("alice@alpha.test", timeout=60_000)  # the first collection, alpha
        readers.fill("alice@alpha.test, bob")
        pg.get_by_role("button", name="Save access").click()
        pg.get_by_text("'bob' is not an email address").wait_for()  # refused; nothing saved
    finally:
        context.close()
