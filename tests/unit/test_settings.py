"""Settings: read from RAG_* variables; a bad value names the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import ConfigError
from rag.settings import BUNDLED, Settings


def test_defaults_use_the_bundled_models():
    s = Settings.from_env({})
    assert s.embed_model == BUNDLED and s.llm_model == BUNDLED
    assert s.retrieval_mode == "hybrid"
    assert s.data_dir == Path("data")
    assert s.port == 8501


def test_environment_values_are_parsed_by_type():
    s = Settings.from_env(
        {
            "RAG_DATA_DIR": "/srv/rag",
            "RAG_TOP_K": "8",
            "RAG_ANSWER_THRESHOLD": "0.4",
            "RAG_EMBED_MODEL": "BAAI/bge-small-en-v1.5",
            "RAG_EMBED_QUERY_PREFIX": "query: ",
            "RAG_PDF_PASSWORDS": "first, second,,third ",
            "RAG_RETRIEVAL_MODE": "bm25",
            "RAG_RERANKER_MODEL": "/models/ce",
            "RAG_LLM_MAX_NEW_TOKENS": "48",
        }
    )
    assert s.data_dir == Path("/srv/rag")
    assert s.top_k == 8 and isinstance(s.top_k, int)
    assert s.answer_threshold == pytest.approx(0.4)
    assert s.embed_model == "BAAI/bge-small-en-v1.5"
    assert s.embed_query_prefix == "query: "
    assert s.pdf_passwords == ("first", "second", "third")
    assert s.retrieval_mode == "bm25"
    assert s.reranker_model == "/models/ce"
    assert s.llm_max_new_tokens == 48


def test_empty_variables_are_ignored():
    assert Settings.from_env({"RAG_TOP_K": "", "RAG_DATA_DIR": ""}) == Settings.from_env({})


def test_explicit_overrides_win_over_the_environment():
    s = Settings.from_env({"RAG_TOP_K": "8", "RAG_DATA_DIR": "/a"}, top_k=3, data_dir="/b", port=None)
    assert s.top_k == 3 and s.data_dir == Path("/b") and s.port == 8501


def test_reads_the_real_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RAG_CHUNK_TOKENS", "200")
    s = Settings.from_env()
    assert s.data_dir == tmp_path and s.chunk_tokens == 200


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("RAG_TOP_K", "five"),
        ("RAG_ANSWER_THRESHOLD", "high"),
        ("RAG_PORT", "80a"),
        ("RAG_RETRIEVAL_MODE", "semantic"),
        ("RAG_LLM_BACKEND", "gpt"),
        ("RAG_UNSUPPORTED", "hide"),
        ("RAG_INDEX_KIND", "ivfpq"),
        ("RAG_TOP_K", "0"),
        ("RAG_QUOTE_PASSAGES", "0"),
        ("RAG_LLM_KV_CACHE", "paged"),
    ],
)
def test_invalid_values_name_the_variable(var, value):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({var: value})
    assert var in str(err.value)


def test_overlap_must_be_smaller_than_the_chunk():
    with pytest.raises(ConfigError, match="RAG_CHUNK_OVERLAP"):
        Settings.from_env({"RAG_CHUNK_TOKENS": "64", "RAG_CHUNK_OVERLAP": "64"})


def test_streamlit_server_port_is_honoured():
    assert Settings.from_env({"STREAMLIT_SERVER_PORT": "8600"}).port == 8600
    # RAG_PORT is more specific and wins.
    assert Settings.from_env({"STREAMLIT_SERVER_PORT": "8600", "RAG_PORT": "8700"}).port == 8700
    with pytest.raises(ConfigError, match="STREAMLIT_SERVER_PORT"):
        Settings.from_env({"STREAMLIT_SERVER_PORT": "http"})


def test_settings_are_frozen_and_replace_returns_a_copy():
    s = Settings()
    with pytest.raises(AttributeError):
        s.top_k = 9  # type: ignore[misc]
    t = s.replace(top_k=s.top_k + 1)
    assert t.top_k == s.top_k + 1 and s == Settings()
