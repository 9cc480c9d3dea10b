"""Crash loop: ``kill -9`` a real ``rag ingest`` 20 times at random moments, then check recovery.

Usage::

    .venv/bin/python bench/crash_loop.py                  # 20 kills, 8 documents (~8-15 min on 2 cores)
    .venv/bin/python bench/crash_loop.py --iterations 50 --docs 12 --seed 7

Each iteration changes a few documents (so there is always work: additions and
replacements), starts ``rag ingest`` with the bundled embedding model, kills it with
SIGKILL either at a random time since start (start-up included) or a random fraction
of a second after the k-th file, and then checks: nothing of the killed run is left
running, SQLite and its full-text index pass their integrity checks, no document is
stored without chunks, and ``rag search`` works. At the end a complete ``rag ingest``
must leave exactly the documents, pages, chunk texts and vectors of a clean run into
an empty data directory, the FAISS file must hold exactly the stored vectors, and the
stored copies must be exactly those the documents refer to.

The same loop runs 5 times in ``tests/integration/test_crash_recovery.py``. This script
prints figures and never asserts beyond the checks above (a failed check aborts it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import crash  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--docs", type=int, default=8)
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    print(f"crash loop: {args.iterations} kills, {args.docs} documents, seed {args.seed}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="rag-crash-") as tmp:
        t0 = time.monotonic()
        result = crash.crash_loop(
            Path(tmp), args.iterations, args.seed, args.docs, log=lambda m: print(m, file=sys.stderr, flush=True)
        )
        result["wall_s"] = time.monotonic() - t0
    searches = result["search_after_kill_s"]
    if args.json:
        print(json.dumps(result))
        return 0
    during = sum(1 for k in result["kills"] if "after file" in k)
    print(
        f"kills:                       {result['iterations']} ({during} during ingestion, "
        f"{sum(1 for k in result['kills'] if 'finished' in k)} runs finished first)"
    )
    print(f"final store:                 {result['documents']} documents, {result['chunks']} chunks = clean run")
    if searches:
        print(f"`rag search` after a kill:   median {statistics.median(searches):.1f} s, max {max(searches):.1f} s")
    print(f"resume (final rag ingest):   {result['resume_s']:.1f} s")
    print(f"clean run (same corpus):     {result['clean_s']:.1f} s")
    print(f"whole loop:                  {result['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
