"""Status: models and devices, data directory, index size, warnings."""

from __future__ import annotations

import logging
import sys

import streamlit as st

from ui import auth, render
from ui.state import Runtime, run_page

logger = logging.getLogger(__name__)


def _cuda_available() -> bool | None:
    """Whether PyTorch sees a GPU; None when PyTorch is not loaded yet (no import on this page)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken CUDA setup counts as no GPU
        return False


def warnings_for(rt: Runtime, info: dict, address: str, team: bool = False) -> list[tuple[str, str]]:
    """(level, message) pairs shown at the top of the page."""
    out: list[tuple[str, str]] = []
    if rt.warmup.loading:
        out.append(("info", "The models are still loading; questions wait until they are ready."))
    if rt.warmup.error:
        out.append(("error", rt.warmup.error))
    if _cuda_available() is False:
        out.append(("warning", "No GPU found: the models run on the CPU, so answers take seconds."))
    idx = info.get("embed_model_index")
    if idx and info.get("chunks") and idx != info.get("embed_model_configured"):
        out.append(
            (
                "error",
                f"The index was built with '{idx}' but '{info['embed_model_configured']}' is configured: "
                "re-index on the Library page.",
            )
        )
    if team:
        out.append(("info", "Team mode: users sign in (OpenID Connect) and see only the collections they may read."))
    elif address in ("127.0.0.1", "localhost", "::1"):
        out.append(
            (
                "info",
                f"Single-user mode (no sign-in configured); listening on localhost only ({address}, not "
                "reachable from other machines). Configure sign-in (docs/team.md) before sharing it.",
            )
        )
    else:
        out.append(
            (
                "warning",
                f"Single-user mode (no sign-in configured) but listening on {address}: everyone who can reach "
                "this address reads every document. Configure sign-in (docs/team.md) or serve on 127.0.0.1.",
            )
        )
    return out


def render_page(rt: Runtime) -> None:
    st.title("Status", anchor=False)
    info = rt.engine.status()
    address = st.get_option("server.address") or rt.settings.host
    for level, msg in warnings_for(rt, info, address, team=auth.team_mode()):
        getattr(st, level)(msg)

    st.subheader("Models", anchor=False)
    gen = rt.engine.generator.describe() if rt.warmup.ready else {"model": rt.settings.llm_model, "loaded": False}
    emb_device = getattr(rt.engine.embedder, "device", "—") if rt.warmup.ready else "loading…"
    rows = [
        {
            "role": "generator",
            "model": str(gen.get("model")),
            "backend": str(gen.get("backend", rt.settings.llm_backend)),
            "device": str(gen.get("device", "—" if gen.get("loaded") else "loading…")),
            "dtype": str(gen.get("dtype", "—")),
            "KV cache": str(gen.get("kv_cache", "—")),
        },
        {
            "role": "embeddings",
            "model": info["embed_model_configured"],
            "backend": "sentence-transformers",
            "device": str(emb_device),
            "dtype": "—",
            "KV cache": "—",
        },
    ]
    st.dataframe(rows, hide_index=True, width="stretch")
    for note in gen.get("notes", []):
        st.caption(note)
    if rt.warmup.seconds is not None and rt.warmup.ready:
        st.caption(f"Models loaded in {rt.warmup.seconds:.1f} s.")

    st.subheader("Index", anchor=False)
    c = st.columns(4)
    c[0].metric("Documents", info["documents"])
    c[1].metric("Pages", info["pages"])
    c[2].metric("Chunks", info["chunks"])
    c[3].metric("Size on disk", render.human_size(info["db_bytes"] + info.get("index_files_bytes", 0)))
    st.markdown(
        f"- Data directory: `{info['data_dir']}`\n"
        f"- Embedding model of the index: `{info.get('embed_model_index') or '— (empty)'}`\n"
        f"- Collections: {info['collections']}\n"
        f"- Retrieval: {rt.settings.retrieval_mode}, top {rt.settings.top_k} passages\n"
        f"- Sentence vectors: {_sentence_vectors(rt, info)}"
    )


def _sentence_vectors(rt: Runtime, info: dict) -> str:
    """What the answers look up instead of embedding, and what is still missing."""
    n, missing = info.get("sentence_vectors", 0), info.get("documents_without_sentence_vectors", 0)
    if rt.settings.sentence_vectors == "off":
        return f"{n:,} stored; not stored for new documents (`RAG_SENTENCE_VECTORS=off`), so answers embed them"
    if missing:
        docs = f"{missing} document{'s' if missing > 1 else ''}"
        return f"{n:,} stored; {docs} without them yet (answers embed those sentences until the app's background step or the next `rag ingest` stores them)"
    return f"{n:,} stored, for every document (answers look them up instead of embedding them)"


if __name__ == "__main__":
    run_page(render_page)
