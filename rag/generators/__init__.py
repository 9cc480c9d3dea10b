"""Generator backends. ``make_generator`` maps the ``RAG_LLM_BACKEND`` name to a class."""

from __future__ import annotations

from rag.errors import ConfigError
from rag.generators.base import Generator, Message
from rag.settings import Settings

__all__ = ["Generator", "Message", "make_generator"]


def make_generator(settings: Settings, embedder=None) -> Generator:
    """The one place a backend name becomes an object."""
    backend = settings.llm_backend
    if backend == "transformers":
        from rag.generators.transformers_backend import TransformersGenerator

        return TransformersGenerator.from_settings(settings)
    if backend == "openai":
        from rag.generators.openai_backend import OpenAIGenerator

        return OpenAIGenerator.from_settings(settings)
    if backend == "extractive":
        from rag.generators.extractive import ExtractiveGenerator

        return ExtractiveGenerator(embedder)
    raise ConfigError(f"unknown RAG_LLM_BACKEND '{backend}' (transformers, openai or extractive)")
