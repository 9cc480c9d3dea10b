"""`rag ingest --ray` (a local Ray instance) against `rag ingest`, on the same files, in one run.

Usage::

    .venv/bin/python bench/ray_ingest.py                      # a generated corpus of 2,000 pages
    .venv/bin/python bench/ray_ingest.py --pages 300 --repeat 2
    .venv/bin/python bench/ray_ingest.py --corpus ../shared/corpus

Each run is a fresh `rag ingest --json` process into a fresh data directory (imports, model
loading and, for Ray, starting the local instance included, as a user waits for them). The
two kinds alternate ``--repeat`` times and the best of each is kept. Printed: wall time,
time until searchable, chunks/s of each, and the ratio Ray / single-process in chunks/s
(the target is >= 1.6 with 2 workers).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import generate_corpus, print_machine  # noqa: E402

RAG = Path(sys.executable).parent / "rag"


def ingest(folder: Path, ray: bool, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        env.update(RAG_DATA_DIR=str(Path(tmp) / "data"), HF_HUB_OFFLINE="1", RAG_RAY_EMBEDDERS=str(workers))
        cmd = [str(RAG), "ingest", "--json", str(folder)] + (["--ray"] if ray else [])
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
        out = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, help="folder to ingest (default: a generated corpus)")
    p.add_argument("--pages", type=int, default=2000, help="pages of the generated corpus")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--workers", type=int, default=2, help="Ray embedding actors (RAG_RAY_EMBEDDERS)")
    args = p.parse_args()
    print_machine()
    with tempfile.TemporaryDirectory(prefix="bench-ray-corpus-") as tmp:
        folder = args.corpus or generate_corpus(Path(tmp) / "corpus", args.pages)
        best: dict[str, dict] = {}
        for _ in range(args.repeat):
            for kind in ("rag ingest", "rag ingest --ray"):
                r = ingest(folder, kind.endswith("--ray"), args.workers)
                r["chunks_per_s"] = r["chunks"] / r["seconds"]
                print(
                    f"# {kind}: {r['chunks']} chunks, {r['seconds']:.1f} s (searchable {r['searchable_seconds']:.1f} s)"
                )
                if kind not in best or r["seconds"] < best[kind]["seconds"]:
                    best[kind] = r
    print("\n| run | pages | chunks | wall s | searchable s | chunks/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, r in best.items():
        print(
            f"| `{kind}` | {r['pages']} | {r['chunks']} | {r['seconds']:.1f} | {r['searchable_seconds']:.1f} "
            f"| {r['chunks_per_s']:.1f} |"
        )
    ratio = best["rag ingest --ray"]["chunks_per_s"] / best["rag ingest"]["chunks_per_s"]
    print(f"\nRay / single process, chunks/s: {ratio:.2f} (target >= 1.6 with {args.workers} workers)")


if __name__ == "__main__":
    main()
