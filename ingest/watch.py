"""Folder sync (``rag ingest --watch DIR``): keep a folder and the library in step.

A sync goes through the normal ingestion (ingest/pipeline.py): a file stored with the same
name and SHA-256 is skipped, each document is committed in its own transaction, and a bad
file is reported with its reason and stores nothing. Then the documents that were ingested
from a file of the folder (``documents.source_path``) whose file is gone are deleted. A
document that came from anywhere else (an upload in the app, another folder, a data
directory made before source paths were recorded) has another or no source path, and a
sync never deletes it.

``FolderSync.watch`` starts watchfiles first, then syncs the whole folder once, so nothing
changed during that first sync is missed; after it, each debounced batch of changes is
applied the same way: its new and changed files ingested, and when something was deleted
or moved away, the folder's documents whose files are gone deleted. Hidden and temporary
files and unsupported kinds are ignored (``ingest.pipeline.ingestible``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path, PurePath

from ingest.pipeline import FileResult, IngestReport, Source, ingestible
from rag.errors import ConfigError
from rag.store import DEFAULT_COLLECTION

logger = logging.getLogger(__name__)

WAKE_MS = 1000  # the watcher's first wake-up (then the first sync) and its idle wake-ups after

ChangeFn = Callable[[FileResult], None]


class FolderSync:
    """Keep the documents ingested from ``folder`` into ``collection`` in step with its files.

    Args:
        engine: the :class:`rag.engine.RAG` that ingests and deletes.
        folder: the folder to keep in step (its subfolders too).
        collection: the collection its documents go to.
        on_change: called with each change applied: an added, replaced or failed file (as
            ``rag ingest`` reports it) or a ``removed`` document; never for unchanged files.
        on_wait: called with a message when another writer holds the data directory.
    """

    def __init__(
        self,
        engine,
        folder: str | Path,
        collection: str = DEFAULT_COLLECTION,
        on_change: ChangeFn | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.root = Path(os.path.abspath(folder))
        self.collection = collection or DEFAULT_COLLECTION
        self.on_change = on_change
        self.on_wait = on_wait
        data = Path(engine.store.data_dir)
        self._data_dirs = {Path(os.path.abspath(data)), data.resolve()}  # never ingest its stored copies

    def relative(self, path: str | Path) -> PurePath | None:
        """``path`` inside the folder, or None when it is outside it or in the data directory."""
        path = Path(os.path.abspath(path))
        if any(path == d or d in path.parents for d in self._data_dirs):
            return None
        for root in (self.root, self.root.resolve()):
            try:
                return path.relative_to(root)
            except ValueError:
                continue
        return None

    def watched(self, change, path: str) -> bool:
        """The watchfiles filter: drop hidden and temporary files, the data directory, and
        files of kinds that are not ingested (a deleted path may be a folder: kept)."""
        rel = self.relative(path)
        if rel is None or not rel.parts:
            return False
        if any(part.startswith(".") for part in rel.parts) or rel.name.startswith("~"):
            return False
        return ingestible(rel) or not os.path.isfile(path)

    # -- applying changes --------------------------------------------------------------
    def sync(self) -> IngestReport:
        """Ingest every file of the folder (unchanged ones are skipped), then delete the
        folder's documents whose files are gone."""
        report = self._ingest(self._files(self.root))
        report.results.extend(self._remove_gone())
        return report

    def apply(self, changes: Iterable[tuple[object, str]]) -> IngestReport:
        """Apply one batch of watchfiles changes: ``(Change, path)`` pairs."""
        from watchfiles import Change

        sources: dict[Path, Source] = {}
        gone = False
        for change, raw in changes:
            path = Path(raw)
            if change == Change.deleted or not path.exists():
                gone = True
            elif path.is_dir():
                if change == Change.added:  # a folder moved in (or renamed: its old name is deleted)
                    sources.update(self._files(path))
            else:
                rel = self.relative(path)
                if rel is not None and ingestible(rel) and path.is_file():
                    sources[path] = Source(rel.as_posix(), path)
        report = self._ingest(sources)
        if gone:
            report.results.extend(self._remove_gone())
        return report

    def _files(self, folder: Path) -> dict[Path, Source]:
        """The ingestible files under ``folder``, named by their path inside the synced folder."""
        out: dict[Path, Source] = {}
        for path in sorted(folder.rglob("*")):
            rel = self.relative(path)
            if rel is not None and ingestible(rel) and path.is_file():
                out[path] = Source(rel.as_posix(), path)
        return out

    def _ingest(self, sources: dict[Path, Source]) -> IngestReport:
        if not sources:
            return IngestReport()

        def progress(done: int, total: int, result: FileResult) -> None:
            if result.status != "unchanged" and self.on_change:
                self.on_change(result)

        return self.engine.ingest_sources(list(sources.values()), self.collection, progress, self.on_wait)

    def _remove_gone(self) -> list[FileResult]:
        """Delete the documents ingested from a file of the folder that is no longer there."""
        removed = []
        for doc in self.engine.store.documents_from(str(self.root), self.collection):
            if doc.source_path and not os.path.isfile(doc.source_path):
                self.engine.delete_document(doc.id)
                logger.info("%s: %s is gone; document deleted", doc.name, doc.source_path)
                removed.append(FileResult(doc.name, "removed"))
                if self.on_change:
                    self.on_change(removed[-1])
        return removed

    # -- watching ----------------------------------------------------------------------
    def watch(
        self,
        on_synced: Callable[[IngestReport], None] | None = None,
        stop_event=None,
        debounce_ms: int = 1600,
    ) -> None:
        """Sync the folder once, then apply its changes until ``stop_event`` is set (or Ctrl-C
        raises KeyboardInterrupt). ``on_synced`` gets the report of the first sync, then that
        of each batch of changes, once the batch is applied."""
        try:
            import watchfiles
        except ImportError as e:  # pragma: no cover - a dependency of the package
            raise ConfigError("rag ingest --watch needs watchfiles: pip install watchfiles") from e
        if not self.root.is_dir():
            raise ConfigError(f"{self.root} is not a folder: give the folder to keep in step")
        first = True
        for changes in watchfiles.watch(
            self.root,
            watch_filter=self.watched,
            debounce=debounce_ms,
            stop_event=stop_event,
            rust_timeout=WAKE_MS,
            yield_on_timeout=True,  # the first wake-up: the watcher is running, sync now
        ):
            if first or changes:
                report = self.sync() if first else self.apply(changes)
                first = False
                if on_synced:
                    on_synced(report)
