"""Ingestion throughput: `rag ingest` against the naive pipeline and the embedding ceiling.

Usage::

    .venv/bin/python bench/ingest.py                        # ../shared/corpus (~3 min)
    .venv/bin/python bench/ingest.py --generated-pages 2000  # plus a generated corpus
    .venv/bin/python bench/ingest.py --corpus DIR --repeat 2
    .venv/bin/python bench/ingest.py --backends torch,openvino   # RAG_EMBED_BACKEND values

For each corpus, in the same run and each in a fresh process (imports and model
loading included, as a user would wait for them):

* ``rag``: ``rag ingest DIR --json`` once per embedding backend (``--backends``, default
  torch and every exported backend that is installed), each into a fresh data directory
  whose ``models/`` already holds that backend's export (made once before the timed runs,
  its time printed apart: a data directory pays it once); pages/s, chunks/s; extract /
  chunk / embed / store split from the report's timings;
* ``naive``: pypdf text -> fixed character windows -> the same model with plain
  sentence-transformers defaults (float32, batch 32), one process, one ``encode`` call
  per document;
* ``ceiling``: the chunk texts `rag ingest` stored, embedded alone in one call with the
  same embedder as `rag ingest` configures it (backend, dtype, batch size): no parsing,
  chunking or storing.

Printed ratios, per backend: rag searchable / naive wall (target <= 0.75: the documents
committed and indexed, before the sentence vectors that speed up answers are stored), rag
wall / naive wall (with them), and rag chunks/s / ceiling.
With ``--repeat N`` the naive run and the rag runs alternate N times and the best of each is kept.
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


def ceiling(data_dir: Path, env_batch: int, backend: str, models: str) -> dict:
    """Embed the stored chunk texts alone (one call), as fast as the model goes."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the rag CLI sets it, before torch loads
    texts = [r[0] for r in sqlite3.connect(data_dir / "rag.sqlite3").execute("SELECT text FROM chunks ORDER BY id")]
    from rag.embedders import make_embedder
    from rag.settings import Settings

    # As `rag ingest` configures it; the export is read from the warm cache.
    emb = make_embedder(Settings(data_dir=Path(models), embed_backend=backend, embed_batch_size=env_batch))
    emb.embed_query("load")
    t = time.perf_counter()
    emb.embed_passages(texts)
    model = getattr(emb, "model", None) if backend == "torch" else None
    dtype = str(next(model.parameters()).dtype).replace("torch.", "") if model is not None else backend
    return {"seconds": time.perf_counter() - t, "chunks": len(texts), "dtype": dtype}


def export(data_dir: Path, backend: str) -> dict:
    """Export the model for ``backend`` into ``data_dir/models`` (what a data directory does once)."""
    t = time.perf_counter()
    from rag.embedders import make_embedder
    from rag.settings import Settings

    emb = make_embedder(Settings(data_dir=data_dir, embed_backend=backend))
    emb.embed_query("load")
    return {"seconds": time.perf_counter() - t, "name": emb.name}


# -- the driver -----------------------------------------------------------------------------
def child(mode: str, target: Path, batch: int, extra_env: dict | None = None, args: tuple = ()) -> dict:
    out = subprocess.run(
        [PY, __file__, f"--{mode}", str(target), "--batch", str(batch), *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=dict(os.environ, **(extra_env or {})),
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def rag_ingest(folder: Path, extra_env: dict, backend: str, models: Path) -> dict:
    data = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    if (models / "models").is_dir():  # the export this data directory would have made once
        shutil.copytree(models / "models", data / "models")
    env = dict(os.environ, RAG_DATA_DIR=str(data), RAG_EMBED_BACKEND=backend, **extra_env)
    t = time.perf_counter()
    out = subprocess.run([RAG, "ingest", str(folder), "--json"], capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t
    if out.returncode not in (0, 1):
        raise SystemExit(f"rag ingest failed:\n{out.stderr}")
    report = json.loads(out.stdout.strip().splitlines()[-1])
    report.update(wall=wall, data_dir=str(data))
    return report


def bench(folder: Path, repeat: int, batch: int, extra_env: dict, backends: list[str], models: dict) -> None:
    print(f"\n## corpus {folder}")
    rags: dict[str, list[dict]] = {b: [] for b in backends}
    naives = []
    for i in range(repeat):
        naives.append(child("naive", folder, batch))
        order = backends if i % 2 == 0 else backends[::-1]
        for b in order:
            rags[b].append(rag_ingest(folder, extra_env, b, models[b]))
        print(
            f"  run: naive {naives[-1]['seconds']:.1f} s, "
            + ", ".join(f"rag[{b}] {rags[b][-1]['wall']:.1f} s" for b in backends),
            flush=True,
        )
    nv = min(naives, key=lambda x: x["seconds"])
    print(
        f"naive      : {nv['seconds']:7.1f} s wall  {nv['pages']:5d} pages {nv['chunks']:6d} chunks  "
        f"{nv['pages'] / nv['seconds']:6.1f} pages/s {nv['chunks'] / nv['seconds']:6.1f} chunks/s  (model load {nv['load_s']:.1f}s)"
    )
    summary = {}
    for b in backends:
        r = min(rags[b], key=lambda x: x["wall"])
        ceil = child("ceiling", Path(r["data_dir"]), batch, extra_env, ("--backend", b, "--models", str(models[b])))
        for run in rags[b]:
            shutil.rmtree(run["data_dir"], ignore_errors=True)
        t = r["timings"]
        print(f"### RAG_EMBED_BACKEND={b}")
        print(
            f"rag ingest : {r['wall']:7.1f} s wall  {r['pages']:5d} pages {r['chunks']:6d} chunks  "
            f"{r['pages'] / r['wall']:6.1f} pages/s {r['chunks'] / r['wall']:6.1f} chunks/s  (failed: {len(r['failed'])})"
        )
        print("  split    : " + "  ".join(f"{k} {v:.1f}s" for k, v in t.items()) + f"  (pipeline {r['seconds']:.1f}s)")
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
        print(f"RATIO [{b}] rag searchable / naive wall  = {searchable / nv['seconds']:.2f}  (target <= 0.75)")
        print(
            f"RATIO [{b}] rag wall / naive wall        = {r['wall'] / nv['seconds']:.2f}  (with the sentence vectors)"
        )
        print(
            f"RATIO [{b}] rag chunks/s / ceiling       = {(r['chunks'] / r['wall']) / (ceil['chunks'] / ceil['seconds']):.2f}  (wall, incl. start-up)"
        )
        if t.get("embed"):
            print(
                f"RATIO [{b}] rag embed phase / ceiling    = {ceil['seconds'] / t['embed']:.2f}  (embedding speed inside rag)"
            )
        summary[b] = {"rag": r, "ceiling": ceil, "searchable": searchable}
    print("# json " + json.dumps({"corpus": str(folder), "naive": nv, "backends": summary}))


def installed_backends() -> list[str]:
    import importlib.util

    have = {"onnx": "onnxruntime", "onnx-int8": "onnxruntime", "openvino": "openvino"}
    return ["torch"] + [b for b, pkg in have.items() if importlib.util.find_spec(pkg) is not None]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", action="append", help="folder to ingest (default: ../shared/corpus)")
    p.add_argument("--generated-pages", type=int, default=0, help="also ingest a generated corpus of N pages")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--batch", type=int, default=64, help="embedding batch size for naive and ceiling")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the rag run (e.g. RAG_WORKERS=1)")
    p.add_argument("--backends", help="comma-separated RAG_EMBED_BACKEND values (default: torch + installed ones)")
    p.add_argument("--naive", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--ceiling", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--export", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--backend", default="torch", help=argparse.SUPPRESS)
    p.add_argument("--models", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.naive:
        print(json.dumps(naive(args.naive)))
        return
    if args.ceiling:
        print(json.dumps(ceiling(args.ceiling, args.batch, args.backend, args.models)))
        return
    if args.export:
        print(json.dumps(export(args.export, args.backend)))
        return
    print_machine()
    extra_env = dict(kv.split("=", 1) for kv in args.env)
    backends = args.backends.split(",") if args.backends else installed_backends()
    models: dict[str, Path] = {}
    warm = Path(tempfile.mkdtemp(prefix="bench-models-"))
    for b in backends:  # each backend's export, made once: a data directory pays it once
        models[b] = warm / b
        models[b].mkdir()
        if b != "torch":
            done = child("export", models[b], args.batch, extra_env, ("--backend", b))
            print(f"# export for {b}: {done['seconds']:.1f} s once (model '{done['name']}')")
    folders = [Path(c) for c in args.corpus] if args.corpus else [CORPUS]
    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
        if args.generated_pages:
            t = time.perf_counter()
            folders.append(generate_corpus(Path(tmp) / "generated", args.generated_pages))
            print(f"# generated {args.generated_pages} pages in {time.perf_counter() - t:.1f} s")
        for folder in folders:
            bench(folder, args.repeat, args.batch, extra_env, backends, models)
    shutil.rmtree(warm, ignore_errors=True)


if __name__ == "__main__":
    main()
