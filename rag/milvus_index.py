"""Milvus as the search engine (``RAG_VECTOR_STORE=milvus``): each chunk's vector and its
text, indexed for BM25 by Milvus itself, in one collection; dense, full-text and hybrid
search run in Milvus, the access filter applied inside each search as a filter expression.

The SQLite store stays the record of documents, pages and chunks (what a citation points
into). The Milvus collection is kept in step with it like the FAISS index is: every
committed change is applied, and on load the chunk ids on both sides are compared, so a
crash between the two writes, or a change made by another process, is caught up.

``RAG_MILVUS_URI`` is a Milvus server (``http://host:19530``) in production, or a local file
(Milvus Lite, the default ``<data dir>/milvus.db``), which only one process may open at a time.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable, Sequence

import numpy as np

from rag.errors import ConfigError
from rag.index import StoreSource
from rag.store import Change, Store, full_text_terms

logger = logging.getLogger(__name__)

MAX_TEXT_BYTES = 65_000  # Milvus VARCHAR limit is 65,535 bytes; a chunk is far shorter
WRITE_BATCH = 2_000
ID_WINDOW = 16_384  # Milvus returns at most this many rows per query
# Recorded in the store's meta table when the collection is made: a collection made by another
# version of the schema or of the term analysis (store.full_text_terms) is rebuilt from the store.
SCHEMA = "rag chunks v2: terms stemmed, all words kept, joined identifiers"
_OPEN: weakref.WeakSet = weakref.WeakSet()  # indexes holding a client, for close_all()


class MilvusIndex:
    """Dense + BM25 search over a Milvus collection synchronised with a :class:`Store`."""

    served = True  # searches take the access scope as a filter expression (see scope())

    def __init__(
        self,
        store: Store,
        dim: int,
        uri: str,
        collection: str = "rag_chunks",
        token: str = "",
        index_type: str = "AUTOINDEX",
    ) -> None:
        self.store = store
        self.source = StoreSource(store)  # vectors by id (query feedback reads them)
        self.dim = dim
        self.uri = uri
        self.name = collection
        self.token = token
        self.index_type = index_type
        self.lite = not uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:"))
        self._unindexed = 0  # rows inserted since the last flush()
        self._client = None
        self._version = -1
        self._lock = threading.RLock()

    # -- connection and schema ---------------------------------------------------------
    def _connect(self):
        if self._client is None:
            try:
                from pymilvus import MilvusClient
            except ImportError as e:
                raise ConfigError("RAG_VECTOR_STORE=milvus needs the 'pymilvus' package (pip install pymilvus)") from e
            try:
                self._client = MilvusClient(uri=self.uri, token=self.token)
            except Exception as e:  # noqa: BLE001 - pymilvus raises its own exception types
                raise ConfigError(
                    f"RAG_MILVUS_URI={self.uri}: cannot open Milvus ({_reason(e)}). A Milvus Lite file is "
                    "open in one process at a time: stop the other process using it, or point "
                    "RAG_MILVUS_URI at a Milvus server."
                ) from e
            _OPEN.add(self)
            self._ensure_collection()
        return self._client

    def _ensure_collection(self) -> None:
        c = self._client
        if c.has_collection(self.name):
            fields = {f["name"]: f for f in c.describe_collection(self.name)["fields"]}
            dim = int(fields.get("dense", {}).get("params", {}).get("dim", 0))
            made = self.store.get_meta(self._meta_key)
            if dim == self.dim and made == self._schema:
                c.load_collection(self.name)  # a collection another process made starts released
                return
            logger.warning(
                "Milvus collection %s (%d-d, %s) is not the configured %d-d %r: rebuilding it from the store",
                self.name,
                dim,
                repr(made) if made else "not made for this data directory",
                self.dim,
                self._schema,
            )
            c.drop_collection(self.name)
        create_collection(c, self.name, self.dim, self.index_type)
        with self.store.transaction() as db:
            self.store.set_meta(self._meta_key, self._schema, db)

    @property
    def _schema(self) -> str:
        return f"{SCHEMA}; {self.index_type}"

    @property
    def _meta_key(self) -> str:
        return f"milvus_schema {self.uri}#{self.name}"

    # -- keeping in step with the store ------------------------------------------------
    def load(self) -> None:
        """Make the collection hold exactly the store's chunks (compare ids, apply the difference)."""
        with self._lock:
            self._connect()
            if self._version == self.source.version():
                return
            version, ids = self.source.snapshot_ids()
            have = self._ids()
            extra = np.setdiff1d(have, ids, assume_unique=True)
            missing = np.setdiff1d(ids, have, assume_unique=True)
            if len(extra) or len(missing):
                logger.info("Milvus %s: adding %d chunks, removing %d", self.name, len(missing), len(extra))
            self._delete(extra.tolist())
            for i in range(0, len(missing), WRITE_BATCH):
                part = missing[i : i + WRITE_BATCH]
                self._insert(part.tolist(), self.source.vectors(part))
            self._version = version
            if len(missing):
                self.flush()

    def apply(self, change: Change, added: np.ndarray | None = None, save: bool = True) -> None:
        """Apply one committed change; a collection not at ``change.before`` is caught up instead."""
        with self._lock:
            self._connect()
            if self._version != change.before:
                self.load()
                return
            self._delete(change.removed_ids)
            if change.added_ids:
                vecs = added if added is not None else self.source.vectors(np.asarray(change.added_ids))
                for i in range(0, len(change.added_ids), WRITE_BATCH):
                    self._insert(change.added_ids[i : i + WRITE_BATCH], vecs[i : i + WRITE_BATCH])
            self._version = change.after
            if self.source.version() != change.after:
                self.load()
            elif save:
                self.flush()

    def flush(self) -> None:
        """After a batch of inserts: in Milvus Lite, new rows are searched without their index
        (brute force, several times slower at 100k rows) until the collection is loaded again,
        which indexes them in well under a second. A Milvus server indexes them itself."""
        with self._lock:
            if self._unindexed and self._client is not None and self.lite:
                self._client.flush(self.name)
                self._client.release_collection(self.name)
                self._client.load_collection(self.name)
            self._unindexed = 0

    def _ids(self) -> np.ndarray:
        """Every chunk id in the collection, read in windows of ids (no query iterator: Milvus
        Lite does not implement the timestamp call it makes)."""
        row = self.store.db.execute("SELECT seq FROM sqlite_sequence WHERE name='chunks'").fetchone()
        top = int(row[0]) if row else 0
        ids: list[int] = []
        for lo in range(0, top + 1, ID_WINDOW):
            res = self._client.query(
                self.name, filter=f"id >= {lo} and id < {lo + ID_WINDOW}", output_fields=["id"], limit=ID_WINDOW
            )
            ids.extend(int(r["id"]) for r in res)
        return np.unique(np.array(ids, dtype=np.int64))

    def _delete(self, ids: Sequence[int]) -> None:
        ids = [int(i) for i in ids]
        for i in range(0, len(ids), WRITE_BATCH):
            self._client.delete(self.name, ids=ids[i : i + WRITE_BATCH])

    def _insert(self, ids: Sequence[int], vecs: np.ndarray) -> None:
        ids = [int(i) for i in ids]
        if not ids:
            return
        rows = {
            r[0]: r
            for r in self.store.db.execute(
                "SELECT k.id, k.doc_id, d.collection_id, k.text FROM chunks k JOIN documents d ON d.id=k.doc_id "
                f"WHERE k.id IN ({','.join('?' * len(ids))})",
                ids,
            )
        }
        data = []
        for cid, vec in zip(ids, np.asarray(vecs, dtype=np.float32)):
            row = rows.get(cid)
            if row is None:  # deleted since: the next load compares ids again
                continue
            text = full_text_terms(row[3]).encode("utf-8")[:MAX_TEXT_BYTES].decode("utf-8", "ignore")
            data.append({"id": cid, "doc_id": row[1], "collection_id": row[2], "text": text, "dense": vec.tolist()})
        if data:
            self._client.upsert(self.name, data)
            self._unindexed += len(data)

    # -- searching ---------------------------------------------------------------------
    def scope(self, collections: Sequence[str] | None, doc_ids: Sequence[int] | None) -> str | None:
        """The filter expression of a search restricted to these collections and documents:
        "" for no restriction, None when the restriction leaves nothing to search."""
        parts = []
        if collections is not None:
            names = list(collections)
            ids = [
                r[0]
                for r in self.store.db.execute(
                    f"SELECT id FROM collections WHERE name IN ({','.join('?' * len(names))})", names
                )
            ]
            if not ids:
                return None
            parts.append(f"collection_id in {_ints(ids)}")
        if doc_ids is not None:
            if not doc_ids:
                return None
            parts.append(f"doc_id in {_ints(doc_ids)}")
        return " and ".join(parts)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(chunk id, inner product) of the ``k`` nearest chunks, among ``allowed`` ids if given."""
        if allowed is not None and len(allowed) == 0:
            return []
        expr = "" if allowed is None else f"id in {_ints(allowed)}"
        return self.dense(query, k, expr)

    def dense(self, query: np.ndarray, k: int, expr: str = "") -> list[tuple[int, float]]:
        self.load()
        res = self._client.search(
            self.name,
            data=[np.asarray(query, dtype=np.float32).tolist()],
            anns_field="dense",
            filter=expr,
            limit=k,
            search_params={"metric_type": "IP"},
        )
        return _pairs(res)

    def bm25(self, query: str, k: int, expr: str = "", identifier_weight: int = 1) -> list[tuple[int, float]]:
        self.load()
        terms = full_text_terms(query, True, identifier_weight)
        if not terms:
            return []
        res = self._client.search(
            self.name, data=[terms], anns_field="sparse", filter=expr, limit=k, search_params={"metric_type": "BM25"}
        )
        return _pairs(res)

    def hybrid(
        self, query: str, qvec: np.ndarray, k: int, expr: str, rrf_k: int, identifier_weight: int = 1
    ) -> list[tuple[int, float]]:
        """Dense and BM25 fused by Milvus's RRF ranker in one request (equal weights: Milvus's
        RRF has none, so retrieval fuses unequally weighted lists itself, as rrf_fuse does)."""
        from pymilvus import AnnSearchRequest, RRFRanker

        self.load()
        terms = full_text_terms(query, True, identifier_weight)
        if not terms:
            return self.dense(qvec, k, expr)
        reqs = [
            AnnSearchRequest(
                data=[np.asarray(qvec, dtype=np.float32).tolist()],
                anns_field="dense",
                param={"metric_type": "IP"},
                limit=k,
                expr=expr or None,
            ),
            AnnSearchRequest(
                data=[terms], anns_field="sparse", param={"metric_type": "BM25"}, limit=k, expr=expr or None
            ),
        ]
        res = self._client.hybrid_search(self.name, reqs, ranker=RRFRanker(rrf_k), limit=k, output_fields=["id"])
        return _pairs(res)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
            self._version = -1
            self._unindexed = 0


def create_collection(client, name: str, dim: int, index_type: str = "AUTOINDEX") -> None:
    """The chunk collection: id, document, collection id, analysed text with Milvus's BM25
    function filling a sparse vector, and the dense vector; both indexed."""
    from pymilvus import DataType, Function, FunctionType

    c = client
    schema = c.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("doc_id", DataType.INT64)
    schema.add_field("collection_id", DataType.INT64)
    schema.add_field(
        "text",
        DataType.VARCHAR,
        max_length=65_535,
        enable_analyzer=True,
        # The terms come analysed already (store.full_text_terms: stemmed, identifiers whole),
        # so Milvus Lite and a cluster, whose analyzers differ, index the same words.
        analyzer_params={"tokenizer": "standard", "filter": ["lowercase"]},
    )
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="text_bm25",
            function_type=FunctionType.BM25,
            input_field_names=["text"],
            output_field_names=["sparse"],
        )
    )
    params = c.prepare_index_params()
    params.add_index("dense", index_type=index_type, metric_type="IP")
    params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    quiet = logging.getLogger("grpc._server")  # Milvus Lite logs a call it lacks while indexes build
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        c.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")
    finally:
        quiet.setLevel(level)


def close_all() -> None:
    """Close every client this process opened (a Milvus Lite file is then free for another)."""
    for index in list(_OPEN):
        index.close()


def _ints(values: Iterable) -> str:
    return "[" + ",".join(str(int(v)) for v in values) + "]"


def _pairs(res) -> list[tuple[int, float]]:
    return [(int(hit["id"]), float(hit["distance"])) for hit in (res[0] if res else [])]


def _reason(e: Exception) -> str:
    return getattr(e, "message", None) or str(e) or type(e).__name__
