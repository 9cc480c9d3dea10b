"""`rag api` as a real server process with the bundled models, driven by the real
``openai`` client: citations survive the OpenAI-compatible interface, streamed and not,
and in team mode a key's user is never given a passage of a collection they may not read."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rag.store import Store
from tests.integration.multipage_pdf import PAGES, make_pdf

pytestmark = pytest.mark.integration

RAG_BIN = Path(sys.executable).parent / "rag"
BOB, ADMIN = "bob-key-0123456789abcdef", "admin-key-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", **extra)
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory, model_cache_dir):
    docs = tmp_path_factory.mktemp("docs")
    make_pdf(docs / "orchard.pdf")
    secret = tmp_path_factory.mktemp("secret")
    (secret / "salaries.md").write_text("# Salaries\n\nThe head cider maker earns 51,000 euros a year.\n")
    data = tmp_path_factory.mktemp("api") / "data"
    data.mkdir()
    (data / "models").symlink_to(model_cache_dir / "models", target_is_directory=True)
    for folder, collection in ((docs, "default"), (secret, "hr")):
        r = subprocess.run(
            [str(RAG_BIN), "ingest", "--collection", collection, str(folder)],
            env=_env(data),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == 0, r.stderr
    store = Store(data)
    store.set_collection_access("default", "*", "")
    store.set_collection_access("hr", "", "")  # admins only
    store.close()
    keys = data.parent / "api-keys"
    keys.write_text(f"{BOB} bob@example.com\n{ADMIN} root@example.com\n")
    port = _free_port()
    env = _env(data, RAG_API_KEYS_FILE=str(keys), RAG_ADMINS="root@example.com")
    log = (data.parent / "api.log").open("w")
    proc = subprocess.Popen([str(RAG_BIN), "api", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"rag api did not start (exit {proc.poll()}):\n{(data.parent / 'api.log').read_text()[-2000:]}")
        time.sleep(0.5)
    yield base
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def _client(base: str, key: str):
    from openai import OpenAI

    return OpenAI(base_url=f"{base}/v1", api_key=key, timeout=120, max_retries=0)


def test_chat_completions_with_citations_through_the_openai_client(server):
    _, question, key = PAGES[1]
    reply = _client(server, BOB).chat.completions.create(model="rag", messages=[{"role": "user", "content": question}])
    text = reply.choices[0].message.content
    assert key in text and "[1]" in text
    citations = reply.model_extra["citations"]
    assert [(c["n"], c["doc"], c["page"]) for c in citations] == [(1, "orchard.pdf", 2)]
    assert key in citations[0]["quote"] and citations[0]["quote_end"] > citations[0]["quote_start"]


def test_streamed_chat_completion_through_the_openai_client(server):
    _, question, key = PAGES[3]
    stream = _client(server, BOB).chat.completions.create(
        model="rag", messages=[{"role": "user", "content": question}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert key in text
    last = chunks[-1].model_extra
    assert last["citations"][0]["doc"] == "orchard.pdf" and last["citations"][0]["page"] == 4
    assert last["rag"]["answer"].startswith(text.strip()[:20])


def test_a_follow_up_in_the_messages_is_answered_in_its_conversation(server):
    messages = [
        {"role": "user", "content": "How many kilograms of apples can the cider press process per hour?"},
        {"role": "assistant", "content": "The cider press can process 4800 kilograms of apples per hour [1]."},
        {"role": "user", "content": "When was it installed?"},
    ]
    reply = _client(server, BOB).chat.completions.create(model="rag", messages=messages)
    assert "1987" in reply.choices[0].message.content


def test_a_key_never_reaches_a_collection_its_user_may_not_read(server):
    question = [{"role": "user", "content": "How much does the head cider maker earn?"}]
    bob = _client(server, BOB).chat.completions.create(model="rag", messages=question)
    assert "51,000" not in bob.choices[0].message.content
    assert all(c["doc"] != "salaries.md" for c in bob.model_extra["citations"])
    assert all(s["doc"] != "salaries.md" for s in bob.model_extra["rag"]["sources"])
    hits = httpx.post(
        f"{server}/v1/search",
        json={"query": "head cider maker salary euros", "collections": ["hr", "default"]},
        headers={"Authorization": f"Bearer {BOB}"},
    ).json()["hits"]
    assert hits and all(h["doc"] != "salaries.md" for h in hits)
    admin = _client(server, ADMIN).chat.completions.create(model="rag", messages=question)
    assert "51,000" in admin.choices[0].message.content
    assert admin.model_extra["citations"][0]["doc"] == "salaries.md"
    from openai import AuthenticationError

    with pytest.raises(AuthenticationError):
        _client(server, "wrong-key-0123456789abcdef").models.list()
    assert [m.id for m in _client(server, BOB).models.list()] == ["rag"]
