"""The SQLite store: atomic documents, FTS5 in step, collections, re-ingestion."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from ingest.chunking import WhitespaceTokenizer, chunk_pages
from rag.errors import StoreError
from rag.store import DEFAULT_COLLECTION, Store, fts_query, numbered_labels
from rag.types import ChunkSpan, Page
from tests.fakes import FakeEmbedder
from tests.unit.inprocess import parse_in_process  # noqa: F401 (autouse)

EMB = FakeEmbedder()


def _put(store: Store, name: str, texts: list[str], collection: str = DEFAULT_COLLECTION, sha: str | None = None):
    pages = [Page(i, t) for i, t in enumerate(texts, 1)]
    chunks = chunk_pages(pages, WhitespaceTokenizer(), 40, 8)
    vecs = EMB.embed_passages([c.text for c in chunks])
    return store.put_document(
        name, sha or f"sha-{name}-{hash(tuple(texts))}", 10, len(pages), pages, chunks, vecs, collection
    )


def _bm25_docs(store: Store, query: str, **kw) -> list[str]:
    ids = [cid for cid, _ in store.bm25(query, 10, **kw)]
    return sorted({h.doc for h in store.hits(ids).values()})


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "data")


def test_put_document_stores_pages_chunks_and_embeddings(store):
    change = _put(store, "a.pdf", ["The walrus sleeps on ice.", "Penguins cannot fly."])
    doc = store.find_document("a.pdf")
    assert doc is not None and doc.n_pages == 2 and doc.n_chunks == 2
    assert store.page_text(doc.id, 2) == "Penguins cannot fly."
    hits = store.hits(change.added_ids)
    assert sorted(h.page for h in hits.values()) == [1, 2]
    ids, vecs = next(store.iter_embeddings())
    assert list(ids) == change.added_ids
    assert np.allclose(vecs[0], EMB.embed_passages(["The walrus sleeps on ice."])[0])
    assert change.after == change.before + 1 == store.index_version()


def test_replacing_a_document_swaps_its_chunks(store):
    first = _put(store, "a.pdf", ["The walrus sleeps on ice."])
    second = _put(store, "a.pdf", ["The narwhal hunts under ice."])
    assert second.removed_ids == first.added_ids
    assert len(store.documents()) == 1
    assert store.chunk_count() == 1
    assert _bm25_docs(store, "walrus") == []
    assert _bm25_docs(store, "narwhal") == ["a.pdf"]


def test_failure_mid_transaction_keeps_the_previous_version(store):
    _put(store, "a.pdf", ["The walrus sleeps on ice."])
    version = store.index_version()
    pages = [Page(1, "The narwhal hunts under ice.")]
    good = ChunkSpan(1, 0, 28, "The narwhal hunts under ice.", 5)
    bad = ChunkSpan(1, 0, 3, None, 1)  # type: ignore[arg-type]  # NOT NULL violation after the old rows are gone
    with pytest.raises(sqlite3.IntegrityError):
        store.put_document("a.pdf", "sha-new", 10, 1, pages, [good, bad], EMB.embed_passages(["x", "y"]))
    doc = store.find_document("a.pdf")
    assert doc is not None and doc.sha256.startswith("sha-a.pdf")
    assert store.page_text(doc.id, 1) == "The walrus sleeps on ice."
    assert store.chunk_count() == 1
    assert store.index_version() == version
    assert _bm25_docs(store, "walrus") == ["a.pdf"]
    assert _bm25_docs(store, "narwhal") == []


def test_crash_before_commit_loses_nothing(store, monkeypatch):
    _put(store, "a.pdf", ["The walrus sleeps on ice."])

    def boom(db):
        raise RuntimeError("power cut")

    monkeypatch.setattr(Store, "_bump", staticmethod(boom))
    with pytest.raises(RuntimeError):
        _put(store, "a.pdf", ["The narwhal hunts under ice."])
    with pytest.raises(RuntimeError):
        store.delete_document(store.find_document("a.pdf").id)
    monkeypatch.undo()
    # A fresh connection (another process) sees the old document, whole.
    other = Store(store.data_dir)
    assert [d.name for d in other.documents()] == ["a.pdf"]
    assert _bm25_docs(other, "walrus") == ["a.pdf"]
    assert other.chunk_count() == 1


def test_delete_document_removes_it_from_full_text_search(store):
    _put(store, "a.pdf", ["The walrus sleeps on ice."])
    _put(store, "b.pdf", ["A walrus colony lives here."])
    change = store.delete_document(store.find_document("a.pdf").id)
    assert change.removed_ids and change.after == store.index_version()
    assert _bm25_docs(store, "walrus") == ["b.pdf"]
    assert store.page_text(change.doc_id, 1) == ""


def test_embeddings_must_match_chunks(store):
    with pytest.raises(ValueError):
        store.put_document("a.pdf", "s", 1, 1, [Page(1, "x")], [ChunkSpan(1, 0, 1, "x", 1)], np.zeros((0, 64)))


def test_bm25_ranks_and_ignores_stop_words(store):
    _put(store, "a.pdf", ["Tide pools hold anemones and crabs."])
    _put(store, "b.pdf", ["The anemones anemones anemones of the bay."])
    _put(store, "c.pdf", ["What is the of and a the."])
    ranked = [store.hits([cid])[cid].doc for cid, _ in store.bm25("what are the anemones", 10)]
    assert ranked == ["b.pdf", "a.pdf"]
    assert store.bm25("the of and", 10) == []
    assert store.bm25('"unbalanced AND (', 10) == []


def test_bm25_identifier_weight_lets_an_exact_code_outrank_common_words(store):
    _put(store, "controls.pdf", ["PR.IP-4: Backups of information are conducted, maintained, and tested."])
    for i in range(12):  # filler: the question's common words are common here too
        extra = " The Framework Core names each subcategory." if i % 3 == 0 else ""
        _put(store, f"filler{i}.pdf", [f"Other guidance number {i} about tides and weather.{extra}"])
    _put(
        store, "overview.pdf", ["The Framework Core lists each subcategory. Framework Core subcategory tables follow."]
    )
    query = "What does Framework Core subcategory PR.IP-4 require?"

    def first(weight: int) -> str:
        cid = store.bm25(query, 10, identifier_weight=weight)[0][0]
        return store.hits([cid])[cid].doc

    assert first(1) == "overview.pdf"
    assert first(3) == "controls.pdf"


def test_fts_query_repeats_only_code_like_terms():
    assert fts_query("Is PR.IP-4 like 5e-6 or FLAN-T5 in Tier 3?", 2) == " OR ".join(
        ['"pr.ip-4"'] * 2 + ['"like"'] + ['"5e-6"'] * 2 + ['"flan-t5"'] * 2 + ['"tier"', '"3"']
    )
    assert fts_query("state-of-the-art results", 3) == '"state-of-the-art" OR "results"'


def test_numbered_labels_are_capitalised_words_with_a_number():
    assert numbered_labels("What is the name of Implementation Tier 3?") == ["tier 3"]
    assert numbered_labels("In FIPS 199's Table 1, and Version 1.0 of SP 800-145?") == [
        "fips 199",
        "table 1",
        "version 1.0",
        "sp 800-145",
    ]
    # Lower-case words before a number are no labels, nor are stop words.
    assert numbered_labels("With only 25 labeled datapoints, in 2013 and The 3 others") == []


def test_match_finds_an_exact_phrase_only(store):
    _put(store, "tiers.pdf", ["Tier 3: Repeatable practices."])
    _put(store, "apart.pdf", ["Each tier has a number; 3 of them are named."])
    found = [store.hits([cid])[cid].doc for cid, _ in store.match('"tier 3"', 10)]
    assert found == ["tiers.pdf"]


def test_collections_crud(store):
    assert [c["name"] for c in store.collections()] == [DEFAULT_COLLECTION]
    store.create_collection("legal", readers="alice", uploaders="bob")
    with pytest.raises(StoreError, match="already exists"):
        store.create_collection("legal")
    with pytest.raises(StoreError):
        store.create_collection("   ")
    _put(store, "contract.pdf", ["Clause nine covers termination."], collection="legal")
    legal = next(c for c in store.collections() if c["name"] == "legal")
    assert legal["documents"] == 1 and legal["readers"] == "alice" and legal["uploaders"] == "bob"

    store.rename_collection("legal", "contracts")
    assert store.find_document("contract.pdf", "contracts") is not None
    with pytest.raises(StoreError, match="already exists"):
        store.rename_collection("contracts", DEFAULT_COLLECTION)
    with pytest.raises(StoreError, match="no collection"):
        store.rename_collection("nope", "other")

    store.set_collection_access("contracts", "carol", "dave")
    assert next(c for c in store.collections() if c["name"] == "contracts")["readers"] == "carol"

    change = store.delete_collection("contracts")
    assert len(change.removed_ids) == 1
    assert [c["name"] for c in store.collections()] == [DEFAULT_COLLECTION]
    assert store.documents() == []
    assert store.bm25("termination", 10) == []
    with pytest.raises(StoreError, match="no collection"):
        store.delete_collection("contracts")


def test_deleting_the_default_collection_empties_but_keeps_it(store):
    _put(store, "a.pdf", ["The walrus sleeps on ice."])
    store.delete_collection(DEFAULT_COLLECTION)
    assert [c["name"] for c in store.collections()] == [DEFAULT_COLLECTION]
    assert store.documents() == []


def test_same_name_in_two_collections_are_two_documents(store):
    _put(store, "notes.md", ["Red notes."], collection="red")
    _put(store, "notes.md", ["Blue notes."], collection="blue")
    assert len(store.documents()) == 2
    assert _bm25_docs(store, "red", collections=["blue"]) == []
    assert _bm25_docs(store, "red", collections=["red"]) == ["notes.md"]


def test_allowed_chunk_ids_filters_by_collection_and_document(store):
    a = _put(store, "a.pdf", ["One.", "Two."], collection="x")
    b = _put(store, "b.pdf", ["Three."], collection="y")
    assert sorted(store.allowed_chunk_ids(["x"], None)) == sorted(a.added_ids)
    assert sorted(store.allowed_chunk_ids(None, [b.doc_id])) == b.added_ids
    assert list(store.allowed_chunk_ids(["x"], [b.doc_id])) == []


def test_neighbours_are_on_the_same_page(store):
    text = " ".join(f"Sentence number {i} is here." for i in range(30))
    change = _put(store, "a.pdf", [text, "Other page."])
    rows = store.hits(change.added_ids)
    page1 = [i for i in change.added_ids if rows[i].page == 1]
    assert len(page1) >= 3
    prev, nxt = store.neighbours(page1[1])
    assert prev.chunk_id == page1[0] and nxt.chunk_id == page1[2]
    _, nxt = store.neighbours(page1[-1])
    assert nxt is None  # the next chunk is on page 2


# -- through the ingestion pipeline ------------------------------------------------------
def test_reingesting_an_unchanged_file_does_nothing(fake_rag, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("The walrus sleeps on the ice floe all afternoon.\n\nPenguins cannot fly.")
    first = fake_rag.ingest_paths([f])
    assert [r.status for r in first.results] == ["added"]
    ids_before = list(next(fake_rag.store.iter_embeddings())[0])
    version = fake_rag.store.index_version()
    calls = fake_rag.embedder.calls

    again = fake_rag.ingest_paths([f])
    assert [r.status for r in again.results] == ["unchanged"]
    assert again.results[0].chunks == first.results[0].chunks
    assert list(next(fake_rag.store.iter_embeddings())[0]) == ids_before
    assert fake_rag.store.index_version() == version
    assert fake_rag.embedder.calls == calls, "an unchanged file must not be embedded again"


def test_a_changed_file_under_the_same_name_replaces_its_chunks(fake_rag, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("The walrus sleeps on the ice floe all afternoon.")
    fake_rag.ingest_paths([f])
    f.write_text("The narwhal hunts beneath the pack ice at dawn.")
    report = fake_rag.ingest_paths([f])
    assert [r.status for r in report.results] == ["replaced"]
    docs = fake_rag.store.documents()
    assert len(docs) == 1 and docs[0].n_chunks == 1
    assert [h.doc for h in fake_rag.search("walrus", mode="bm25")] == []
    hits = fake_rag.search("narwhal hunts", k=3)
    assert [h.doc for h in hits] == ["notes.txt"]
    assert "narwhal" in hits[0].text
    # The FAISS index holds exactly the new chunk.
    assert fake_rag.index.ntotal == 1


# -- sentence vectors ------------------------------------------------------------------
class _Recording(FakeEmbedder):
    """Remembers every text it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed_passages(self, texts):
        self.texts.extend(texts)
        return super().embed_passages(texts)


def test_sentence_vectors_live_and_die_with_their_document(store):
    _put(store, "a.pdf", ["The walrus sleeps on ice. Penguins cannot fly."])
    doc = store.find_document("a.pdf")
    assert store.without_sentence_vectors() == [doc.id]
    sents = ["The walrus sleeps on ice.", "Penguins cannot fly."]
    with pytest.raises(ValueError, match="one embedding per sentence"):
        store.put_sentence_vectors(doc.id, sents, EMB.embed_passages(sents[:1]))
    assert store.stats()["sentence_vectors"] == 0
    assert store.put_sentence_vectors(doc.id, sents, EMB.embed_passages(sents))
    assert not store.put_sentence_vectors(doc.id, sents, EMB.embed_passages(sents)), "stored twice"
    assert not store.put_sentence_vectors(doc.id + 1, sents, EMB.embed_passages(sents)), "no such document"
    found = store.sentence_vectors(["Penguins cannot fly.", "Not stored at all."])
    assert list(found) == ["Penguins cannot fly."]
    assert np.allclose(found["Penguins cannot fly."], EMB.embed_passages(["Penguins cannot fly."])[0])
    assert store.stats()["sentence_vectors"] == 2 and store.without_sentence_vectors() == []
    _put(store, "a.pdf", ["The narwhal hunts under ice."])  # replaced: the old vectors go with it
    assert store.sentence_vectors(sents) == {} and store.stats()["sentence_vectors"] == 0


def test_ingestion_stores_every_sentence_so_answers_need_not_embed_them(settings, tmp_path):
    from rag.engine import RAG

    emb = _Recording()
    rag = RAG(settings, embedder=emb)
    f = tmp_path / "notes.txt"
    f.write_text("The walrus sleeps on the ice floe all afternoon. Penguins cannot fly, but they swim fast.")
    report = rag.ingest_paths([f])
    assert report.sentences == 2 and "then 2 sentence vectors" in report.summary()
    assert "Penguins cannot fly, but they swim fast." in emb.texts  # embedded once, after the chunks
    emb.texts.clear()
    question = "Can penguins fly?"
    vecs = rag.embed_sentences([question, "Penguins cannot fly, but they swim fast."])
    assert emb.texts == [question], "a stored sentence must be looked up, not embedded again"
    assert np.allclose(vecs, FakeEmbedder().embed_passages([question, "Penguins cannot fly, but they swim fast."]))


def test_sentence_vectors_missing_are_embedded_per_answer_and_filled_later(settings, tmp_path):
    from rag.engine import RAG

    emb = _Recording()
    off = RAG(settings.replace(sentence_vectors="off"), embedder=emb)
    f = tmp_path / "notes.txt"
    f.write_text("The walrus sleeps on the ice floe all afternoon. Penguins cannot fly, but they swim fast.")
    off.ingest_paths([f])
    assert off.store.stats()["sentence_vectors"] == 0
    assert emb.texts == [r[0] for r in off.store.db.execute("SELECT text FROM chunks ORDER BY id")]
    emb.texts.clear()
    off.embed_sentences(["Penguins cannot fly, but they swim fast."])
    assert emb.texts == ["Penguins cannot fly, but they swim fast."]
    # A data directory without them (ingested with "off", or before they existed) gets them
    # from the next ingestion, even of nothing new, or in the app's background thread.
    on = RAG(settings.replace(sentence_vectors="ingest"), embedder=emb)
    assert on.ingest_paths([f]).sentences == 2
    assert on.store.sentence_vectors(["Penguins cannot fly, but they swim fast."])
    g = tmp_path / "more.txt"
    g.write_text("Narwhals hunt under the pack ice. Their tusk is a tooth.")
    assert on.ingest_paths([g], sentences=False).sentences == 0
    assert on.store.without_sentence_vectors() == [on.store.find_document("more.txt").id]
    on.fill_sentence_vectors_in_background().join(timeout=30)
    assert on.store.without_sentence_vectors() == []
    assert on.store.sentence_vectors(["Their tusk is a tooth."])


def test_a_background_fill_stops_between_documents_when_asked(settings, tmp_path, monkeypatch):
    import ingest.pipeline
    from rag.engine import RAG

    rag = RAG(settings.replace(sentence_vectors="off"), embedder=FakeEmbedder())
    for i in range(3):
        (tmp_path / f"n{i}.txt").write_text(f"Document {i} says one thing. Then it says another thing.")
    rag.ingest_paths([tmp_path])
    monkeypatch.setattr(ingest.pipeline, "EMBED_BATCH_SENTENCES", 1)  # one document per batch
    asked = iter([False, True])  # an ingestion starts after the first batch
    assert rag.ingestor().fill_sentence_vectors(should_stop=lambda: next(asked)) == 2
    assert len(rag.store.without_sentence_vectors()) == 2, "the rest waits for the next run"
    assert rag.ingestor().fill_sentence_vectors() == 4
    assert rag.store.without_sentence_vectors() == []


def test_asking_for_a_fill_while_one_runs_fills_what_came_meanwhile(settings, tmp_path):
    import threading

    from rag.engine import RAG

    on = RAG(settings, embedder=FakeEmbedder())
    _put(on.store, "a.pdf", ["The first file says one thing. Then another thing."])
    listed, go_on = threading.Event(), threading.Event()
    real = on.store.without_sentence_vectors

    def listing_then_pausing():
        todo = real()
        if not listed.is_set():
            listed.set()
            go_on.wait(10)  # the first fill has listed its documents; a second one arrives
        return todo

    on.store.without_sentence_vectors = listing_then_pausing
    first = on.fill_sentence_vectors_in_background()
    assert listed.wait(10)
    _put(on.store, "b.pdf", ["The second file says something else. And more."])
    assert on.fill_sentence_vectors_in_background() is first, "one thread at a time"
    go_on.set()
    first.join(timeout=30)
    assert not first.is_alive()
    assert real() == [], "the second request must run the fill again, for b.pdf"
