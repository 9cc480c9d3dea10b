"""The HTTP API's contract with fake models, in-process (rag/api.py)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from rag.api import _conversation, create_app, read_keys
from rag.engine import RAG
from rag.errors import ConfigError
from tests.fakes import FakeEmbedder, FakeGenerator


@pytest.fixture
def engine(settings, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ferry.txt").write_text("The ferry leaves at noon from pier seven.\n\nTickets cost four dollars.")
    rag = RAG(settings.replace(llm_backend="extractive", answer_threshold=0.0), FakeEmbedder(), FakeGenerator())
    rag.ingest_paths([docs])
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "payroll.txt").write_text("The payroll runs on the last Friday of the month.")
    rag.ingest_paths([secret], collection="hr")
    rag.store.set_collection_access("default", "*", "")
    rag.store.set_collection_access("hr", "", "")  # admins only
    return rag


@pytest.fixture
def client(engine):
    return TestClient(create_app(engine.settings, engine))


def test_chat_completion_carries_the_answer_markers_and_citations(client):
    r = client.post(
        "/v1/chat/completions",
        json={"model": "rag", "messages": [{"role": "user", "content": "When does the ferry leave?"}]},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion"
    text = body["choices"][0]["message"]["content"]
    assert "noon" in text and "[1]" in text
    (c,) = body["citations"]
    assert (c["n"], c["doc"], c["page"]) == (1, "ferry.txt", 1) and c[
        "quote"
    ] in "The ferry leaves at noon from pier seven."
    assert body["rag"]["abstained"] is False and body["rag"]["sources"]


def test_streamed_chat_ends_with_the_citations_then_done(client):
    payload = {"messages": [{"role": "user", "content": "When does the ferry leave?"}], "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=payload) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "noon" in text
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["citations"][0]["doc"] == "ferry.txt"


def test_search_and_models_and_health(client):
    r = client.post("/v1/search", json={"query": "ferry pier", "k": 2})
    assert r.status_code == 200 and r.json()["hits"][0]["doc"] == "ferry.txt"
    assert client.get("/v1/models").json()["data"][0]["id"] == "rag"
    assert client.get("/healthz").json() == {"status": "ok", "documents": 2}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"messages": []}, "'messages'"),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, "last message"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "'role'"),
        ({"messages": [{"role": "user", "content": "x"}], "collections": "hr"}, "'collections'"),
    ],
)
def test_bad_requests_get_a_clear_error(client, payload, message):
    r = client.post("/v1/chat/completions", json=payload)
    assert r.status_code == 400 and message in r.json()["error"]["message"]
    r = client.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]


def test_the_conversation_is_read_from_the_messages():
    question, history = _conversation(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "When does the ferry leave?"},
            {"role": "assistant", "content": "At noon [1]."},
            {"role": "user", "content": [{"type": "text", "text": "and the price?"}]},
        ]
    )
    assert question == "and the price?"
    assert history == [
        {"role": "user", "content": "When does the ferry leave?"},
        {"role": "assistant", "content": "At noon [1]."},
    ]


def test_team_mode_needs_a_key_and_applies_the_collection_acl(engine, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("# key email\nbob-0123456789abcdef bob@example.com\nadmin-0123456789abcdef root@example.com\n")
    settings = engine.settings.replace(api_keys_file=str(keys), admins=("root@example.com",))
    client = TestClient(create_app(settings, engine))
    question = {"messages": [{"role": "user", "content": "When does the payroll run?"}]}
    assert client.post("/v1/chat/completions", json=question).status_code == 401
    bad = {"Authorization": "Bearer nope-0123456789abcdef"}
    assert client.post("/v1/search", json={"query": "payroll"}, headers=bad).status_code == 401
    bob = {"Authorization": "Bearer bob-0123456789abcdef"}
    hits = client.post("/v1/search", json={"query": "payroll friday", "k": 5}, headers=bob).json()["hits"]
    assert hits and all(h["doc"] != "payroll.txt" for h in hits)
    asked = client.post("/v1/search", json={"query": "payroll", "collections": ["hr"]}, headers=bob).json()
    assert asked["hits"] == []  # asking for a collection one may not read searches nothing
    body = client.post("/v1/chat/completions", json=question, headers=bob).json()
    assert all(c["doc"] != "payroll.txt" for c in body["citations"])
    assert all(s["doc"] != "payroll.txt" for s in body["rag"]["sources"])
    admin = {"Authorization": "Bearer admin-0123456789abcdef"}
    body = client.post("/v1/chat/completions", json=question, headers=admin).json()
    assert body["citations"] and body["citations"][0]["doc"] == "payroll.txt"


def test_a_bad_keys_file_is_a_clear_error(tmp_path):
    path = tmp_path / "keys"
    path.write_text("short bob@example.com\n")
    with pytest.raises(ConfigError, match="line 1"):
        read_keys(path)
    with pytest.raises(ConfigError, match="cannot read"):
        read_keys(tmp_path / "missing")
