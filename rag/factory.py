"""Setting names -> backend objects: the only place the engine's components are chosen.

Each function takes the settings (and what the component is built on) and returns an
object of the protocol in rag/protocols.py; an unknown name is a ConfigError naming the
setting. Heavy libraries are imported only when the component is first made.
"""

from __future__ import annotations

from rag.protocols import Embedder, Generator, PassageStore, Reranker, VectorSearch
from rag.settings import Settings
from rag.store import Store


def make_store(settings: Settings) -> Store:
    """The SQLite store of documents, pages, chunks and their full-text index."""
    return Store(settings.data_dir)


def make_embedder(settings: Settings) -> Embedder:
    """RAG_EMBED_MODEL (and its backend) as an embedder."""
    from rag.embedders import make_embedder as make

    return make(settings)


def make_generator(settings: Settings, embedder: Embedder | None = None) -> Generator:
    """RAG_LLM_BACKEND / RAG_LLM_MODEL as a generator."""
    from rag.generators import make_generator as make

    return make(settings, embedder)


def make_reranker(settings: Settings) -> Reranker | None:
    """RAG_RERANKER_MODEL as a cross-encoder, or None when unset."""
    if not settings.reranker_model:
        return None
    from rag.rerank import CrossEncoderReranker

    return CrossEncoderReranker(settings.reranker_model)


def make_index(settings: Settings, store: Store, dim: int) -> VectorSearch:
    """The FAISS index over the store's chunk vectors (RAG_INDEX_KIND, RAG_ANN_THRESHOLD), or
    with RAG_VECTOR_STORE=milvus a Milvus collection of the vectors and their full text."""
    if settings.vector_store == "milvus":
        from rag.milvus_index import MilvusIndex

        uri = settings.milvus_uri or str(settings.data_dir / "milvus.db")
        return MilvusIndex(store, dim, uri, settings.milvus_collection, settings.milvus_token, settings.milvus_index)
    from rag.index import VectorIndex

    return VectorIndex(store, dim, settings.index_kind, settings.ann_threshold)


def make_retriever(
    settings: Settings, store: PassageStore, index: VectorSearch, embedder: Embedder, reranker: Reranker | None
):
    """Hybrid retrieval over the index and the store's full-text search."""
    from rag.retrieval import Retriever

    return Retriever(settings, store, index, embedder, reranker)
