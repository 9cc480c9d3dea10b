"""Crashes never corrupt the store or lose a document.

The slow test ``kill -9``s a real ``rag ingest`` (bundled embedding model) at random
moments; ``bench/crash_loop.py`` runs the same loop 20 times and prints timings. The
fast tests here break the derived state (the FAISS file) and interrupt ingestion
in-process with the fake embedder.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from ingest.pipeline import Source
from rag.engine import RAG
from tests import crash, hostile
from tests.fakes import FakeEmbedder, FakeGenerator

DOCS = {
    "albatross.txt": "The albatross glides for hours over the Southern Ocean without a single wing beat.",
    "bandicoot.txt": "A bandicoot digs small conical holes in lawns while it forages at night for insects.",
    "cassowary.txt": "The cassowary is a large flightless bird of the rainforests of northern Australia.",
}


def _rag(settings) -> RAG:
    return RAG(settings, embedder=FakeEmbedder(), generator=FakeGenerator())


def _ingest(rag: RAG, names) -> None:
    report = rag.ingest_sources([Source(n, data=DOCS[n].encode()) for n in names])
    assert all(r.ok for r in report.results), [r.reason for r in report.results]


def _top(rag: RAG, query: str) -> str:
    return rag.search(query, k=1, mode="dense")[0].doc


def _agrees(rag: RAG) -> bool:
    rag.index.load()
    ids = [r[0] for r in rag.store.db.execute("SELECT id FROM chunks ORDER BY id")]
    return rag.index.ids().tolist() == ids


def _current_file(rag: RAG):
    return rag.store.data_dir / f"index-v{rag.store.index_version()}.faiss"


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.unlink(), id="deleted"),
        pytest.param(lambda p: p.write_bytes(b""), id="empty"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), id="truncated"),
        pytest.param(lambda p: p.write_bytes(os.urandom(4096)), id="garbage"),
    ],
)
def test_missing_or_corrupt_index_file_is_rebuilt(settings, damage):
    _ingest(_rag(settings), DOCS)
    fresh = _rag(settings)
    damage(_current_file(fresh))
    for name in DOCS:  # every document is found again through the rebuilt index
        assert _top(fresh, DOCS[name]) == name
    assert _agrees(fresh)
    assert _current_file(fresh).exists()  # and the rebuilt file was saved for the next start


def test_stale_index_file_is_brought_up_to_date(settings):
    """An index file from before the last commit (a crash between commit and save) is caught up."""
    rag = _rag(settings)
    _ingest(rag, ["albatross.txt"])
    old = _current_file(rag)
    kept = old.read_bytes()
    _ingest(rag, ["bandicoot.txt", "cassowary.txt"])
    rag.store.delete_document(rag.store.find_document("albatross.txt").id)  # a change the old file lacks
    for p in rag.store.data_dir.glob("index-v*.faiss"):
        p.unlink()
    old.write_bytes(kept)  # only the stale file is left
    fresh = _rag(settings)
    assert _top(fresh, DOCS["cassowary.txt"]) == "cassowary.txt"
    assert {h.doc for h in fresh.search("albatross glides", k=3, mode="dense")} <= {"bandicoot.txt", "cassowary.txt"}
    assert _agrees(fresh)


def test_index_file_named_after_a_future_version_is_ignored(settings):
    """A file claiming a version the database never reached (e.g. a restored backup) is not trusted."""
    rag = _rag(settings)
    _ingest(rag, ["albatross.txt"])
    future = rag.store.data_dir / f"index-v{rag.store.index_version() + 5}.faiss"
    shutil.copy(_current_file(rag), future)
    rag.store.delete_document(rag.store.find_document("albatross.txt").id)
    _ingest(rag, ["bandicoot.txt"])
    fresh = _rag(settings)
    assert [h.doc for h in fresh.search("albatross glides ocean", k=3, mode="dense")] == ["bandicoot.txt"]
    assert _agrees(fresh)


def test_temp_files_of_killed_writers_are_removed_but_a_live_writers_are_kept(settings):
    rag = _rag(settings)
    _ingest(rag, ["albatross.txt"])
    data = rag.store.data_dir
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        live_tmp = data / f"index-v1.tmp{sleeper.pid}"
        dead_tmp = data / f"index-v1.tmp{dead.pid}"
        live_tmp.write_bytes(b"being written by another process")
        dead_tmp.write_bytes(b"left by a kill -9")
        _ingest(rag, ["bandicoot.txt"])  # saves the index file
        assert live_tmp.exists(), "deleting it would make the other process's os.replace fail"
        assert not dead_tmp.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_interrupted_ingest_keeps_finished_documents_and_resumes(settings, monkeypatch):
    """Each document is one transaction: a failure inside the third one's transaction keeps the
    two before it, leaves nothing of the third, and a re-run adds it and ends equal to a clean run."""
    from rag.store import Store

    bump = Store._bump
    calls = {"n": 0}

    def fails_on_third_commit(db):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash inside the transaction")
        return bump(db)

    monkeypatch.setattr(Store, "_bump", staticmethod(fails_on_third_commit))
    rag = _rag(settings)
    sources = [Source(n, data=t.encode()) for n, t in DOCS.items()]
    with pytest.raises(RuntimeError, match="simulated crash"):
        rag.ingest_sources(sources)
    monkeypatch.setattr(Store, "_bump", staticmethod(bump))
    rag = _rag(settings)  # a new process, as after a crash
    assert [d.name for d in rag.store.documents()] == ["albatross.txt", "bandicoot.txt"]
    assert _agrees(rag)
    report = rag.ingest_sources(sources)
    assert [(r.name, r.status) for r in report.results] == [
        ("albatross.txt", "unchanged"),
        ("bandicoot.txt", "unchanged"),
        ("cassowary.txt", "added"),
    ]
    clean = _rag(settings.replace(data_dir=settings.data_dir.parent / "clean"))
    _ingest(clean, DOCS)

    def texts(r: RAG):
        return sorted(
            (d.name, d.sha256, t)
            for d in r.store.documents()
            for (t,) in r.store.db.execute("SELECT text FROM chunks WHERE doc_id=?", (d.id,))
        )

    assert texts(rag) == texts(clean)
    assert _agrees(rag)
    stored = sorted(p.relative_to(rag.store.data_dir).as_posix() for p in (rag.store.data_dir / "files").rglob("*"))
    assert [p for p in stored if p.count("/") == 2] == sorted(d.stored_path for d in rag.store.documents())


@pytest.mark.integration
@pytest.mark.slow
def test_kill_9_at_random_moments_then_resume_equals_a_clean_run(tmp_path):
    """5 random kills of a real `rag ingest` (20 in bench/crash_loop.py); see tests/crash.py."""
    seed = int(os.environ.get("CRASH_LOOP_SEED", "20261127"))
    result = crash.crash_loop(tmp_path, iterations=5, seed=seed, n_docs=8, log=lambda m: print(m, flush=True))
    assert result["documents"] == 8 and result["chunks"] > 8


def _group(pgid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    out.append(int(entry))
            except ProcessLookupError:
                pass
    return out


@pytest.mark.integration
def test_killed_ingest_leaves_no_parser_running_on_a_hostile_file(tmp_path):
    """The parser's deadline lives in the ingesting process; after its kill -9 the parser must die too."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "slow.pdf").write_bytes(hostile.slow_pdf(pages=40))  # minutes of parsing
    run = crash.Run.start(tmp_path / "data", folder, RAG_FILE_TIMEOUT_S="600")
    pgid = run.proc.pid
    deadline = time.monotonic() + 300
    while len(_group(pgid)) < 3:  # rag, the forkserver, a parser
        assert run.proc.poll() is None and time.monotonic() < deadline, "\n".join(run.stderr)
        time.sleep(0.1)
    os.kill(run.proc.pid, signal.SIGKILL)
    run.proc.wait(30)
    assert not run.leftovers(wait_s=20), "a parser process outlived the killed ingest"
