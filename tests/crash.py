"""Helpers to ``kill -9`` a real ``rag ingest`` and check what it left behind.

Used by ``tests/integration/test_crash_recovery.py`` (a short loop) and
``bench/crash_loop.py`` (the full loop, with timings). Everything here talks to the
product the way a user does: the ``rag`` command, the data directory on disk.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RAG = str(Path(sys.executable).with_name("rag"))
_WORDS = (
    "river harbour lantern copper meadow falcon granite orchard violin glacier beacon saffron compass "
    "tundra marble willow ember quartz canyon thistle voyage juniper cobalt prairie anchor velvet summit "
    "lagoon pepper harvest mosaic comet cedar ledger pilgrim ripple solstice timber"
).split()


def sentences(rng: random.Random, n: int, topic: str) -> str:
    out = []
    for _ in range(n):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 14))]
        words.insert(rng.randrange(len(words)), topic)
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def write_doc(folder: Path, seed: int, i: int, revision: int = 0) -> Path:
    """Write document ``i`` (text, Markdown or a 3-page PDF); content depends on seed, i and revision."""
    from tests.hostile import text_pdf

    rng = random.Random(f"{seed}-{i}-{revision}")
    topic = f"topic{i}"
    if i % 4 == 3:
        path = folder / f"doc{i:02d}.pdf"
        path.write_bytes(text_pdf([sentences(rng, 14, topic) for _ in range(3)]))
    else:
        path = folder / (f"doc{i:02d}.md" if i % 4 == 2 else f"doc{i:02d}.txt")
        paras = [sentences(rng, rng.randint(4, 8), topic) for _ in range(rng.randint(3, 6))]
        path.write_text("\n\n".join(paras) + "\n", encoding="utf-8")
    return path


def write_corpus(folder: Path, seed: int, n_docs: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_doc(folder, seed, i) for i in range(n_docs)]


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_DATA_DIR=str(data_dir), RAG_PROGRESS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return env


@dataclass
class Run:
    """A ``rag ingest`` subprocess whose progress (files done) is followed from its stderr."""

    proc: subprocess.Popen
    started: float
    done: int = 0
    total: int = 0
    stderr: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, data_dir: Path, folder: Path, **env: str) -> Run:
        proc = subprocess.Popen(
            [RAG, "ingest", str(folder)],
            env={**env_for(data_dir), **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: nothing it leaves behind goes unnoticed
        )
        run = cls(proc, time.monotonic())
        threading.Thread(target=run._follow, daemon=True).start()
        return run

    def _follow(self) -> None:
        buf = b""
        assert self.proc.stderr is not None
        while chunk := self.proc.stderr.read1(4096):
            buf += chunk
            *parts, buf = re.split(rb"[\r\n]", buf)
            for part in parts:
                line = part.decode(errors="replace")
                self.stderr.append(line)
                m = re.search(r"\] (\d+)/(\d+) ", line)
                if m:
                    self.done, self.total = int(m.group(1)), int(m.group(2))
        if buf:
            self.stderr.append(buf.decode(errors="replace"))

    def kill_at(self, rng: random.Random, n_files: int, max_wait_s: float = 300.0) -> str:
        """``kill -9`` at a random moment; returns a description of when (or 'finished')."""
        if rng.random() < 0.25:
            delay = rng.uniform(0.2, 15.0)  # anywhere, start-up included
            while time.monotonic() - self.started < delay and self.proc.poll() is None:
                time.sleep(0.01)
            when = f"{delay:.2f} s after start"
        else:
            # While documents are being committed: after k files, plus a fraction of a second.
            k = rng.randint(1, max(1, n_files - 1))
            extra = rng.uniform(0.0, 0.4)
            deadline = time.monotonic() + max_wait_s
            while self.done < k and self.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(extra)
            when = f"{extra:.2f} s after file {self.done}/{self.total or '?'}"
        if self.proc.poll() is not None:
            return "finished before the kill"
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        return when

    def leftovers(self, wait_s: float = 15.0) -> bool:
        """True if processes of the killed run are still alive after ``wait_s`` (then they are killed)."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return False
            time.sleep(0.1)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True


def rag(*args: str, data_dir: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([RAG, *args], env=env_for(data_dir), capture_output=True, text=True, timeout=timeout)


def search_works(data_dir: Path, query: str = "topic3 harbour") -> list[dict]:
    """Run ``rag search --json``; raise AssertionError with its stderr if it fails."""
    out = rag("search", "--json", "-k", "5", query, data_dir=data_dir)
    assert out.returncode == 0, f"rag search failed after a crash:\n{out.stderr}"
    assert "Traceback" not in out.stderr, out.stderr
    return json.loads(out.stdout)["hits"]


def _db(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{data_dir / 'rag.sqlite3'}?mode=ro", uri=True)


def check_store(data_dir: Path) -> None:
    """SQLite and FTS5 integrity, and no document without its chunks (run while no writer is alive)."""
    db = sqlite3.connect(data_dir / "rag.sqlite3")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # Checks the full-text index against the chunks table; raises if they disagree.
        db.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES('integrity-check', 1)")
        empty = db.execute(
            "SELECT d.name FROM documents d WHERE NOT EXISTS (SELECT 1 FROM chunks k WHERE k.doc_id=d.id)"
        ).fetchall()
        assert not empty, f"documents stored without chunks: {empty}"
        orphans = db.execute("SELECT COUNT(*) FROM chunks k LEFT JOIN documents d ON d.id=k.doc_id WHERE d.id IS NULL")
        assert orphans.fetchone()[0] == 0
    finally:
        db.close()


def snapshot(data_dir: Path) -> dict[str, dict]:
    """What the store holds, per document name: sha, pages, chunk texts and vectors in order."""
    db = _db(data_dir)
    try:
        out: dict[str, dict] = {}
        for doc_id, name, sha, n_pages in db.execute("SELECT id, name, sha256, n_pages FROM documents"):
            rows = db.execute(
                'SELECT page, start, "end", text, embedding FROM chunks WHERE doc_id=? ORDER BY page, start, id',
                (doc_id,),
            ).fetchall()
            pages = db.execute("SELECT number, text FROM pages WHERE doc_id=? ORDER BY number", (doc_id,)).fetchall()
            assert name not in out, f"duplicate document {name}"
            out[name] = {
                "sha256": sha,
                "n_pages": n_pages,
                "pages": pages,
                "chunks": [(p, s, e, t) for p, s, e, t, _ in rows],
                "vectors": np.vstack([np.frombuffer(r[4], dtype=np.float32) for r in rows]) if rows else None,
            }
        return out
    finally:
        db.close()


def compare(crashed: dict[str, dict], clean: dict[str, dict]) -> list[str]:
    """Differences between two snapshots (empty when they hold the same documents and chunks)."""
    problems = []
    if set(crashed) != set(clean):
        problems.append(f"missing: {sorted(set(clean) - set(crashed))}, extra: {sorted(set(crashed) - set(clean))}")
    for name in sorted(set(crashed) & set(clean)):
        a, b = crashed[name], clean[name]
        for key in ("sha256", "n_pages", "pages", "chunks"):
            if a[key] != b[key]:
                problems.append(f"{name}: {key} differs")
        if a["vectors"] is not None and b["vectors"] is not None and a["vectors"].shape == b["vectors"].shape:
            # bfloat16 embeddings depend slightly on how chunks were batched (a resumed run
            # batches differently from a clean one): compare directions, not bits.
            cos = np.sum(a["vectors"] * b["vectors"], axis=1)
            if cos.min() < 0.99:
                problems.append(f"{name}: embeddings differ (lowest cosine {cos.min():.4f})")
    return problems


def check_index_file(data_dir: Path) -> None:
    """The FAISS file named after the database's version holds exactly the stored vectors."""
    import faiss

    db = _db(data_dir)
    try:
        version = int(db.execute("SELECT value FROM meta WHERE key='index_version'").fetchone()[0])
        rows = db.execute("SELECT id, embedding FROM chunks ORDER BY id").fetchall()
    finally:
        db.close()
    path = data_dir / f"index-v{version}.faiss"
    assert path.exists(), f"no index file for version {version}: {sorted(p.name for p in data_dir.glob('index*'))}"
    index = faiss.read_index(str(path))
    from rag.index import index_ids

    assert index_ids(index).tolist() == [r[0] for r in rows]
    if hasattr(index, "id_map"):  # exact index: the vectors themselves match the database
        for chunk_id, blob in rows[:: max(1, len(rows) // 50)]:
            assert np.allclose(index.reconstruct(int(chunk_id)), np.frombuffer(blob, dtype=np.float32), atol=1e-6)
    leftovers = [p.name for p in data_dir.glob("index-v*.faiss") if p != path]
    assert not leftovers, f"stale index files left behind: {leftovers}"


def check_files(data_dir: Path) -> None:
    """Stored copies are exactly those the documents refer to (no orphans, no temp files)."""
    db = _db(data_dir)
    try:
        used = {r[0] for r in db.execute("SELECT stored_path FROM documents")}
    finally:
        db.close()
    on_disk = {p.relative_to(data_dir).as_posix() for p in (data_dir / "files").rglob("*") if p.is_file()}
    assert on_disk == used, f"extra: {sorted(on_disk - used)[:5]}, missing: {sorted(used - on_disk)[:5]}"


def crash_loop(root: Path, iterations: int, seed: int, n_docs: int = 8, log=print) -> dict:
    """Kill ``rag ingest`` ``iterations`` times at random moments, then check recovery.

    Between runs a few documents change (so there is always work: additions and
    replacements). After each kill: nothing of the killed run is left running, the
    database is intact and ``rag search`` works. Finally a complete ``rag ingest`` must
    leave exactly what a clean run into an empty data directory leaves, and the FAISS
    file must hold exactly the stored vectors. Returns figures for the benchmark.
    """
    rng = random.Random(seed)
    corpus, data, clean = root / "corpus", root / "data", root / "clean"
    write_corpus(corpus, seed, n_docs)
    kills: list[str] = []
    t_search: list[float] = []
    t0 = time.monotonic()
    for it in range(iterations):
        if it % 2 == 1:
            for i in rng.sample(range(n_docs), min(3, n_docs)):
                write_doc(corpus, seed, i, revision=it)
        run = Run.start(data, corpus)
        when = run.kill_at(rng, n_docs)
        kills.append(when)
        assert not run.leftovers(), f"iteration {it}: processes of the killed ingest kept running"
        assert not any("Traceback" in line for line in run.stderr), "\n".join(run.stderr)
        if not (data / "rag.sqlite3").exists():
            log(f"[{it + 1}/{iterations}] killed {when} (before the database existed)")
            continue
        check_store(data)
        ts = time.monotonic()
        search_works(data)
        t_search.append(time.monotonic() - ts)
        docs = len(snapshot(data))
        log(f"[{it + 1}/{iterations}] killed {when}; {docs} documents stored; rag search OK")
    ts = time.monotonic()
    final = rag("ingest", str(corpus), data_dir=data, timeout=900)
    t_resume = time.monotonic() - ts
    assert final.returncode == 0, final.stderr
    search_works(data)
    check_store(data)
    check_index_file(data)
    check_files(data)
    ts = time.monotonic()
    ref = rag("ingest", str(corpus), data_dir=clean, timeout=900)
    t_clean = time.monotonic() - ts
    assert ref.returncode == 0, ref.stderr
    crashed, expected = snapshot(data), snapshot(clean)
    problems = compare(crashed, expected)
    assert not problems, "\n".join(problems)
    return {
        "iterations": iterations,
        "kills": kills,
        "documents": len(expected),
        "chunks": sum(len(d["chunks"]) for d in expected.values()),
        "search_after_kill_s": t_search,
        "resume_s": t_resume,
        "clean_s": t_clean,
        "total_s": time.monotonic() - t0,
    }
