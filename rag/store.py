"""The SQLite database: the single source of truth.

Documents, pages, chunks (with their embeddings) and collections live here. The FAISS
index and the FTS5 table are derived: FTS5 is kept in step by triggers inside the same
transactions, and the FAISS index is rebuilt from the ``embedding`` column whenever its
recorded version differs from ``meta.index_version`` (see :mod:`rag.index`).

Every write that changes chunks bumps ``index_version`` in the same transaction, so a
crash can never leave the database half-written, and a stale FAISS file is detected.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import StoreError
from rag.types import ChunkSpan, Hit, Page, location_label

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 3  # 2: pages.label, 3: documents.source_path (see _MIGRATIONS)
IDF_PRIOR_CHUNKS = 100  # see Store.idf
DEFAULT_COLLECTION = "default"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    readers TEXT NOT NULL DEFAULT '',
    uploaders TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id),
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    n_pages INTEGER NOT NULL,
    stored_path TEXT NOT NULL DEFAULT '',
    added_at REAL NOT NULL,
    source_path TEXT,
    UNIQUE (collection_id, name)
);
CREATE TABLE IF NOT EXISTS pages (
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    text TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (doc_id, number)
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    page INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    n_tokens INTEGER NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id, page);
-- The vector of each sentence of a document's chunks, stored at ingestion so that quoting
-- and verifying an answer look its sentences up instead of embedding them. A cache: a
-- sentence missing here (a data directory from before it, RAG_SENTENCE_VECTORS=off) is
-- embedded when it is needed.
CREATE TABLE IF NOT EXISTS sentence_vectors (
    id INTEGER PRIMARY KEY,
    key BLOB NOT NULL,
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    vec BLOB NOT NULL,
    UNIQUE (key, doc_id)
);
CREATE INDEX IF NOT EXISTS sentence_vectors_doc ON sentence_vectors(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content='chunks', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
"""


def _add_page_labels(db: sqlite3.Connection) -> None:
    """1 -> 2: a human label per page ("slide 7"); the pages stored before keep '' ("page N")."""
    if "label" not in _columns(db, "pages"):
        db.execute("ALTER TABLE pages ADD COLUMN label TEXT NOT NULL DEFAULT ''")


def _add_source_paths(db: sqlite3.Connection) -> None:
    """2 -> 3: the absolute path of the file a document was ingested from (``rag ingest``);
    NULL for uploads and for documents stored before, which a folder sync never removes."""
    if "source_path" not in _columns(db, "documents"):
        db.execute("ALTER TABLE documents ADD COLUMN source_path TEXT")


# Version -> the step that brings a database of the version before it up to it. Each step
# is idempotent and runs in the same transaction as the version bump, so a data directory
# made by older code opens, is upgraded once, and keeps every document, page and vector.
_MIGRATIONS = {2: _add_page_labels, 3: _add_source_paths}


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}


_STOPWORDS = frozenset(
    """a an and are as at be but by for from has have how i in is it its of on or that the
    this to was were what when where which who whom why will with does do did can could
    should would about into than then there these those their them they we you your our
    my me he she his her him not no yes if so such any all some many much more most""".split()
)
_WORD = re.compile(r"[\w][\w.\-]*\w|\w", re.UNICODE)


@dataclass
class Change:
    """One committed change of the chunk set: what the FAISS index must apply."""

    before: int  # index_version before the transaction
    after: int  # index_version after it
    added_ids: list[int]
    removed_ids: list[int]
    doc_id: int = 0


@dataclass
class DocumentRow:
    id: int
    name: str
    collection: str
    sha256: str
    size: int
    n_pages: int
    n_chunks: int
    added_at: float
    stored_path: str
    source_path: str | None = None  # the file it was ingested from; None for uploads


class Store:
    """Thread-safe access to the database. One connection per thread."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "files").mkdir(exist_ok=True)
        self.path = self.data_dir / "rag.sqlite3"
        self._local = threading.local()
        self.db.executescript(_SCHEMA)
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            self._migrate(db)
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('index_version', '0')")
            db.execute(
                "INSERT OR IGNORE INTO collections(name, created_at) VALUES (?, ?)",
                (DEFAULT_COLLECTION, time.time()),
            )

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Upgrade a database made by older code, step by step, inside the caller's transaction."""
        version = int(db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])
        if version > SCHEMA_VERSION:
            logger.warning(
                "%s: database schema %d is newer than this version of rag knows (%d)",
                self.path,
                version,
                SCHEMA_VERSION,
            )
            return
        for target in range(version + 1, SCHEMA_VERSION + 1):
            step = _MIGRATIONS.get(target)
            if step is not None:
                logger.info("%s: upgrading the database schema to version %d", self.path, target)
                step(db)
            db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(target),))

    def schema_version(self) -> int:
        return int(self.get_meta("schema_version", "0") or 0)

    # -- connections -------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("PRAGMA busy_timeout=30000")
            except sqlite3.DatabaseError as e:
                raise StoreError(f"{self.path}: cannot open the database ({e})") from None
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- meta ----------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str, db: sqlite3.Connection | None = None) -> None:
        (db or self.db).execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def index_version(self) -> int:
        return int(self.get_meta("index_version", "0") or 0)

    @staticmethod
    def _bump(db: sqlite3.Connection) -> tuple[int, int]:
        before = int(db.execute("SELECT value FROM meta WHERE key='index_version'").fetchone()[0])
        db.execute("UPDATE meta SET value=? WHERE key='index_version'", (str(before + 1),))
        return before, before + 1

    # -- collections ---------------------------------------------------------------
    def collection_id(self, name: str, create: bool = True, db: sqlite3.Connection | None = None) -> int:
        name = (name or DEFAULT_COLLECTION).strip()
        conn = db or self.db
        row = conn.execute("SELECT id FROM collections WHERE name=?", (name,)).fetchone()
        if row:
            return row[0]
        if not create:
            raise StoreError(f"no collection named '{name}'")
        cur = conn.execute("INSERT INTO collections(name, created_at) VALUES (?, ?)", (name, time.time()))
        return int(cur.lastrowid)

    def collections(self) -> list[dict]:
        rows = self.db.execute(
            "SELECT c.id, c.name, c.readers, c.uploaders, c.created_at, COUNT(d.id) "
            "FROM collections c LEFT JOIN documents d ON d.collection_id=c.id GROUP BY c.id ORDER BY c.name"
        ).fetchall()
        return [
            {"id": r[0], "name": r[1], "readers": r[2], "uploaders": r[3], "created_at": r[4], "documents": r[5]}
            for r in rows
        ]

    def create_collection(self, name: str, readers: str = "", uploaders: str = "") -> int:
        name = _valid_collection_name(name)
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM collections WHERE name=?", (name,)).fetchone():
                raise StoreError(f"a collection named '{name}' already exists")
            cur = db.execute(
                "INSERT INTO collections(name, readers, uploaders, created_at) VALUES (?, ?, ?, ?)",
                (name, readers, uploaders, time.time()),
            )
            return int(cur.lastrowid)

    def rename_collection(self, old: str, new: str) -> None:
        new = _valid_collection_name(new)
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM collections WHERE name=?", (new,)).fetchone():
                raise StoreError(f"a collection named '{new}' already exists")
            cur = db.execute("UPDATE collections SET name=? WHERE name=?", (new, old))
            if cur.rowcount == 0:
                raise StoreError(f"no collection named '{old}'")

    def set_collection_access(self, name: str, readers: str, uploaders: str) -> None:
        with self.transaction() as db:
            cur = db.execute("UPDATE collections SET readers=?, uploaders=? WHERE name=?", (readers, uploaders, name))
            if cur.rowcount == 0:
                raise StoreError(f"no collection named '{name}'")

    def delete_collection(self, name: str) -> Change:
        """Delete a collection and all its documents."""
        with self.transaction() as db:
            row = db.execute("SELECT id FROM collections WHERE name=?", (name,)).fetchone()
            if not row:
                raise StoreError(f"no collection named '{name}'")
            removed: list[int] = []
            for (doc_id,) in db.execute("SELECT id FROM documents WHERE collection_id=?", (row[0],)).fetchall():
                removed.extend(self._delete_doc(db, doc_id))
            db.execute("DELETE FROM collections WHERE id=?", (row[0],))
            if name == DEFAULT_COLLECTION:
                db.execute("INSERT INTO collections(name, created_at) VALUES (?, ?)", (name, time.time()))
            before, after = self._bump(db)
        self.remove_orphan_files()
        return Change(before, after, [], removed)

    # -- documents -----------------------------------------------------------------
    def find_document(self, name: str, collection: str = DEFAULT_COLLECTION) -> DocumentRow | None:
        docs = [d for d in self.documents(collections=[collection]) if d.name == name]
        return docs[0] if docs else None

    def documents(self, collections: Sequence[str] | None = None) -> list[DocumentRow]:
        sql = (
            "SELECT d.id, d.name, c.name, d.sha256, d.size, d.n_pages, "
            "(SELECT COUNT(*) FROM chunks k WHERE k.doc_id=d.id), d.added_at, d.stored_path, d.source_path "
            "FROM documents d JOIN collections c ON c.id=d.collection_id"
        )
        args: list = []
        if collections is not None:
            sql += f" WHERE c.name IN ({','.join('?' * len(collections))})"
            args.extend(collections)
        sql += " ORDER BY c.name, d.name"
        return [DocumentRow(*r) for r in self.db.execute(sql, args).fetchall()]

    def documents_from(self, folder: str, collection: str = DEFAULT_COLLECTION) -> list[DocumentRow]:
        """The documents of ``collection`` ingested from a file inside ``folder`` (an absolute
        path, as recorded in ``source_path``); never an upload, whose source is NULL."""
        prefix = folder.rstrip("/") + "/"
        return [
            d
            for d in self.documents(collections=[collection])
            if d.source_path is not None and d.source_path.startswith(prefix)
        ]

    def document(self, doc_id: int) -> DocumentRow | None:
        row = self.db.execute(
            "SELECT d.id, d.name, c.name, d.sha256, d.size, d.n_pages, "
            "(SELECT COUNT(*) FROM chunks k WHERE k.doc_id=d.id), d.added_at, d.stored_path, d.source_path "
            "FROM documents d JOIN collections c ON c.id=d.collection_id WHERE d.id=?",
            (doc_id,),
        ).fetchone()
        return DocumentRow(*row) if row else None

    def put_document(
        self,
        name: str,
        sha256: str,
        size: int,
        n_pages: int,
        pages: Sequence[Page],
        chunks: Sequence[ChunkSpan],
        embeddings: np.ndarray,
        collection: str = DEFAULT_COLLECTION,
        stored_path: str = "",
        source_path: str | None = None,
    ) -> Change:
        """Insert (or replace) a document atomically, in one transaction. ``source_path`` is
        the absolute path of the file it was read from (None for an upload)."""
        if len(chunks) != len(embeddings):
            raise ValueError("one embedding per chunk is required")
        emb = np.ascontiguousarray(embeddings, dtype=np.float32)
        with self.transaction() as db:
            coll_id = self.collection_id(collection, db=db)
            removed: list[int] = []
            old = db.execute("SELECT id FROM documents WHERE collection_id=? AND name=?", (coll_id, name)).fetchone()
            if old:
                removed = self._delete_doc(db, old[0])
            cur = db.execute(
                "INSERT INTO documents(collection_id, name, sha256, size, n_pages, stored_path, added_at, source_path) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (coll_id, name, sha256, size, n_pages, stored_path, time.time(), source_path),
            )
            doc_id = int(cur.lastrowid)
            db.executemany(
                "INSERT INTO pages(doc_id, number, text, label) VALUES (?, ?, ?, ?)",
                [(doc_id, p.number, p.text, p.label) for p in pages],
            )
            ids: list[int] = []
            for c, v in zip(chunks, emb):
                cur = db.execute(
                    'INSERT INTO chunks(doc_id, page, start, "end", text, n_tokens, embedding) '
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (doc_id, c.page, c.start, c.end, c.text, c.n_tokens, v.tobytes()),
                )
                ids.append(int(cur.lastrowid))
            before, after = self._bump(db)
        self.remove_orphan_files()
        return Change(before, after, ids, removed, doc_id)

    def delete_document(self, doc_id: int) -> Change:
        with self.transaction() as db:
            removed = self._delete_doc(db, doc_id)
            before, after = self._bump(db)
        self.remove_orphan_files()
        return Change(before, after, [], removed, doc_id)

    def _delete_doc(self, db: sqlite3.Connection, doc_id: int) -> list[int]:
        ids = [r[0] for r in db.execute("SELECT id FROM chunks WHERE doc_id=?", (doc_id,)).fetchall()]
        row = db.execute("SELECT stored_path FROM documents WHERE id=?", (doc_id,)).fetchone()
        db.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
        db.execute("DELETE FROM sentence_vectors WHERE doc_id=?", (doc_id,))
        db.execute("DELETE FROM pages WHERE doc_id=?", (doc_id,))
        db.execute("DELETE FROM documents WHERE id=?", (doc_id,))
        if row and row[0]:
            self._orphans.append(row[0])
        return ids

    @property
    def _orphans(self) -> list[str]:
        if not hasattr(self._local, "orphans"):
            self._local.orphans = []
        return self._local.orphans

    def remove_orphan_files(self) -> None:
        """Delete stored originals no document refers to any more (after commit)."""
        used = {r[0] for r in self.db.execute("SELECT stored_path FROM documents").fetchall()}
        for rel in list(self._orphans):
            if rel not in used:
                (self.data_dir / rel).unlink(missing_ok=True)
        self._orphans.clear()

    def page_text(self, doc_id: int, page: int) -> str:
        row = self.db.execute("SELECT text FROM pages WHERE doc_id=? AND number=?", (doc_id, page)).fetchone()
        return row[0] if row else ""

    def page_label(self, doc_id: int, page: int) -> str:
        """Where the page is in its file, as a reader would look for it ("slide 7", "page 3")."""
        row = self.db.execute("SELECT label FROM pages WHERE doc_id=? AND number=?", (doc_id, page)).fetchone()
        return location_label(page, row[0] if row else "")

    def fill_locations(self, items: Iterable) -> None:
        """Set ``location`` on hits and citations that lack it (built by code that copies only
        ``doc_id`` and ``page``), from the stored page labels."""
        for item in items:
            if not getattr(item, "location", ""):
                item.location = self.page_label(item.doc_id, item.page)

    # -- chunks --------------------------------------------------------------------
    def chunk_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def stats(self) -> dict:
        db = self.db
        return {
            "documents": db.execute("SELECT COUNT(*) FROM documents").fetchone()[0],
            "pages": db.execute("SELECT COUNT(*) FROM pages").fetchone()[0],
            "chunks": db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0],
            "collections": db.execute("SELECT COUNT(*) FROM collections").fetchone()[0],
            "sentence_vectors": db.execute("SELECT COUNT(*) FROM sentence_vectors").fetchone()[0],
            "db_bytes": sum(p.stat().st_size for p in self.data_dir.glob("rag.sqlite3*") if p.exists()),
        }

    def without_sentence_vectors(self) -> list[int]:
        """The documents whose sentence vectors are not stored yet, oldest first."""
        rows = self.db.execute(
            "SELECT id FROM documents WHERE id NOT IN (SELECT DISTINCT doc_id FROM sentence_vectors) ORDER BY id"
        )
        return [r[0] for r in rows]

    def chunk_texts(self, doc_id: int) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT text FROM chunks WHERE doc_id=? ORDER BY id", (doc_id,))]

    def put_sentence_vectors(self, doc_id: int, sentences: Sequence[str], embeddings: np.ndarray) -> bool:
        """Store the vectors of a document's sentences, all in one transaction; False (and
        nothing written) when the document is gone or has them already."""
        if len(sentences) != len(embeddings):
            raise ValueError("one embedding per sentence is required")
        vecs = np.ascontiguousarray(embeddings, dtype=np.float32)
        with self.transaction() as db:
            if not db.execute("SELECT 1 FROM documents WHERE id=?", (doc_id,)).fetchone():
                return False
            if db.execute("SELECT 1 FROM sentence_vectors WHERE doc_id=? LIMIT 1", (doc_id,)).fetchone():
                return False
            db.executemany(
                "INSERT OR IGNORE INTO sentence_vectors(key, doc_id, vec) VALUES (?, ?, ?)",
                [(sentence_key(t), doc_id, v.tobytes()) for t, v in zip(sentences, vecs)],
            )
        return True

    def sentence_vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of those of ``texts`` that are sentences of a stored chunk."""
        keys = {sentence_key(t): t for t in dict.fromkeys(texts)}
        found: dict[str, np.ndarray] = {}
        for part in batched(list(keys), 500):
            marks = ",".join("?" * len(part))
            for key, vec in self.db.execute(f"SELECT key, vec FROM sentence_vectors WHERE key IN ({marks})", part):
                found[keys[bytes(key)]] = np.frombuffer(vec, dtype=np.float32)
        return found

    def iter_embeddings(self, batch: int = 50_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (ids, vectors) batches of all chunks, for rebuilding the FAISS index."""
        last = -1
        while True:
            rows = self.db.execute(
                "SELECT id, embedding FROM chunks WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
            ).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            last = int(ids[-1])
            yield ids, vecs

    def hits(self, ids: Sequence[int]) -> dict[int, Hit]:
        """Fetch chunk rows (with document and collection names) by id."""
        out: dict[int, Hit] = {}
        ids = list(ids)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            rows = self.db.execute(
                'SELECT k.id, d.name, k.page, k.text, k.start, k."end", d.id, c.name, p.label '
                "FROM chunks k JOIN documents d ON d.id=k.doc_id JOIN collections c ON c.id=d.collection_id "
                "LEFT JOIN pages p ON p.doc_id=k.doc_id AND p.number=k.page "
                f"WHERE k.id IN ({','.join('?' * len(part))})",
                part,
            ).fetchall()
            for r in rows:
                out[r[0]] = Hit(
                    chunk_id=r[0],
                    doc=r[1],
                    page=r[2],
                    text=r[3],
                    score=0.0,
                    start=r[4],
                    end=r[5],
                    doc_id=r[6],
                    collection=r[7],
                    location=location_label(r[2], r[8] or ""),
                )
        return out

    def neighbours(self, chunk_id: int) -> tuple[Hit | None, Hit | None]:
        """The chunks just before and after ``chunk_id`` on the same page."""
        row = self.db.execute("SELECT doc_id, page FROM chunks WHERE id=?", (chunk_id,)).fetchone()
        if not row:
            return None, None
        prev_id = self.db.execute(
            "SELECT MAX(id) FROM chunks WHERE doc_id=? AND page=? AND id<?", (row[0], row[1], chunk_id)
        ).fetchone()[0]
        next_id = self.db.execute(
            "SELECT MIN(id) FROM chunks WHERE doc_id=? AND page=? AND id>?", (row[0], row[1], chunk_id)
        ).fetchone()[0]
        got = self.hits([i for i in (prev_id, next_id) if i is not None])
        return got.get(prev_id), got.get(next_id)

    def allowed_chunk_ids(self, collections: Sequence[str] | None, doc_ids: Sequence[int] | None) -> np.ndarray:
        sql = "SELECT k.id FROM chunks k JOIN documents d ON d.id=k.doc_id JOIN collections c ON c.id=d.collection_id WHERE 1=1"
        args: list = []
        if collections is not None:
            sql += f" AND c.name IN ({','.join('?' * len(collections))})"
            args.extend(collections)
        if doc_ids is not None:
            sql += f" AND d.id IN ({','.join('?' * len(doc_ids))})"
            args.extend(doc_ids)
        return np.array([r[0] for r in self.db.execute(sql, args).fetchall()], dtype=np.int64)

    def bm25(
        self,
        query: str,
        k: int,
        collections: Sequence[str] | None = None,
        doc_ids: Sequence[int] | None = None,
        identifier_weight: int = 1,
    ) -> list[tuple[int, float]]:
        """Full-text search (SQLite FTS5, BM25). Returns (chunk_id, score) best first."""
        return self.match(fts_query(query, identifier_weight), k, collections, doc_ids)

    def idf(self, words: Sequence[str]) -> dict[str, float]:
        """Inverse document frequency of each word over the stored chunks, as FTS5 counts
        them (its porter stemmer applied), scaled to 0..1 so that it reads the same in a
        small library and a large one: log((M + 1) / (df + 0.5)) / log((M + 1) / 0.5), with
        M = N + IDF_PRIOR_CHUNKS chunks, as if the library also held that many chunks of
        other text (in a library of one page every word it has would otherwise count as
        common). A word no chunk holds weighs 1. Cached until the chunk set changes."""
        version = self.index_version()
        cache = getattr(self._local, "idf", None)
        if cache is None or cache[0] != version:
            cache = (version, {}, self.chunk_count() + IDF_PRIOR_CHUNKS)
            self._local.idf = cache
        _, known, total = cache
        for w in words:
            if w not in known:
                term = '"' + w.replace('"', "") + '"'
                try:
                    df = self.db.execute(
                        "SELECT COUNT(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (term,)
                    ).fetchone()[0]
                except sqlite3.OperationalError:
                    df = 0
                known[w] = math.log((total + 1) / (df + 0.5)) / math.log((total + 1) / 0.5)
        return {w: known[w] for w in words}

    def names_document(self, label: str) -> bool:
        """Whether a document's file name holds ``label``'s words in order ("FIPS 199")."""
        pattern = "%" + "%".join(re.findall(r"[a-z0-9]+", label.lower())) + "%"
        return (
            self.db.execute("SELECT 1 FROM documents WHERE lower(name) LIKE ? LIMIT 1", (pattern,)).fetchone()
            is not None
        )

    def match(
        self,
        expr: str,
        k: int,
        collections: Sequence[str] | None = None,
        doc_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """The chunks matching the FTS5 expression ``expr``, by BM25: (chunk_id, score) best first."""
        if not expr:
            return []
        sql = (
            "SELECT f.rowid, -bm25(chunks_fts) AS s FROM chunks_fts f "
            "JOIN chunks k ON k.id=f.rowid JOIN documents d ON d.id=k.doc_id "
            "JOIN collections c ON c.id=d.collection_id WHERE chunks_fts MATCH ?"
        )
        args: list = [expr]
        if collections is not None:
            sql += f" AND c.name IN ({','.join('?' * len(collections))})"
            args.extend(collections)
        if doc_ids is not None:
            sql += f" AND d.id IN ({','.join('?' * len(doc_ids))})"
            args.extend(doc_ids)
        sql += " ORDER BY bm25(chunks_fts) LIMIT ?"
        args.append(k)
        try:
            return [(r[0], float(r[1])) for r in self.db.execute(sql, args).fetchall()]
        except sqlite3.OperationalError as e:
            logger.warning("full-text query %r failed: %s", expr, e)
            return []


def query_terms(query: str) -> list[str]:
    """Content words of a query, lower-cased, stop words removed, order kept."""
    seen: list[str] = []
    for w in _WORD.findall(query.lower()):
        w = w.strip(".-")
        if not w or w in _STOPWORDS or w in seen:
            continue
        seen.append(w)
    return seen


def full_text_terms(text: str, query: bool = False, identifier_weight: int = 1) -> str:
    """``text`` as the terms a full-text engine outside SQLite indexes (Milvus): lower-case
    words, each stemmed (rag.text), so that a served engine matches the words FTS5's porter
    stemmer would, whatever analyzers it offers. As FTS5 reads them: a passage keeps every
    word (its length counts them all); a ``query`` is its content words once each.

    A word with inner dots or hyphens ("pr.ip-4") is also one term with underscores
    ("pr_ip_4"), which word tokenizers keep whole: FTS5 matches it as a phrase, and a query
    asks for it so, a code-like one repeated ``identifier_weight`` times (as in fts_query)."""
    from rag.text import stem

    def parts(w: str) -> list[str]:
        return [stem(p) for p in re.split(r"[.\-]+", w) if p]

    out: list[str] = []
    if not query:
        for w in _WORD.findall(text.lower()):
            out.extend(parts(w))
            if re.search(r"\w[.\-]+\w", w):
                out.append(re.sub(r"[.\-]+", "_", w))
        return " ".join(out)
    for t in query_terms(text):
        if _IDENTIFIER.search(t):
            out.extend([re.sub(r"[.\-]+", "_", t)] * max(1, identifier_weight))
        else:
            out.extend(parts(t))
    return " ".join(out)


# A code-like term: letters with digits ("pr.ip-4", "5e-6", "flan-t5") or dotted letters.
_IDENTIFIER = re.compile(r"^(?=.*[a-z])(?=.*\d)|[a-z]\.[a-z]")


def fts_query(query: str, identifier_weight: int = 1) -> str:
    """An FTS5 expression OR-ing the quoted content words of ``query``.

    FTS5's ``bm25()`` sums one score per phrase of the expression, so an identifier
    repeated ``identifier_weight`` times counts that many times: a page that names
    "PR.IP-4" then outranks pages that merely repeat the question's common words.
    """
    terms: list[str] = []
    for t in query_terms(query):
        terms.extend([t] * (max(1, identifier_weight) if _IDENTIFIER.search(t) else 1))
    return " OR ".join('"' + t.replace('"', "") + '"' for t in terms)


_NUMBERED = re.compile(r"\b([A-Z][A-Za-z\-]*)\s+(\d+(?:[.\-]\d+)*)\b")
_NUMBERED_ANY_CASE = re.compile(_NUMBERED.pattern, re.I)


def numbered_labels(query: str, any_case: bool = False) -> list[str]:
    """Capitalised word-and-number labels of a query, lower-cased: "Tier 3", "Table 5"
    (with ``any_case``, also as users type them: "step 2").

    Each word of "Implementation Tier 3" is common in a framework that describes four
    tiers; the page that says "Tier 3" is the one that has them side by side.
    """
    out: list[str] = []
    for word, num in (_NUMBERED_ANY_CASE if any_case else _NUMBERED).findall(query):
        phrase = f"{word.lower()} {num}"
        if word.lower() not in _STOPWORDS and phrase not in out:
            out.append(phrase)
    return out


def _valid_collection_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise StoreError("a collection name must have 1 to 100 characters")
    return name


def sentence_key(text: str) -> bytes:
    """The lookup key of a sentence's vector: a 16-byte digest of its exact text."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def batched(items: Iterable, n: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch
