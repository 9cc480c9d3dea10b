"""Optional cross-encoder reranking, with a tiny CrossEncoder the test builds (no download).

The tiny model has random weights, so its judgement means nothing; what is tested is the
plumbing: the reranker is loaded on first use, sees all candidates, and its order is the
order the user gets. A twin with negated classifier weights must give the exact reverse.
"""

from __future__ import annotations

import io
import json
import shutil

import pytest

from rag import cli
from rag.engine import RAG
from rag.errors import ModelError
from rag.models import bundled_embedding_dir
from rag.rerank import CrossEncoderReranker
from tests.fakes import FakeEmbedder, FakeGenerator

pytestmark = pytest.mark.integration

PASSAGES = [
    "The ferry to Gull Island leaves at noon from pier seven.",
    "Ferry tickets cost four dollars and are sold on board.",
    "The island ferry does not run when the wind is above forty knots.",
    "A second ferry was added in 1994 for the summer season.",
    "Ferry passengers may bring bicycles but not cars.",
    "The old ferry, the Kittiwake, is now a museum ship.",
]
QUERY = "When does the island ferry leave?"


def _build(path, negate: bool) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(1234)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=1,
        initializer_range=0.5,
    )
    model = BertForSequenceClassification(config)
    if negate:
        with torch.no_grad():
            model.classifier.weight.neg_()
            model.classifier.bias.neg_()
    model.save_pretrained(path)
    source = bundled_embedding_dir()
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (source / name).exists():
            shutil.copy(source / name, path / name)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Two tiny cross-encoders: one, and its exact opposite."""
    base = tmp_path_factory.mktemp("tiny-ce")
    plain, negated = base / "tiny-ce", base / "tiny-ce-negated"
    plain.mkdir()
    negated.mkdir()
    _build(plain, negate=False)
    _build(negated, negate=True)
    return plain, negated


@pytest.fixture
def rag_with(settings, tmp_path):
    """An engine over the passages (one small file each) with the given reranker model."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(PASSAGES):
        (docs / f"p{i}.md").write_text(text)
    RAG(settings, FakeEmbedder(), FakeGenerator()).ingest_paths([docs])

    def make(model_path, **changes):
        return RAG(settings.replace(reranker_model=str(model_path), **changes), FakeEmbedder(), FakeGenerator())

    return make


def _ce_order(model_path, texts: list[str]) -> list[str]:
    from sentence_transformers import CrossEncoder

    scores = CrossEncoder(str(model_path), device="cpu").predict([(QUERY, t) for t in texts])
    return [t for _, t in sorted(zip(scores, texts), key=lambda st: -st[0])]


def test_the_reranker_loads_on_first_use_and_sorts_by_its_scores(tiny_models):
    from rag.types import Hit

    reranker = CrossEncoderReranker(str(tiny_models[0]))
    assert reranker._model is None
    hits = [Hit(i, f"p{i}.md", 1, t, score=1.0 - i / 10) for i, t in enumerate(PASSAGES)]
    out = reranker.rerank(QUERY, hits)
    assert reranker._model is not None
    assert sorted(h.chunk_id for h in out) == list(range(len(PASSAGES)))
    assert [h.text for h in out] == _ce_order(tiny_models[0], PASSAGES)
    scores = [h.score for h in out]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(scores), "the tiny model must separate the passages"
    assert reranker.rerank(QUERY, []) == []


def test_the_retriever_applies_the_rerankers_order(tiny_models, rag_with):
    plain, negated = tiny_models
    rag = rag_with(plain, candidates=len(PASSAGES))
    assert isinstance(rag.reranker, CrossEncoderReranker)
    calls = []
    original = rag.reranker.rerank

    def spy(query, hits):
        calls.append((query, len(hits)))
        return original(query, hits)

    rag.reranker.rerank = spy
    k = len(PASSAGES)
    order = [h.text for h in rag.search(QUERY, k=k)]
    assert calls == [(QUERY, len(PASSAGES))]
    assert order == _ce_order(plain, PASSAGES)
    # The exact opposite model gives the exact opposite order: the reranker decides.
    reverse = [h.text for h in rag_with(negated, candidates=len(PASSAGES)).search(QUERY, k=k)]
    assert reverse == order[::-1]


def test_the_reranker_chooses_among_more_candidates_than_it_returns(tiny_models, rag_with):
    plain, negated = tiny_models
    top = [h.text for h in rag_with(plain, candidates=len(PASSAGES)).search(QUERY, k=3)]
    bottom = [h.text for h in rag_with(negated, candidates=len(PASSAGES)).search(QUERY, k=3)]
    assert top == _ce_order(plain, PASSAGES)[:3]
    assert not set(top) & set(bottom)  # together they used all six candidates
    hits = rag_with(plain, candidates=len(PASSAGES)).search(QUERY, k=3)
    assert [h.rank for h in hits] == [1, 2, 3]


def test_without_a_reranker_model_nothing_is_loaded(settings):
    rag = RAG(settings, FakeEmbedder(), FakeGenerator())
    assert rag.reranker is None


def test_rag_reranker_model_from_the_environment_reaches_rag_search(tiny_models, rag_with, monkeypatch, capsys):
    rag_with(tiny_models[0])  # ingest the passages
    monkeypatch.setenv("RAG_RERANKER_MODEL", str(tiny_models[0]))
    monkeypatch.setenv("RAG_CANDIDATES", str(len(PASSAGES)))
    monkeypatch.setattr(cli, "_engine", lambda args: RAG(cli._settings(args), FakeEmbedder(), FakeGenerator()))
    monkeypatch.setattr("sys.stdin", io.StringIO(QUERY + "\n"))
    assert cli.main(["search", "--json", "-k", str(len(PASSAGES))]) == 0
    (result,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [h["text"] for h in result["hits"]] == _ce_order(tiny_models[0], PASSAGES)


def test_a_missing_reranker_model_is_a_clear_error(rag_with, tmp_path):
    rag = rag_with(tmp_path / "no-such-model")
    with pytest.raises(ModelError, match="RAG_RERANKER_MODEL"):
        rag.search(QUERY)
