"""Hybrid retrieval: dense + BM25 fused by rank, filters applied inside the search."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pytest

from ingest.chunking import WhitespaceTokenizer, chunk_pages
from rag.engine import RAG
from rag.retrieval import rrf_fuse
from rag.types import Page
from tests.conftest import VECTOR_STORES, on_vector_store
from tests.fakes import FakeEmbedder, FakeGenerator

# Each test runs on FAISS + SQLite full text and on Milvus Lite.
settings = pytest.fixture(params=VECTOR_STORES)(on_vector_store)

# -- rrf_fuse -------------------------------------------------------------------------------


def test_rrf_fuse_exact_scores():
    fused = rrf_fuse([[1, 2, 3], [3, 1]], [1.0, 1.0], k=60)
    assert [cid for cid, _ in fused] == [1, 3, 2]
    scores = dict(fused)
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)


def test_rrf_fuse_weights_and_k():
    # With BM25 weighted 3x, its top result wins although dense ranks it last.
    fused = rrf_fuse([[10, 20, 30], [30]], [1.0, 3.0], k=0)
    assert fused[0] == (30, pytest.approx(1 / 3 + 3 / 1))
    assert [cid for cid, _ in fused] == [30, 10, 20]
    assert dict(fused)[10] == pytest.approx(1.0)
    assert dict(fused)[20] == pytest.approx(0.5)


def test_rrf_fuse_ties_break_by_id_and_empty_lists():
    fused = rrf_fuse([[7], [5]], [1.0, 1.0], k=60)
    assert [cid for cid, _ in fused] == [5, 7]
    assert rrf_fuse([[], []], [1.0, 1.0]) == []
    assert rrf_fuse([[4, 2], []], [1.0, 1.0]) == [(4, pytest.approx(1 / 61)), (2, pytest.approx(1 / 62))]


# -- a tiny "semantic" embedder: synonyms share an axis, other words are ignored -------------

CONCEPTS = {
    "cat": 1,
    "cats": 1,
    "feline": 1,
    "kitten": 1,
    "boiler": 2,
    "heater": 2,
    "furnace": 2,
    "ocean": 3,
    "sea": 3,
    "marine": 3,
}


class ConceptEmbedder:
    """Texts about the same concept (whatever the words) get the same direction."""

    name = "concept-embedder"
    passage_prefix = ""
    dim = 8
    max_tokens = 64

    def _one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for w in re.findall(r"\w+", text.lower()):
            if w in CONCEPTS:
                v[CONCEPTS[w]] += 1.0
        if not v.any():
            v[0] = 1.0  # no known concept: the "miscellaneous" direction
        return v / np.linalg.norm(v)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.vstack([self._one(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._one(text)

    def offsets(self, texts):
        return WhitespaceTokenizer().offsets(texts)


def _add(rag: RAG, name: str, texts: list[str], collection: str = "default") -> int:
    pages = [Page(i, t) for i, t in enumerate(texts, 1)]
    chunks = chunk_pages(pages, rag.embedder, 64, 8)
    vecs = rag.embedder.embed_passages([c.text for c in chunks])
    change = rag.store.put_document(name, f"sha-{name}-{collection}", 1, len(pages), pages, chunks, vecs, collection)
    rag.index.apply(change, vecs)
    return change.doc_id


@pytest.fixture
def concept_rag(settings):
    rag = RAG(settings, embedder=ConceptEmbedder(), generator=FakeGenerator())
    _add(rag, "pets.md", ["Cats sleep sixteen hours every day."])
    _add(rag, "plant.pdf", ["The boiler plate shows serial code QX7741 near the valve."])
    _add(rag, "filler.txt", ["Nothing noteworthy appears on this page whatsoever."])
    _add(rag, "coast.md", ["The sea was calm when the ferry left harbour."])
    return rag


SEMANTIC_QUERY = "How long does a feline rest?"  # no word in common with the pets passage
LEXICAL_QUERY = "QX7741"  # only the exact code matches; its embedding is "miscellaneous"


def test_dense_alone_misses_the_lexical_match_and_bm25_alone_misses_the_semantic_one(concept_rag):
    assert concept_rag.search(LEXICAL_QUERY, k=1, mode="dense")[0].doc != "plant.pdf"
    assert "pets.md" not in [h.doc for h in concept_rag.search(SEMANTIC_QUERY, k=4, mode="bm25")]


def test_hybrid_finds_both_the_lexical_and_the_semantic_match(concept_rag):
    assert concept_rag.settings.retrieval_mode == "hybrid"
    semantic = concept_rag.search(SEMANTIC_QUERY, k=1)
    lexical = concept_rag.search(LEXICAL_QUERY, k=1)
    assert semantic[0].doc == "pets.md"
    assert lexical[0].doc == "plant.pdf"
    assert "QX7741" in lexical[0].text


def test_hits_are_ranked_with_scores_and_cosines(concept_rag):
    hits = concept_rag.search("feline boiler", k=4)
    assert [h.rank for h in hits] == [1, 2, 3, 4]
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    for h in hits:
        assert h.dense_score is not None and -1.0 <= h.dense_score <= 1.0001
        assert concept_rag.store.page_text(h.doc_id, h.page)[h.start : h.end] == h.text


def test_hits_found_only_by_bm25_still_get_their_cosine(concept_rag):
    # One dense candidate (the filler page): the BM25-only hit's cosine is computed for abstention.
    concept_rag.settings = concept_rag.settings.replace(candidates=1)
    hits = concept_rag.search(LEXICAL_QUERY + " whatsoever", k=2)
    by_doc = {h.doc: h for h in hits}
    assert set(by_doc) == {"plant.pdf", "filler.txt"}
    assert by_doc["plant.pdf"].dense_score == pytest.approx(0.0, abs=1e-6)  # boiler axis vs. miscellaneous
    assert by_doc["filler.txt"].dense_score == pytest.approx(1.0, abs=1e-6)


def test_empty_query_returns_nothing(concept_rag):
    assert concept_rag.search("   ") == []


def test_k_limits_the_results(concept_rag):
    assert len(concept_rag.search("the", k=2, mode="dense")) == 2


def test_a_page_naming_the_numbered_label_asked_about_ranks_first(settings, monkeypatch):
    rag = RAG(settings, embedder=ConceptEmbedder(), generator=FakeGenerator())
    _add(
        rag,
        "overview.pdf",
        [
            "Each implementation tier has a name: the implementation tier 1 name and the implementation tier 2 name "
            "are given in section 3, with the implementation guidance."
        ],
    )
    _add(rag, "tiers.pdf", ["Tier 3: Repeatable. Practices are approved and expressed as policy."])
    _add(rag, "filler.txt", ["Nothing noteworthy appears on this page whatsoever."])
    question = "What is the name of Implementation Tier 3?"
    assert rag.search(question, k=1)[0].doc == "tiers.pdf"
    # Without the "Tier 3" list, the page repeating the question's words wins.
    monkeypatch.setattr("rag.retrieval.numbered_labels", lambda q: [])
    assert rag.search(question, k=1)[0].doc == "overview.pdf"


def test_a_label_naming_a_document_is_no_evidence_for_a_page(settings):
    rag = RAG(settings, embedder=ConceptEmbedder(), generator=FakeGenerator())
    _add(rag, "fips-199-categorization.pdf", ["Impact levels are low, moderate and high for each objective."])
    _add(rag, "other.pdf", ["FIPS 199 is cited here once, in passing, beside nothing else."])
    assert rag.store.names_document("fips 199") and not rag.store.names_document("tier 3")
    # "FIPS 199" names the first file: the page that merely mentions it gains nothing.
    assert rag.search("What impact levels does FIPS 199 use?", k=1)[0].doc == "fips-199-categorization.pdf"


# -- filters inside the search --------------------------------------------------------------


@pytest.fixture
def two_collections(settings):
    # Few candidates: a filter applied *after* the search would leave nothing.
    rag = RAG(settings.replace(candidates=1), embedder=FakeEmbedder(), generator=FakeGenerator())
    for i in range(5):
        _add(rag, f"secret-{i}.md", [f"The launch code for the vault is 0000-{i}."], collection="secret")
    public_id = _add(rag, "public.md", ["The vault is opened by staff every morning."], collection="public")
    return rag, public_id


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_other_collections_are_never_returned_even_when_they_match_best(two_collections, mode):
    rag, _ = two_collections
    query = "The launch code for the vault is"
    assert rag.search(query, k=1, mode=mode)[0].collection == "secret"  # best match overall
    hits = rag.search(query, k=10, collections=["public"], mode=mode)
    assert [h.doc for h in hits] == ["public.md"]


def test_document_filter_applies_inside_the_search(two_collections):
    rag, public_id = two_collections
    hits = rag.search("launch code vault", k=5, doc_ids=[public_id])
    assert [h.doc_id for h in hits] == [public_id]


def test_filter_matching_no_chunk_returns_nothing(two_collections):
    rag, _ = two_collections
    assert rag.search("vault", collections=["does-not-exist"]) == []


# -- the reranker seam ------------------------------------------------------------------------


class ReverseReranker:
    """Puts the fused order upside down, so its effect is visible."""

    def __init__(self) -> None:
        self.seen: list[list[int]] = []

    def rerank(self, query, hits):
        self.seen.append([h.chunk_id for h in hits])
        out = list(reversed(hits))
        for i, h in enumerate(out):
            h.score = float(len(out) - i)
        return out


def test_reranker_sees_all_candidates_and_its_order_is_kept(settings):
    rag = RAG(settings.replace(candidates=4), embedder=FakeEmbedder(), generator=FakeGenerator())
    for i in range(6):
        _add(rag, f"d{i}.md", [f"Walrus fact number {i} " + "walrus " * i])
    plain = rag.search("walrus", k=2)
    reranker = ReverseReranker()
    rag._reranker = reranker
    hits = rag.search("walrus", k=2)
    assert len(reranker.seen) == 1 and len(reranker.seen[0]) == 4
    assert [h.chunk_id for h in hits] == list(reversed(reranker.seen[0]))[:2]
    assert [h.chunk_id for h in hits] != [h.chunk_id for h in plain]
    assert [h.rank for h in hits] == [1, 2]
    assert hits[0].score > hits[1].score


# -- passages of one page -------------------------------------------------------------------


def _filler(n: int) -> str:
    return " ".join(f"Paragraph {i} records routine facts about the weather and the harbour." for i in range(n))


def test_distant_sections_of_one_long_page_are_separate_passages(settings):
    # A Markdown file is one page: its title section and its authors section, far apart,
    # both match; merged into one passage, one of them would be lost.
    rag = RAG(settings, embedder=FakeEmbedder(), generator=FakeGenerator())
    text = f"Vault manual. The vault opens at nine. {_filler(80)} Vault authors: Ada Byron and Alan Turing."
    _add(rag, "notes.md", [text])
    _add(rag, "other.md", ["A page about gardening and roses."])
    assert len(text) > 2 * settings.max_merge_chars
    hits = rag.search("vault authors", k=5)
    notes = [h for h in hits if h.doc == "notes.md"]
    assert len(notes) >= 2 and all(h.page == 1 for h in notes)
    assert any("Ada Byron" in h.text for h in notes) and any("opens at nine" in h.text for h in notes)
    spans = sorted((h.start, h.end) for h in notes)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # no text in two passages


def test_nearby_chunks_of_one_page_still_merge_into_one_passage(settings):
    rag = RAG(settings, embedder=FakeEmbedder(), generator=FakeGenerator())
    text = f"Vault manual. The vault opens at nine. {_filler(8)} Vault authors: Ada Byron."
    _add(rag, "notes.md", [text])
    assert len(text) < settings.max_merge_chars
    hits = rag.search("vault authors", k=5)
    assert [h.doc for h in hits] == ["notes.md"]
    assert "opens at nine" in hits[0].text and "Ada Byron" in hits[0].text


def test_a_long_pdf_page_stays_one_passage(settings):
    # Split, one PDF page would take two of the k slots from the other pages.
    rag = RAG(settings, embedder=FakeEmbedder(), generator=FakeGenerator())
    text = f"Vault manual. The vault opens at nine. {_filler(80)} Vault authors: Ada Byron and Alan Turing."
    _add(rag, "manual.pdf", [text])
    _add(rag, "other.md", ["A page about gardening and roses."])
    hits = rag.search("vault authors", k=5)
    assert [h.doc for h in hits].count("manual.pdf") == 1
