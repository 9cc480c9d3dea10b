"""The static KV cache (the default on CUDA) answers exactly like the dynamic one."""

from __future__ import annotations

import threading

import pytest

from rag.generators.transformers_backend import TransformersGenerator
from rag.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MESSAGES = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Name three colours of the rainbow."},
]


def test_a_static_cache_gives_the_same_greedy_answer_as_a_dynamic_one(model_cache_dir):
    dynamic = TransformersGenerator(data_dir=model_cache_dir, device="cpu", max_new_tokens=24, kv_cache="dynamic")
    static = TransformersGenerator(data_dir=model_cache_dir, device="cpu", max_new_tokens=24, kv_cache="static")
    dynamic.warm_up()
    static.warm_up()  # with a static cache the warm-up also generates (on CUDA: compiles the decode step)
    assert dynamic.describe()["kv_cache"] == "dynamic"
    assert static.describe()["kv_cache"] == "static"
    expected = "".join(dynamic.stream(MESSAGES))
    assert expected.strip()
    assert "".join(static.stream(MESSAGES)) == expected
    assert "".join(static.stream(MESSAGES)) == expected  # the reused cache holds nothing of the last answer


def test_auto_keeps_the_dynamic_cache_on_the_cpu(model_cache_dir):
    gen = TransformersGenerator.from_settings(Settings(data_dir=model_cache_dir, llm_device="cpu"))
    assert gen.kv_cache == "auto"
    gen.warm_up()
    assert gen.describe()["kv_cache"] == "dynamic"


def test_every_request_generates_on_the_same_thread(model_cache_dir, monkeypatch):
    gen = TransformersGenerator(data_dir=model_cache_dir, device="cpu", max_new_tokens=4)
    gen.warm_up()
    model = gen._model
    threads = []
    real_generate = model.generate

    def generate(*args, **kwargs):
        threads.append(threading.current_thread())
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(model, "generate", generate)
    for _ in range(2):
        assert "".join(gen.stream(MESSAGES)).strip()
    assert len(threads) == 2 and threads[0] is threads[1]
    assert threads[0] is not threading.current_thread() and threads[0].name == "rag-generate"


def test_a_static_cache_that_fails_at_warm_up_falls_back_to_the_dynamic_one(model_cache_dir, monkeypatch):
    gen = TransformersGenerator(data_dir=model_cache_dir, device="cpu", max_new_tokens=8, kv_cache="static")
    _, model = gen._ensure()
    real_generate = model.generate

    def generate(*args, **kwargs):
        if kwargs.get("cache_implementation") == "static":
            raise RuntimeError("InductorError: no working C compiler found")
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(model, "generate", generate)
    gen.warm_up()
    info = gen.describe()
    assert info["kv_cache"] == "dynamic"
    assert "static KV cache failed" in info["notes"][0] and "no working C compiler" in info["notes"][0]
    assert "".join(gen.stream(MESSAGES)).strip()  # the answers still come
