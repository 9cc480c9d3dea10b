"""``rag ingest --watch DIR`` for real: watchfiles on a temporary folder, the bundled embedding
model, parser processes and a data directory, as a user would run it.

The watcher runs in a background thread (stopped by its stop event); the test searches
through a second engine on the same data directory, as another process would."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ingest.pipeline import Source
from ingest.watch import FolderSync
from rag.engine import RAG
from rag.settings import Settings

pytestmark = pytest.mark.integration

RAG_BIN = Path(sys.executable).parent / "rag"


class Watcher:
    """A FolderSync watching in a thread; ``applied`` waits for the changes a test made."""

    def __init__(self, engine: RAG, folder: Path) -> None:
        self.reports: queue.Queue = queue.Queue()
        self.stop = threading.Event()
        self.sync = FolderSync(engine, folder)
        self.thread = threading.Thread(target=self._run, name="folder-sync", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.sync.watch(self.reports.put, stop_event=self.stop, debounce_ms=300)
        except BaseException as e:  # noqa: BLE001 - handed to the test, which raises it
            self.reports.put(e)

    def applied(self, *expected: tuple[str, str], timeout: float = 120) -> list:
        """Wait until batches holding the (status, name) changes ``expected`` are applied
        whole; returns their results (unchanged files left out)."""
        deadline = time.monotonic() + timeout
        seen: list = []
        while not set(expected) <= {(r.status, r.name) for r in seen}:
            try:
                report = self.reports.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"the watcher did not apply {expected} in {timeout} s; it applied {seen}")
            if isinstance(report, BaseException):
                raise report
            seen += [r for r in report.results if r.status != "unchanged"]
        return seen

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the watcher did not stop on its stop event"


@pytest.fixture
def engines(tmp_path, real_embedder):
    settings = Settings(data_dir=tmp_path / "data")
    return RAG(settings, embedder=real_embedder), RAG(settings, embedder=real_embedder)


def _top(rag: RAG, query: str):
    hits = rag.search(query, k=3)
    return hits[0] if hits else None


def test_watching_a_folder_keeps_the_library_in_step(tmp_path, engines):
    watching, reader = engines
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "tides.md").write_text("# Tides\n\nThe harbour tide rises twice daily at Harbor Point.\n")
    reader.ingest_sources([Source("canteen.txt", data=b"The staff canteen opens at eight in the morning.\n")])
    watcher = Watcher(watching, folder)
    try:
        watcher.applied(("added", "tides.md"))
        assert _top(reader, "When does the harbour tide rise?").doc == "tides.md"

        (folder / "ferry.txt").write_text("The ferry to the island leaves at noon from pier seven.\n")
        watcher.applied(("added", "ferry.txt"))
        hit = _top(reader, "When does the ferry leave for the island?")
        assert hit.doc == "ferry.txt" and "noon" in hit.text

        (folder / "ferry.txt").write_text("The ferry to the island leaves at three from pier nine.\n")
        watcher.applied(("replaced", "ferry.txt"))
        hit = _top(reader, "When does the ferry leave for the island?")
        assert hit.doc == "ferry.txt" and "three" in hit.text and "noon" not in hit.text
        assert reader.store.db.execute("SELECT COUNT(*) FROM chunks WHERE text LIKE '%noon%'").fetchone() == (0,)

        # A bad file and a good one, and the temporary files editors and browsers leave: the
        # bad one is reported with its reason, the good one added, the rest ignored silently.
        (folder / "report.pdf").write_bytes(b"%PDF-1.7\nnot really a PDF")
        (folder / "~$report.docx").write_bytes(b"\x00owner file")
        (folder / ".~lock.budget.ods#").write_text("lock")
        (folder / "slides.pdf.crdownload").write_bytes(b"%PDF-1.7 half")
        (folder / "pier.txt").write_text("Pier nine is closed on Sundays for repairs.\n")
        results = watcher.applied(("failed", "report.pdf"), ("added", "pier.txt"))
        assert {(r.status, r.name) for r in results} == {("failed", "report.pdf"), ("added", "pier.txt")}
        (failed,) = [r for r in results if r.status == "failed"]
        assert failed.reason
        assert [d.name for d in reader.store.documents()] == ["canteen.txt", "ferry.txt", "pier.txt", "tides.md"]
        assert _top(reader, "Which pier is closed on Sundays?").doc == "pier.txt"

        (folder / "ferry.txt").unlink()
        watcher.applied(("removed", "ferry.txt"))
        assert reader.store.find_document("ferry.txt") is None
        assert "ferry.txt" not in {h.doc for h in reader.search("When does the ferry leave for the island?", k=10)}
        # The upload made outside the folder is still there and searchable.
        assert [d.name for d in reader.store.documents()] == ["canteen.txt", "pier.txt", "tides.md"]
        assert _top(reader, "When does the staff canteen open?").doc == "canteen.txt"
    finally:
        watcher.close()


def _read_until(stream, text: str, timeout: float, lines: list[str]) -> None:
    """Read lines of ``stream`` into ``lines`` until one holds ``text``."""
    done = threading.Event()

    def reader() -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))
            if text in line:
                done.set()
                return

    threading.Thread(target=reader, daemon=True).start()
    assert done.wait(timeout), f"no line with {text!r}; got {lines}"


@pytest.mark.slow
def test_rag_ingest_watch_prints_each_change_and_ctrl_c_exits_0(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "tides.md").write_text("The harbour tide rises twice daily.\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_DATA_DIR=str(tmp_path / "data"), HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(
        [str(RAG_BIN), "ingest", "--watch", str(folder)], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        lines: list[str] = []
        _read_until(proc.stderr, "for changes (Ctrl-C to stop)", 300, lines)
        assert lines[0] == "added tides.md: 1 page, 1 chunk"
        (folder / "ferry.txt").write_text("The ferry leaves at noon.\n")
        _read_until(proc.stderr, "ferry.txt", 120, lines)
        assert lines[-1] == "added ferry.txt: 1 page, 1 chunk"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        assert proc.stderr.read().strip() == f"stopped watching {folder}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
