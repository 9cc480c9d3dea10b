"""Helpers shared by the benchmarks: machine description, memory, percentiles, corpora.

Benchmarks print figures; they never assert. The machines they run on are shared and
noisy, so every benchmark measures its baseline in the same run and reports ratios.
"""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLE_DOCS = ROOT / "sample_docs"
EVAL_FILES = (ROOT / "eval" / "corpus.jsonl", ROOT / "eval" / "sample_docs.jsonl")
PACKAGES = ("torch", "transformers", "sentence-transformers", "faiss-cpu", "numpy", "pypdf", "streamlit", "onnxruntime")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> dict:
    """CPU model, cores, RAM, load and package versions, for the record."""
    info: dict = {"python": platform.python_version(), "cores": os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in lscpu.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "L3 cache", "Hypervisor vendor"):
                info[key.strip()] = value.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        import psutil

        info["ram_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    info["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    for name in PACKAGES:
        try:
            info[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return info


def print_machine() -> None:
    print("# machine: " + json.dumps(machine()))


def rss_mb() -> float:
    """Resident memory of this process in MiB."""
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of ``values``, linear interpolation."""
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


@contextmanager
def timed(store: dict, key: str) -> Iterator[None]:
    t = time.perf_counter()
    try:
        yield
    finally:
        store[key] = store.get(key, 0.0) + time.perf_counter() - t


def questions() -> list[str]:
    """The questions of the evaluation sets (real queries for latency measurements)."""
    out = []
    for path in EVAL_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["question"])
    return out


# -- a generated corpus -----------------------------------------------------------------
_SUBJECTS = (
    "The committee",
    "Each operator",
    "The reactor vessel",
    "A field technician",
    "The audit team",
    "The control system",
    "Every tenant",
    "The supplier",
    "Our laboratory",
    "The municipal council",
    "The maintenance crew",
    "The survey",
    "The storage facility",
    "This procedure",
    "The pilot study",
)
_VERBS = (
    "reviews",
    "records",
    "inspects",
    "approves",
    "measures",
    "replaces",
    "documents",
    "calibrates",
    "reports",
    "verifies",
    "schedules",
    "archives",
    "estimates",
    "monitors",
    "tests",
)
_OBJECTS = (
    "the pressure relief valve",
    "quarterly energy consumption",
    "all incident reports",
    "the backup generator",
    "soil moisture at three depths",
    "the access control logs",
    "water quality samples",
    "the budget forecast",
    "firmware versions of every sensor",
    "staff training records",
    "the evacuation plan",
    "cooling tower drift",
    "the emergency lighting circuit",
    "supplier invoices over 5,000 euros",
    "ventilation flow rates",
)
_TAILS = (
    "before the end of each month",
    "whenever a fault is detected",
    "according to section {s}",
    "within {n} working days",
    "and keeps the results for {n} years",
    "at {n} locations on the site",
    "unless the safety officer decides otherwise",
    "using the form in appendix {a}",
    "with a tolerance of {n} percent",
    "after every {n} operating hours",
)


def sentence(rng: random.Random) -> str:
    tail = rng.choice(_TAILS).format(
        s=f"{rng.randint(1, 12)}.{rng.randint(1, 9)}", n=rng.randint(2, 90), a="ABCDEFG"[rng.randint(0, 6)]
    )
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {tail}."


def generate_corpus(out: Path, pages: int, pages_per_doc: int = 50, seed: int = 7) -> Path:
    """Write ``pages`` pages of generated prose as PDFs (reportlab) under ``out``."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    done, doc = 0, 0
    while done < pages:
        n = min(pages_per_doc, pages - done)
        c = canvas.Canvas(str(out / f"report-{doc:04d}.pdf"), pagesize=A4)
        for p in range(n):
            y = 800
            c.setFont("Helvetica-Bold", 12)
            c.drawString(60, y, f"Report {doc}, section {p + 1}")
            c.setFont("Helvetica", 10)
            y -= 24
            line = ""
            while y > 60:
                words = sentence(rng).split()
                for w in words:
                    if len(line) + len(w) + 1 > 95:
                        c.drawString(60, y, line)
                        y -= 13
                        line = ""
                        if y <= 60:
                            break
                    line = f"{line} {w}".strip()
            c.showPage()
        c.save()
        done += n
        doc += 1
    return out
