"""Query-embedding latency per embedding backend (``RAG_EMBED_BACKEND``), in one process,
the backends interleaved question by question so that the machine's load falls on all alike.

    .venv/bin/python bench/query_embed.py --data-dir /tmp/rag-data   # exports cached under models/
    .venv/bin/python bench/query_embed.py --backends torch,onnx-int8 --rounds 3

Each backend is made as the app makes it (``make_embedder``; an exported backend is exported
into ``--data-dir``/models once, its time printed apart) and warmed up; then every real
question of eval/*.jsonl is embedded with ``embed_query`` by each backend in turn. Printed:
p50 / p95 per backend and the ratio of each p50 to torch's (the target is p50 <= 5 ms).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import pct, print_machine, questions  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True, help="where exported models are cached (models/)")
    p.add_argument("--backends", default="torch,onnx,onnx-int8,openvino")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    from rag.embedders import make_embedder
    from rag.settings import Settings

    print_machine()
    embedders = {}
    for name in args.backends.split(","):
        t = time.perf_counter()
        emb = make_embedder(Settings.from_env(data_dir=args.data_dir, embed_backend=name))
        emb.embed_query("warm up")
        print(f"# {name}: ready in {time.perf_counter() - t:.1f} s")
        embedders[name] = emb
    qs = questions() * args.rounds
    times: dict[str, list[float]] = {name: [] for name in embedders}
    for q in qs:
        for name, emb in embedders.items():
            t = time.perf_counter()
            emb.embed_query(q)
            times[name].append(time.perf_counter() - t)
    base = pct(times.get("torch") or next(iter(times.values())), 50)
    print(f"\n{len(qs)} queries per backend\n\n| backend | p50 ms | p95 ms | p50 / torch |\n|---|---:|---:|---:|")
    for name, ts in times.items():
        print(f"| {name} | {pct(ts, 50) * 1e3:.1f} | {pct(ts, 95) * 1e3:.1f} | {pct(ts, 50) / base:.2f} |")


if __name__ == "__main__":
    main()
