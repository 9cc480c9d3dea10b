"""The converted generator is cached in the data directory and behaves like a fresh conversion."""

from __future__ import annotations

import json

import pytest

from rag.generators.transformers_backend import TransformersGenerator, converted_cache_dir
from rag.models import bundled_gguf

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Name three colours of the rainbow."},
]


def _answer(data_dir) -> str:
    gen = TransformersGenerator(data_dir=data_dir, max_new_tokens=24, temperature=0.0)
    return "".join(gen.stream(MESSAGES))


def test_the_cached_model_answers_exactly_like_the_freshly_converted_one(tmp_path):
    cache = converted_cache_dir(tmp_path, bundled_gguf())
    assert not cache.exists()
    fresh = _answer(tmp_path)  # converts the GGUF file and saves the result
    assert (cache / "config.json").exists() and list(cache.glob("*.safetensors"))
    saved = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    cached = _answer(tmp_path)  # a new generator: loads the saved conversion
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == saved  # read, not rewritten
    assert fresh.strip()
    assert cached == fresh


def test_a_broken_cache_is_converted_again(tmp_path):
    cache = converted_cache_dir(tmp_path, bundled_gguf())
    cache.mkdir(parents=True)
    (cache / "config.json").write_text("{ not json")
    (cache / "tokenizer_config.json").write_text("{}")
    assert _answer(tmp_path).strip()
    assert json.loads((cache / "config.json").read_text())["model_type"] == "llama"
