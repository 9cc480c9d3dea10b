"""The ingestion pipeline: files -> pages -> chunks -> embeddings -> store + index.

Each document is committed in one SQLite transaction, so an interrupted run loses at
most the documents in flight (one embedding batch), and re-running it resumes where it
stopped (documents already stored with the same SHA-256 are skipped). Parsing runs in
worker processes ahead of embedding (see :mod:`ingest.extract`); the chunks of several
documents are embedded in one call, and the index file is written once per run.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import NamedTuple

import numpy as np

from ingest.chunking import chunk_pages, chunk_sentences
from ingest.extract import ExtractJob, extract_all
from ingest.loaders import SUPPORTED_SUFFIXES, LoadLimits
from rag.errors import IngestError, LockedError
from rag.settings import Settings
from rag.store import DEFAULT_COLLECTION, Store

logger = logging.getLogger(__name__)

MAX_NAME_CHARS = 180
EMBED_BATCH_CHUNKS = 256  # chunks gathered across documents per embedding call
EMBED_BATCH_SENTENCES = 1024  # sentences gathered across documents per embedding call


@dataclass
class Source:
    """One file to ingest: a name (as the user will see it) and its bytes or path."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


@dataclass
class FileResult:
    name: str
    status: str  # added | replaced | unchanged | failed | removed (its file gone: ingest/watch.py)
    reason: str = ""
    pages: int = 0
    chunks: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    searchable_seconds: float = 0.0  # when every document was committed and indexed
    sentences: int = 0  # sentence vectors stored after that (RAG_SENTENCE_VECTORS=ingest)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    def summary(self) -> str:
        added = self.count("added") + self.count("replaced")
        pages = sum(r.pages for r in self.results if r.status in ("added", "replaced"))
        chunks = sum(r.chunks for r in self.results if r.status in ("added", "replaced"))
        return (
            f"{added} added ({self.count('replaced')} replaced), {self.count('unchanged')} unchanged, "
            f"{len(self.failed)} failed"
            + (f", {self.count('removed')} removed" if self.count("removed") else "")
            + f"; {pages} pages, {chunks} chunks in {self.seconds:.1f} s"
            + (
                f" (searchable after {self.searchable_seconds:.1f} s; then {self.sentences:,} sentence vectors)"
                if self.sentences
                else ""
            )
        )


ProgressFn = Callable[[int, int, FileResult], None]


class Queued(NamedTuple):
    """A file read, hashed and kept, waiting to be parsed and stored."""

    name: str
    sha: str
    size: int
    stored: str  # the kept copy, relative to the data directory
    ts: float  # when its reading started
    origin: str | None  # the absolute path it was read from (None for an upload)


def safe_name(name: str) -> str:
    """A display name without directories, control characters or excessive length."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/"))
    parts = [p for p in name.split("/") if p not in ("", ".", "..")]
    name = parts[-1] if parts else "unnamed"
    name = re.sub(r"[\x00-\x1f\x7f<>]", "", name).strip() or "unnamed"
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        ext = ext if dot and len(ext) <= 10 else ""
        keep = MAX_NAME_CHARS - len(ext) - 2
        name = (stem if dot else name)[:keep] + "…" + ("." + ext if ext else "")
    return name


def ingestible(rel: PurePath) -> bool:
    """Whether a file found at ``rel`` inside a folder is ingested with it: a supported kind,
    not hidden (nor in a hidden folder: ".git", LibreOffice's ".~lock.x.odt#", Vim's ".x.swp")
    and not an Office owner file ("~$report.docx"). Partial downloads (".crdownload",
    ".part") and editor backups ("x.txt~") have no supported suffix."""
    return (
        rel.suffix.lower() in SUPPORTED_SUFFIXES
        and not rel.name.startswith("~")
        and not any(part.startswith(".") for part in rel.parts)
    )


def discover(paths: Sequence[str | Path]) -> tuple[list[Source], list[FileResult]]:
    """Expand files and folders (recursively) into sources; report missing paths."""
    sources: list[Source] = []
    problems: list[FileResult] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and ingestible(f.relative_to(p)):
                    rel = f.relative_to(p).as_posix()
                    sources.append(Source(name=rel, path=f))
        elif p.is_file():
            sources.append(Source(name=p.name, path=p))
        else:
            problems.append(FileResult(str(raw), "failed", "no such file or folder"))
    return sources, problems


@contextmanager
def ingest_lock(data_dir: Path, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Serialise writers on one data directory with an exclusive lock file."""
    path = Path(data_dir) / "ingest.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            msg = f"another ingest (pid {holder}) is writing to {data_dir}; waiting for it to finish"
            if on_wait is None:
                raise LockedError(msg) from None
            on_wait(msg)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class Ingestor:
    """Ingest sources into a store and keep the vector index in step."""

    def __init__(self, settings: Settings, store: Store, index, embedder) -> None:
        self.settings = settings
        self.store = store
        self.index = index
        self.embedder = embedder

    @property
    def limits(self) -> LoadLimits:
        s = self.settings
        return LoadLimits(
            max_bytes=int(s.max_file_mb * 1024 * 1024),
            max_pages=s.max_pages,
            max_page_chars=s.max_page_chars,
            passwords=tuple(s.pdf_passwords),
            # RAG_OCR (auto | off | rapidocr): a Settings field once it has one, else the environment.
            ocr=str(getattr(s, "ocr", "") or os.environ.get("RAG_OCR", "auto")),
        )

    def ingest(
        self,
        sources: Sequence[Source],
        collection: str = DEFAULT_COLLECTION,
        progress: ProgressFn | None = None,
        on_wait: Callable[[str], None] | None = None,
        sentences: bool = True,
    ) -> IngestReport:
        """Ingest ``sources``; then, with ``sentences`` (and RAG_SENTENCE_VECTORS=ingest), store
        the sentence vectors of every document that lacks them (see fill_sentence_vectors)."""
        t0 = time.perf_counter()
        report = IngestReport()
        timings = {"read": 0.0, "extract_wait": 0.0, "chunk": 0.0, "embed": 0.0, "store": 0.0}
        total = len(sources)
        done = 0

        def finish(r: FileResult) -> None:
            nonlocal done
            done += 1
            report.results.append(r)
            if progress:
                progress(done, total, r)

        with ingest_lock(self.store.data_dir, on_wait):
            # Phase 1 (main process): hash, skip unchanged, keep a safe copy of the bytes.
            self._sweep_orphans()
            jobs: list[ExtractJob] = []
            meta: list[Queued] = []
            batch: set[tuple[str, str]] = set()  # (name, sha) already queued in this batch
            for src in sources:
                ts = time.perf_counter()
                name = safe_name(src.name) if src.path is None else _clean_rel(src.name)
                try:
                    size = len(src.data) if src.data is not None else src.path.stat().st_size  # type: ignore[union-attr]
                    data = src.read() if size <= self.limits.max_bytes else b""  # never read an oversized file
                except OSError as e:
                    finish(FileResult(name, "failed", f"cannot read the file ({e.strerror or e})"))
                    continue
                if size > self.limits.max_bytes:
                    finish(
                        FileResult(
                            name,
                            "failed",
                            f"file is {size / 1e6:.1f} MB, over the limit of "
                            f"{self.settings.max_file_mb:g} MB (raise RAG_MAX_FILE_MB)",
                        )
                    )
                    continue
                sha = hashlib.sha256(data).hexdigest()
                existing = self.store.find_document(name, collection)
                if existing and existing.sha256 == sha:
                    finish(FileResult(name, "unchanged", pages=existing.n_pages, chunks=existing.n_chunks))
                    continue
                if (name, sha) in batch:
                    why = "duplicate: the same file appears twice in this batch; ingested once"
                    finish(FileResult(name, "unchanged", reason=why, warnings=[why]))
                    continue
                batch.add((name, sha))
                if not data:
                    finish(FileResult(name, "failed", "empty file (0 bytes)"))
                    continue
                stored = self._keep_original(name, sha, data)
                jobs.append(ExtractJob(name, self.store.data_dir / stored))
                origin = os.path.abspath(src.path) if src.path is not None else None
                meta.append(Queued(name, sha, len(data), stored, ts, origin))
                timings["read"] += time.perf_counter() - ts

            # Phase 2: parse, chunk, embed and store (here, or on Ray: ingest/distributed.py).
            self._process(jobs, meta, collection, timings, finish)
            t = time.perf_counter()
            self.index.flush()  # one index write for the whole batch
            timings["store"] += time.perf_counter() - t
            report.searchable_seconds = time.perf_counter() - t0
            if sentences and self.settings.sentence_vectors == "ingest":
                t = time.perf_counter()
                report.sentences = self.fill_sentence_vectors()
                timings["sentences"] = time.perf_counter() - t
        report.seconds = time.perf_counter() - t0
        report.timings = timings
        return report

    def _process(self, jobs: list[ExtractJob], meta: list[Queued], collection: str, timings: dict, finish) -> None:
        """Parse ahead in worker processes; chunk, then embed the chunks of several documents
        in one call (fewer, fuller, length-sorted batches) and commit each document in order,
        in its own transaction."""
        workers = self.settings.workers or min(4, max(1, (os.cpu_count() or 2)))
        pending: list[tuple] = []
        t_wait = time.perf_counter()
        for i, loaded in extract_all(
            jobs, self.limits, workers=workers if len(jobs) > 0 else 0, timeout_s=self.settings.file_timeout_s
        ):
            timings["extract_wait"] += time.perf_counter() - t_wait
            queued = meta[i]
            try:
                if isinstance(loaded, IngestError):
                    raise loaded
                pending.append((queued, loaded, self._chunk(queued.name, loaded, timings)))
            except IngestError as e:
                self._embed_and_store(pending, collection, timings, finish)  # keep the order
                finish(FileResult(queued.name, "failed", e.reason))
                self._drop_unused(queued.stored)
            if sum(len(p[-1]) for p in pending) >= EMBED_BATCH_CHUNKS:
                self._embed_and_store(pending, collection, timings, finish)
            t_wait = time.perf_counter()
        self._embed_and_store(pending, collection, timings, finish)

    def _chunk(self, name: str, loaded, timings: dict) -> list:
        t = time.perf_counter()
        max_tokens = min(self.settings.chunk_tokens, self.embedder.max_tokens)
        overlap = min(self.settings.chunk_overlap, max_tokens // 2)
        chunks = chunk_pages(loaded.pages, self.embedder, max_tokens, overlap)
        timings["chunk"] += time.perf_counter() - t
        if not chunks:
            raise IngestError(name, "no text to index")
        return chunks

    def _embed_and_store(self, pending: list[tuple], collection: str, timings: dict, finish) -> None:
        """Embed the chunks of all pending documents in one call, then commit each document."""
        if not pending:
            return
        t = time.perf_counter()
        vectors = self.embedder.embed_passages([c.text for p in pending for c in p[-1]])
        timings["embed"] += time.perf_counter() - t
        start = 0
        for queued, loaded, chunks in pending:
            vecs = vectors[start : start + len(chunks)]
            start += len(chunks)
            self._store(queued, loaded, chunks, vecs, collection, timings, finish)
        pending.clear()

    def _store(self, queued: Queued, loaded, chunks: list, vecs, collection: str, timings: dict, finish) -> None:
        """Commit one document, its pages, chunks and vectors (one transaction), and index it."""
        name, sha, size, stored, ts, origin = queued
        t = time.perf_counter()
        replaced = self.store.find_document(name, collection) is not None
        change = self.store.put_document(
            name, sha, size, loaded.n_pages, loaded.pages, chunks, vecs, collection, stored, origin
        )
        self.index.apply(change, vecs, save=False)
        timings["store"] += time.perf_counter() - t
        for w in loaded.warnings:
            logger.warning("%s: %s", name, w)
        result = FileResult(
            name,
            "replaced" if replaced else "added",
            pages=len(loaded.pages),
            chunks=len(chunks),
            warnings=loaded.warnings,
        )
        result.seconds = time.perf_counter() - ts
        finish(result)

    def fill_sentence_vectors(self, should_stop: Callable[[], bool] | None = None) -> int:
        """Store the vectors of the sentences of every document that has none yet, so that
        answers look them up instead of embedding them (the caller holds the ingest lock).

        Runs after the documents are committed and searchable; each document's vectors are
        one transaction, so an interruption loses nothing, and the next run (or answer,
        which embeds what is missing) carries on. A sentence already stored for another
        document is copied, not embedded again. Returns how many vectors were stored."""
        todo = iter(self.store.without_sentence_vectors())
        stored = 0
        while not (should_stop and should_stop()):
            batch: list[tuple[int, list[str]]] = []
            size = 0
            for doc_id in todo:
                batch.append((doc_id, chunk_sentences(self.store.chunk_texts(doc_id))))
                size += len(batch[-1][1])
                if size >= EMBED_BATCH_SENTENCES:
                    break
            if not batch:
                break
            known = self.store.sentence_vectors([t for _, sents in batch for t in sents])
            known.update(self._whole_chunk_vectors(batch, known))
            missing = list(dict.fromkeys(t for _, sents in batch for t in sents if t not in known))
            known.update(zip(missing, self.embedder.embed_passages(missing)))
            for doc_id, sents in batch:
                vecs = np.array([known[t] for t in sents], dtype=np.float32).reshape(len(sents), -1)
                if sents and self.store.put_sentence_vectors(doc_id, sents, vecs):
                    stored += len(sents)
        return stored

    def _whole_chunk_vectors(self, batch: list[tuple[int, list[str]]], known: dict) -> dict[str, np.ndarray]:
        """The vectors of sentences that are a whole chunk (a heading, a one-line page): the
        chunk's own, already stored, embedded from the same text. A sentence shared by two
        overlapping chunks is one text and embedded once (chunk_sentences, dict.fromkeys)."""
        wanted = {t for _, sents in batch for t in sents if t not in known}
        found: dict[str, np.ndarray] = {}
        for doc_id, _ in batch:
            for text, blob in self.store.db.execute("SELECT text, embedding FROM chunks WHERE doc_id=?", (doc_id,)):
                if text in wanted:
                    found[text] = np.frombuffer(blob, dtype=np.float32)
        return found

    def _keep_original(self, name: str, sha: str, data: bytes) -> str:
        """Store the bytes under a generated name (never the uploaded path)."""
        suffix = Path(name).suffix.lower()
        suffix = suffix if suffix in SUPPORTED_SUFFIXES else ".bin"
        rel = f"files/{sha[:2]}/{sha}{suffix}"
        path = self.store.data_dir / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".tmp{os.getpid()}")
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        return rel

    def _sweep_orphans(self) -> None:
        """Delete stored copies that no document refers to (left by an interrupted run).

        Called with the ingestion lock held, so no other writer has a copy in flight.
        """
        files = self.store.data_dir / "files"
        if not files.is_dir():
            return
        used = {r[0] for r in self.store.db.execute("SELECT stored_path FROM documents").fetchall()}
        for path in files.glob("*/*"):
            rel = path.relative_to(self.store.data_dir).as_posix()
            if path.is_file() and rel not in used:
                logger.info("removing %s (left by an interrupted ingest)", rel)
                path.unlink(missing_ok=True)

    def _drop_unused(self, rel: str) -> None:
        used = self.store.db.execute("SELECT 1 FROM documents WHERE stored_path=? LIMIT 1", (rel,)).fetchone()
        if not used:
            (self.store.data_dir / rel).unlink(missing_ok=True)


def _clean_rel(name: str) -> str:
    parts = [safe_name(p) for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "unnamed"
