"""Run loaders in worker processes, ahead of the embedding work.

Each file is parsed in its own short-lived process (``forkserver`` start method, so
it is safe from a multi-threaded parent) with a wall-clock limit, a CPU-time limit,
an address-space limit, and a watch on its pipe that ends it as soon as the ingesting
process is gone (``kill -9`` included). A hostile file — a decompression bomb,
a reference loop that hangs pypdf — costs at most that file: the worker is killed and
the file is reported as failed. Only plain values cross the pipe. Results come back
in submission order while later files are already being parsed.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import sys
import threading
import time
import types
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

from ingest.loaders import Loaded, LoadLimits, load_bytes
from rag.errors import IngestError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractJob:
    name: str  # the document name, used in messages
    path: Path  # where the bytes are


OCR_MEMORY_MB = 2048  # more address space a parser may take once a page needs OCR


def _harden(max_memory_mb: int, timeout_s: float) -> None:
    """Limits for a parser process: memory, CPU time, recursion; quiet pypdf."""
    import resource
    import sys

    if max_memory_mb > 0:
        # The hard limit leaves room that only OCR claims (ingest/ocr.py): its engine and a
        # rendered page need about 1.6 GB of address space on their own.
        soft = max_memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (soft, soft + OCR_MEMORY_MB * 1024 * 1024))
    if timeout_s > 0:
        # A backstop for the parent's wall-clock deadline: it also holds if the parent was killed.
        cpu = int(timeout_s) + 5
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    sys.setrecursionlimit(5000)
    # pypdf logs every oddity of a broken file as a warning; the reason we report is enough.
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)


def _exit_with_parent(conn) -> None:
    """End this process as soon as the ingesting process is gone (e.g. ``kill -9``).

    Only the ingesting process holds the other end of ``conn``: when it dies the pipe
    reports an error. (A death signal would not do: the forkserver, our parent, stays
    alive as long as any of its children does.)
    """
    import os
    import select
    import threading

    def watch() -> None:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLERR | select.POLLHUP)
        for _fd, event in poller.poll():
            if event & (select.POLLERR | select.POLLHUP):
                os._exit(1)
        # Anything else (the pipe was closed here after sending): nothing to watch.

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _worker(conn, job: ExtractJob, limits: LoadLimits, max_memory_mb: int, timeout_s: float = 0.0) -> None:
    """Parse one file and send back ``("ok", Loaded)`` or ``("error", reason)``.

    Only plain values cross the pipe, so nothing depends on how exceptions pickle.
    """
    result: tuple[str, object]
    try:
        _exit_with_parent(conn)
        _harden(max_memory_mb, timeout_s)
        conn.send(("started", None))  # the file's time limit counts from here, not from the spawn
        data = job.path.read_bytes()
        result = ("ok", load_bytes(job.name, data, limits))
    except IngestError as e:
        result = ("error", e.reason)
    except MemoryError:
        result = (
            "error",
            f"too large to extract within the {max_memory_mb} MB memory limit (possible decompression bomb)",
        )
    except RecursionError:
        result = ("error", "malformed file: objects nest too deeply or refer to themselves")
    except BaseException as e:  # noqa: BLE001 - report anything as a failed file
        result = ("error", f"could not be read ({type(e).__name__}: {_last_line(str(e))[:160]})")
    try:
        conn.send(result)
    except Exception as e:  # noqa: BLE001 - e.g. too big for memory
        try:
            conn.send(("error", f"could not be read ({type(e).__name__})"))
        except Exception:  # noqa: BLE001 - the parent sees EOF and reports a crash
            pass
    finally:
        conn.close()


def _last_line(message: str) -> str:
    """The line of an error message that says what went wrong: some libraries (ONNX Runtime
    under RapidOCR) put a whole traceback in it, whose last line is the error."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _received(name: str, message: object) -> Loaded | IngestError:
    if isinstance(message, tuple) and len(message) == 2:
        kind, value = message
        if kind == "ok" and isinstance(value, Loaded):
            return value
        if kind == "error":
            return IngestError(name, str(value))
    return IngestError(name, "the parser returned nothing usable")


def _crash_reason(proc, timeout_s: float) -> str:
    import signal

    proc.join(1)
    code = proc.exitcode
    if code is not None and code < 0:
        if -code in (signal.SIGXCPU, signal.SIGKILL) and timeout_s > 0:
            return (
                f"the parser was stopped: over {timeout_s:g} s of CPU time or out of memory (raise RAG_FILE_TIMEOUT_S)"
            )
        return f"the parser crashed (signal {-code}; possibly out of memory)"
    return "the parser crashed"


_CTX = None


def _context():
    global _CTX
    if _CTX is None:
        _CTX = mp.get_context("forkserver")
        try:
            _CTX.set_forkserver_preload(["ingest.loaders", "pypdf"])
        except Exception:  # noqa: BLE001
            pass
    return _CTX


_MAIN_LOCK = threading.Lock()


def _start_without_main(proc) -> None:
    """Start a parser process that does not run this program's main script first.

    multiprocessing re-runs ``__main__`` in every new process (as ``__mp_main__``). Under
    Streamlit, ``__main__`` is the app script: every file parsed would import the app and
    start its warm-up (torch, the embedding model) inside the parser, beyond its memory
    limit. For the moment of the start, ``__main__`` is an empty module."""
    with _MAIN_LOCK:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            proc.start()
        finally:
            if main is not None:
                sys.modules["__main__"] = main
            else:
                del sys.modules["__main__"]


def extract_in_process(job: ExtractJob, limits: LoadLimits) -> Loaded:
    """Parse one file in this process (used by tests and when workers=0)."""
    return load_bytes(job.name, job.path.read_bytes(), limits)


START_GRACE_S = 60.0  # how long a worker may take to start before its file's time limit runs


def extract_all(
    jobs: Sequence[ExtractJob],
    limits: LoadLimits,
    workers: int = 2,
    timeout_s: float = 300.0,
    max_memory_mb: int = 2048,
) -> Iterator[tuple[int, Loaded | IngestError]]:
    """Yield ``(job index, Loaded or IngestError)`` in job order, parsing ahead in parallel."""
    if workers <= 0:
        for i, job in enumerate(jobs):
            try:
                yield i, extract_in_process(job, limits)
            except IngestError as e:
                yield i, e
        return
    ctx = _context()
    pending = deque(enumerate(jobs))
    running: dict[int, tuple] = {}  # index -> (process, conn, deadline)
    done: dict[int, Loaded | IngestError] = {}
    nxt = 0
    try:
        while nxt < len(jobs):
            while pending and len(running) < workers and len(done) < workers * 4:
                i, job = pending.popleft()
                parent, child = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_worker, args=(child, job, limits, max_memory_mb, timeout_s), daemon=True)
                _start_without_main(proc)
                child.close()
                # Until the worker says it started (its interpreter and imports take seconds
                # on a loaded machine), it has START_GRACE_S more than the file's limit.
                running[i] = (proc, parent, time.monotonic() + timeout_s + START_GRACE_S)
            if nxt in done:
                yield nxt, done.pop(nxt)
                nxt += 1
                continue
            conns = {r[1]: i for i, r in running.items()}
            now = time.monotonic()
            wait_for = max(0.0, min(r[2] for r in running.values()) - now) if running else 0.1
            for conn in wait(list(conns), timeout=min(wait_for, 1.0)):
                i = conns[conn]
                proc, _, _ = running.pop(i)
                try:
                    message = conn.recv()
                    if isinstance(message, tuple) and message[:1] == ("started",):
                        running[i] = (proc, conn, time.monotonic() + timeout_s)
                        continue
                    done[i] = _received(jobs[i].name, message)
                except (EOFError, OSError):
                    done[i] = IngestError(jobs[i].name, _crash_reason(proc, timeout_s))
                except Exception as e:  # noqa: BLE001 - a message that does not unpickle
                    done[i] = IngestError(
                        jobs[i].name, f"the parser returned an unreadable result ({type(e).__name__})"
                    )
                conn.close()
                proc.join(5)
            now = time.monotonic()
            for i, (proc, conn, deadline) in list(running.items()):
                if now > deadline:
                    proc.kill()
                    proc.join(5)
                    conn.close()
                    running.pop(i)
                    done[i] = IngestError(
                        jobs[i].name, f"took longer than {timeout_s:g} s to read (raise RAG_FILE_TIMEOUT_S)"
                    )
    finally:
        for proc, conn, _ in running.values():
            proc.kill()
            proc.join(5)
            conn.close()
