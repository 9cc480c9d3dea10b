"""Embeddings and generation on CUDA (bfloat16). Skipped on machines without a GPU."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

TEXTS = [
    "Employees receive 25 days of paid annual leave.",
    "Tide pools hold anemones, crabs and sea stars.",
    "Jupiter is the largest planet of the solar system.",
]
MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Name three colours of the rainbow."},
]


@pytest.fixture(scope="module")
def cuda_embedder():
    from rag.embedders import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(device="cuda", batch_size=256)


@pytest.fixture(scope="module")
def cuda_generator(model_cache_dir):
    from rag.generators.transformers_backend import TransformersGenerator

    gen = TransformersGenerator(data_dir=model_cache_dir, device="cuda", max_new_tokens=32)
    gen.warm_up()
    return gen


def test_embeddings_on_cuda_agree_with_the_cpu(cuda_embedder, real_embedder):
    assert cuda_embedder.device.startswith("cuda")
    gpu = cuda_embedder.embed_passages(TEXTS)
    cpu = real_embedder.embed_passages(TEXTS)
    assert gpu.dtype == np.float32 and gpu.shape == cpu.shape
    assert np.allclose(np.linalg.norm(gpu, axis=1), 1.0, atol=1e-3)
    assert np.min(np.sum(gpu * cpu, axis=1)) > 0.99  # same directions, half precision aside
    query = cuda_embedder.embed_query("How much holiday do staff get?")
    assert int(np.argmax(gpu @ query)) == 0


def test_the_generator_runs_on_cuda_in_bfloat16(cuda_generator):
    info = cuda_generator.describe()
    assert info["device"].startswith("cuda")
    assert info["dtype"] == "bfloat16"
    assert info["kv_cache"] == "static"  # the decode step is compiled (CUDA graphs)


def test_generation_on_cuda_streams_a_greedy_answer(cuda_generator):
    pieces = list(cuda_generator.stream(MESSAGES))
    assert len(pieces) > 1  # streamed piece by piece, not returned at the end
    text = "".join(pieces)
    assert text.strip()
    assert "".join(cuda_generator.stream(MESSAGES)) == text  # greedy: the same answer twice


def test_an_answer_with_citations_end_to_end_on_cuda(tmp_path, cuda_embedder, cuda_generator):
    from rag.engine import RAG
    from rag.settings import Settings
    from tests.conftest import SAMPLE_DOCS

    rag = RAG(Settings(data_dir=tmp_path / "data", workers=0), embedder=cuda_embedder, generator=cuda_generator)
    report = rag.ingest_paths([SAMPLE_DOCS])
    assert not report.failed
    hits = rag.search("How many days of paid annual leave does a full-time Acme employee get?")
    assert hits[0].doc == "acme-handbook.pdf"
    answer = rag.ask("How many days of paid annual leave does a full-time Acme employee get?")
    assert answer.sources and answer.sources[0].doc == "acme-handbook.pdf"
