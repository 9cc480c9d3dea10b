"""Two writers on one data directory serialise on ``ingest.lock`` with a clear message.

The fast tests hold the lock from a small helper process; the integration test runs two
real ``rag ingest`` processes, freezing the first (SIGSTOP) while it holds the lock so
the second is certain to find it taken.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ingest.pipeline import Source
from rag.engine import RAG
from rag.errors import LockedError
from tests import crash, hostile
from tests.fakes import FakeEmbedder, FakeGenerator

ROOT = Path(__file__).resolve().parents[2]
_HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from ingest.pipeline import ingest_lock
with ingest_lock({data!r}):
    print("held", flush=True)
    time.sleep(120)
"""


def _hold_lock(data_dir: Path) -> subprocess.Popen:
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER.format(root=str(ROOT), data=str(data_dir))], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_without_a_wait_callback_a_locked_directory_is_reported(settings):
    """The library (e.g. the web app) gets a LockedError naming the holder instead of hanging."""
    holder = _hold_lock(settings.data_dir)
    try:
        rag = RAG(settings, embedder=FakeEmbedder(), generator=FakeGenerator())
        with pytest.raises(LockedError, match=rf"another ingest \(pid {holder.pid}\) is writing to .*; waiting"):
            rag.ingest_sources([Source("a.txt", data=b"An emu cannot walk backwards.")])
        assert rag.store.documents() == []
    finally:
        holder.kill()
        holder.wait()


def test_a_waiting_ingest_proceeds_when_the_holder_is_killed(settings):
    """kill -9 of the lock holder releases the lock: the waiting writer goes on and finishes."""
    holder = _hold_lock(settings.data_dir)
    rag = RAG(settings, embedder=FakeEmbedder(), generator=FakeGenerator())
    messages: list[str] = []
    result = {}

    def ingest():
        result["report"] = rag.ingest_sources(
            [Source("a.txt", data=b"An emu cannot walk backwards.")], on_wait=messages.append
        )

    t = threading.Thread(target=ingest)
    t.start()
    try:
        _wait_for(lambda: messages, 30, "the waiting message")
        assert t.is_alive() and "report" not in result  # really waiting, not failing
        assert messages == [
            f"another ingest (pid {holder.pid}) is writing to {settings.data_dir}; waiting for it to finish"
        ]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    t.join(60)
    assert [r.status for r in result["report"].results] == ["added"]
    assert [d.name for d in rag.store.documents()] == ["a.txt"]


@pytest.mark.integration
def test_two_rag_ingest_processes_serialise_and_both_finish(tmp_path):
    data = tmp_path / "data"
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    for i in range(3):
        crash.write_doc(first, seed=1, i=i)
        crash.write_doc(second, seed=2, i=i + 3)
    # A file that takes until RAG_FILE_TIMEOUT_S to fail keeps the first ingest inside the lock.
    (first / "slow.pdf").write_bytes(hostile.slow_pdf())
    lock = data / "ingest.lock"

    one = crash.Run.start(data, first, RAG_FILE_TIMEOUT_S="10")
    try:
        _wait_for(
            lambda: lock.exists() and lock.read_text().strip() == str(one.proc.pid), 300, "the first ingest to lock"
        )
        os.kill(one.proc.pid, signal.SIGSTOP)  # freeze it inside the lock while the second one starts
        two = crash.Run.start(data, second)
        _wait_for(lambda: any("waiting" in line for line in two.stderr) or two.proc.poll() is not None, 300, "message")
        (msg,) = [line for line in two.stderr if "waiting" in line]
        assert msg == f"another ingest (pid {one.proc.pid}) is writing to {data}; waiting for it to finish"
        assert two.proc.poll() is None  # it waits rather than failing or writing
    finally:
        os.kill(one.proc.pid, signal.SIGCONT)
    assert one.proc.wait(600) == 1, "\n".join(one.stderr)  # slow.pdf failed, the rest was ingested
    assert [line for line in one.stderr if line.startswith("failed: ")] == [
        "failed: slow.pdf: took longer than 10 s to read (raise RAG_FILE_TIMEOUT_S)"
    ]
    assert two.proc.wait(600) == 0, "\n".join(two.stderr)
    assert not any("Traceback" in line for line in one.stderr + two.stderr)

    stored = crash.snapshot(data)
    assert sorted(stored) == ["doc00.txt", "doc01.txt", "doc02.md", "doc03.pdf", "doc04.txt", "doc05.txt"]
    assert all(doc["chunks"] for doc in stored.values())
    crash.check_store(data)
    crash.check_index_file(data)
    crash.check_files(data)
    hits = crash.search_works(data, "topic4 harbour")
    assert "doc04.txt" in {h["doc"] for h in hits}  # the second writer's documents are searchable
