"""Team access: access-list rules, and retrieval that never leaks an unreadable collection."""

from __future__ import annotations

import pytest

from rag import access
from rag.access import Principal
from rag.engine import RAG
from tests.conftest import VECTOR_STORES, on_vector_store
from tests.unit.inprocess import parse_in_process  # noqa: F401 (autouse)

# Each test runs on FAISS + SQLite full text and on Milvus Lite.
settings = pytest.fixture(params=VECTOR_STORES)(on_vector_store)

ALICE = Principal("alice@alpha.test")
BOB = Principal("bob@beta.test")
ADMIN = Principal("root@ops.test", is_admin=True)
STRANGER = Principal("eve@evil.test")

# Alpha holds the best match for the question; beta holds a weaker, related passage.
ALPHA = "The Harbor Point lighthouse was built in 1872 by the harbour board. Its lamp was automated in 1968."
BETA = "The beta team budget for the lighthouse museum gift shop is twelve thousand euros."
QUESTION = "When was the Harbor Point lighthouse built?"


@pytest.fixture
def team(fake_rag, tmp_path) -> RAG:
    store = fake_rag.store
    store.create_collection("alpha", readers="alice@alpha.test", uploaders="alice@alpha.test")
    store.create_collection("beta", readers="@beta.test", uploaders="")
    for coll, text in (("alpha", ALPHA), ("beta", BETA)):
        folder = tmp_path / coll
        folder.mkdir()
        (folder / f"{coll}-notes.md").write_text(text)
        assert fake_rag.ingest_paths([folder], collection=coll).count("added") == 1
    return fake_rag


def test_entries_accept_emails_domains_and_anyone_and_reject_bare_words():
    assert access.parse_entries(" Alice@X.org, @y.org;* alice@x.org ") == ["alice@x.org", "@y.org", "*"]
    with pytest.raises(ValueError, match="bob"):
        access.parse_entries("alice@x.org, bob")
    assert access.matches("Carol@Y.org", "@y.org")
    assert not access.matches("carol@evil-y.org", "@y.org")
    assert not access.matches("carol@y.org.evil", "@y.org")
    assert access.matches("anyone@z.org", "*")
    assert not access.matches("", "*")


def test_admins_come_from_settings_entries():
    assert access.principal_for("Root@Ops.test", ["root@ops.test"]).is_admin
    assert access.principal_for("anna@ops.test", ["@ops.test"]).is_admin
    assert not access.principal_for("eve@evil.test", ["@ops.test"]).is_admin


def test_each_user_reads_only_their_collections(team):
    store = team.store
    assert access.readable_collections(store, ALICE) == ["alpha"]
    assert access.readable_collections(store, BOB) == ["beta"]
    assert access.readable_collections(store, STRANGER) == []
    # Empty readers: admins only ("default" has no readers).
    assert set(access.readable_collections(store, ADMIN)) == {"alpha", "beta", "default"}
    assert access.readable_collections(store, None) is None  # single-user mode


def test_uploads_need_the_uploaders_list_and_only_admins_create_collections(team):
    store = team.store
    assert access.may_upload(store, ALICE, "alpha")
    assert not access.may_upload(store, ALICE, "beta")
    assert not access.may_upload(store, BOB, "beta")  # empty uploaders = admins only
    assert access.may_upload(store, ADMIN, "beta")
    assert not access.may_upload(store, ALICE, "brand-new")
    assert access.may_upload(store, ADMIN, "brand-new")
    assert access.uploadable_collections(store, ALICE) == ["alpha"]
    store.set_collection_access("beta", "@beta.test", "bob@beta.test")
    assert access.may_upload(store, BOB, "beta")


def test_uploaders_may_read_what_they_upload(team):
    team.store.set_collection_access("beta", "", "alice@alpha.test")
    assert access.readable_collections(team.store, ALICE) == ["alpha", "beta"]
    assert access.readable_collections(team.store, BOB) == []


def test_restrict_intersects_the_chosen_scope_with_what_is_readable():
    assert access.restrict(None, None) is None
    assert access.restrict(["a"], None) == ["a"]
    assert access.restrict(None, ["a", "b"]) == ["a", "b"]
    assert access.restrict(["b", "c"], ["a", "b"]) == ["b"]
    assert access.restrict(["c"], ["a"]) == []
    assert access.restrict(None, []) == []


def test_search_for_bob_never_returns_alphas_best_match(team):
    unrestricted = team.search(QUESTION, k=5)
    assert unrestricted[0].collection == "alpha"  # the best match is alpha's passage

    for mode in ("hybrid", "dense", "bm25"):
        bob = team.search(QUESTION, k=5, collections=access.readable_collections(team.store, BOB), mode=mode)
        assert all(h.collection == "beta" for h in bob), mode
        assert all("1872" not in h.text for h in bob), mode
    alice = team.search(QUESTION, k=5, collections=access.readable_collections(team.store, ALICE))
    assert alice and all(h.collection == "alpha" for h in alice)


def test_chosen_scope_cannot_widen_access(team):
    scope = access.restrict(["alpha", "beta"], access.readable_collections(team.store, BOB))
    hits = team.search(QUESTION, k=5, collections=scope)
    assert hits and {h.collection for h in hits} == {"beta"}


def test_a_user_without_collections_finds_nothing(team):
    assert team.search(QUESTION, k=5, collections=access.readable_collections(team.store, STRANGER)) == []


def test_ask_for_bob_is_never_given_or_cites_alphas_passage(team):
    events = list(team.ask_stream(QUESTION, collections=access.readable_collections(team.store, BOB)))
    answer = events[-1].value
    assert all(h.collection == "beta" for h in answer.sources)
    assert all(c.doc != "alpha-notes.md" for c in answer.citations)
    assert "1872" not in answer.answer
    prompt = " ".join(m["content"] for m in team.generator.prompts[-1]) if team.generator.prompts else ""
    assert "1872" not in prompt

    events = list(team.ask_stream(QUESTION, collections=access.readable_collections(team.store, ALICE)))
    answer = events[-1].value
    assert "1872" in answer.answer and {c.doc for c in answer.citations} == {"alpha-notes.md"}
