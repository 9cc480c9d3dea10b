"""Ingestion throughput: `rag ingest` against the naive pipeline and the embedding ceiling.

Usage::

    .venv/bin/python bench/ingest.py                        # ../shared/corpus (~3 min)
    .venv/bin/python bench/ingest.py --generated-pages 2000  # plus a generated corpus
    .venv/bin/python bench/ingest.py --corpus DIR --repeat 2

For each corpus, in the same run and each in a fresh process (imports and model
loading included, as a user would wait for them):

* ``rag``: ``rag ingest DIR --json`` (pages/s, chunks/s; extract / chunk / embed / store
  split from the report's timings);
* ``naive``: pypdf text -> fixed character windows -> the same model with plain
  sentence-transformers defaults (float32, batch 32), one process, one ``encode`` call
  per document;
* ``ceiling``: the chunk texts `rag ingest` stored, embedded alone in one ``encode``
  call with the same model as `rag ingest` configures it (dtype, batch size): no
  parsing, chunking or storing.

Printed ratios: rag searchable / naive wall (target <= 0.75: the documents committed and
indexed, before the sentence vectors that speed up answers are stored), rag wall / naive wall
(with them), and rag chunks/s / ceiling.
With ``--repeat N`` the rag and naive runs alternate N times and the best of each is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CORPUS, ROOT, generate_corpus, print_machine  # noqa: E402

PY = sys.executable
RAG = str(Path(PY).parent / "rag")
NAIVE_WINDOW = 600  # characters, about the 128 word pieces of a rag chunk
NAIVE_STRIDE = 450


# -- the two stand-alone measurements (run in child processes) -------------------------------
def naive(folder: Path) -> dict:
    """pypdf text -> fixed character windows -> the same model, plain sentence-transformers defaults."""
    t0 = time.perf_counter()
    from pypdf import PdfReader
    from sentence_transformers import SentenceTransformer

    from rag.models import bundled_embedding_dir

    model = SentenceTransformer(str(bundled_embedding_dir()), device="cpu")
    model.encode(["load"])
    t_load = time.perf_counter() - t0
    pages = chunks = 0
    vectors = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() == ".pdf":
            texts = [p.extract_text() or "" for p in PdfReader(str(path)).pages]
        elif path.suffix.lower() in (".txt", ".md"):
            texts = [path.read_text(encoding="utf-8", errors="replace")]
        else:
            continue
        pages += len(texts)
        windows = [
            t[i : i + NAIVE_WINDOW] for t in texts for i in range(0, max(1, len(t)), NAIVE_STRIDE) if t[i:].strip()
        ]
        chunks += len(windows)
        vectors.append(model.encode(windows, normalize_embeddings=True, show_progress_bar=False))
    return {"seconds": time.perf_counter() - t0, "load_s": t_load, "pages": pages, "chunks": chunks}


def ceiling(data_dir: Path, env_batch: int) -> dict:
    """Embed the stored chunk texts alone (one encode call), as fast as the model goes."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the rag CLI sets it, before torch loads
    texts = [r[0] for r in sqlite3.connect(data_dir / "rag.sqlite3").execute("SELECT text FROM chunks ORDER BY id")]
    from rag.embedders import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder(batch_size=env_batch)  # as `rag ingest` configures it
    emb.embed_query("load")
    t = time.perf_counter()
    emb.embed_passages(texts)
    dtype = str(next(emb.model.parameters()).dtype).replace("torch.", "")
    return {"seconds": time.perf_counter() - t, "chunks": len(texts), "dtype": dtype}


# -- the driver -----------------------------------------------------------------------------
def child(mode: str, target: Path, batch: int, extra_env: dict | None = None) -> dict:
    out = subprocess.run(
        [PY, __file__, f"--{mode}", str(target), "--batch", str(batch)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=dict(os.environ, **(extra_env or {})),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def rag_ingest(folder: Path, extra_env: dict) -> dict:
    data = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    env = dict(os.environ, RAG_DATA_DIR=str(data), **extra_env)
    t = time.perf_counter()
    out = subprocess.run([RAG, "ingest", str(folder), "--json"], capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t
    if out.returncode not in (0, 1):
        raise SystemExit(f"rag ingest failed:\n{out.stderr}")
    report = json.loads(out.stdout.strip().splitlines()[-1])
    report.update(wall=wall, data_dir=str(data))
    return report


def bench(folder: Path, repeat: int, batch: int, extra_env: dict) -> None:
    print(f"\n## corpus {folder}")
    rags, naives = [], []
    for _ in range(repeat):
        rags.append(rag_ingest(folder, extra_env))
        naives.append(child("naive", folder, batch))
        print(f"  run: rag {rags[-1]['wall']:.1f} s, naive {naives[-1]['seconds']:.1f} s", flush=True)
    r = min(rags, key=lambda x: x["wall"])
    nv = min(naives, key=lambda x: x["seconds"])
    ceil = child("ceiling", Path(r["data_dir"]), batch, extra_env)
    for run in rags:
        shutil.rmtree(run["data_dir"], ignore_errors=True)
    t = r["timings"]
    print(
        f"rag ingest : {r['wall']:7.1f} s wall  {r['pages']:5d} pages {r['chunks']:6d} chunks  "
        f"{r['pages'] / r['wall']:6.1f} pages/s {r['chunks'] / r['wall']:6.1f} chunks/s  (failed: {len(r['failed'])})"
    )
    print("  split    : " + "  ".join(f"{k} {v:.1f}s" for k, v in t.items()) + f"  (pipeline {r['seconds']:.1f}s)")
    print(
        f"naive      : {nv['seconds']:7.1f} s wall  {nv['pages']:5d} pages {nv['chunks']:6d} chunks  "
        f"{nv['pages'] / nv['seconds']:6.1f} pages/s {nv['chunks'] / nv['seconds']:6.1f} chunks/s  (model load {nv['load_s']:.1f}s)"
    )
    print(
        f"ceiling    : {ceil['seconds']:7.1f} s embed {ceil['chunks']:6d} chunks  "
        f"{ceil['chunks'] / ceil['seconds']:6.1f} chunks/s  ({ceil['dtype']}, as rag ingest runs it)"
    )
    # The documents are searchable once committed and indexed; the sentence vectors stored
    # after that (RAG_SENTENCE_VECTORS=ingest) speed up answers, which naive has no part of.
    after = r["seconds"] - r.get("searchable_seconds", r["seconds"])
    searchable = r["wall"] - after
    if r.get("sentence_vectors"):
        print(
            f"  searchable after {searchable:.1f} s; then {r['sentence_vectors']:,} sentence vectors in {after:.1f} s"
        )
    print(f"RATIO rag searchable / naive wall  = {searchable / nv['seconds']:.2f}  (target <= 0.75)")
    print(f"RATIO rag wall / naive wall        = {r['wall'] / nv['seconds']:.2f}  (with the sentence vectors)")
    print(
        f"RATIO rag chunks/s / ceiling       = {(r['chunks'] / r['wall']) / (ceil['chunks'] / ceil['seconds']):.2f}  (wall, incl. start-up)"
    )
    if t.get("embed"):
        print(f"RATIO rag embed phase / ceiling    = {ceil['seconds'] / t['embed']:.2f}  (embedding speed inside rag)")
    print("# json " + json.dumps({"corpus": str(folder), "rag": r, "naive": nv, "ceiling": ceil}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", action="append", help="folder to ingest (default: ../shared/corpus)")
    p.add_argument("--generated-pages", type=int, default=0, help="also ingest a generated corpus of N pages")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--batch", type=int, default=64, help="embedding batch size for naive and ceiling")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the rag run (e.g. RAG_WORKERS=1)")
    p.add_argument("--naive", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--ceiling", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.naive:
        print(json.dumps(naive(args.naive)))
        return
    if args.ceiling:
        print(json.dumps(ceiling(args.ceiling, args.batch)))
        return
    print_machine()
    extra_env = dict(kv.split("=", 1) for kv in args.env)
    folders = [Path(c) for c in args.corpus] if args.corpus else [CORPUS]
    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
        if args.generated_pages:
            t = time.perf_counter()
            folders.append(generate_corpus(Path(tmp) / "generated", args.generated_pages))
            print(f"# generated {args.generated_pages} pages in {time.perf_counter() - t:.1f} s")
        for folder in folders:
            bench(folder, args.repeat, args.batch, extra_env)


if __name__ == "__main__":
    main()
