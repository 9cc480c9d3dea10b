"""Peers side by side: LlamaIndex, LangChain and this project on the same corpus and questions.

Each system runs its *default* pipeline with the same bundled all-MiniLM-L6-v2 model, offline:

1. LlamaIndex: SimpleDirectoryReader + SentenceSplitter (defaults) + in-memory VectorStoreIndex,
   retriever ``similarity_top_k=10``.
2. LangChain: PyPDFLoader / TextLoader + RecursiveCharacterTextSplitter(1000, 200) + FAISS,
   ``similarity_search(k=10)``.
3. This project: ``RAG.ingest_paths`` into a temporary data dir, then ``RAG.search(q, k=10)`` (defaults).

Figures: ingest time (files to searchable index, the embedding model already loaded and warmed), page-level
Recall@1/5/10 and MRR@10 (``rag.evaluation``: a hit is a passage from the gold file and a gold page;
unanswerable questions excluded) and the median search time. Prints one table with versions and ratios.

The peers live in their own virtual environment (see docs/peers.md)::

    python3 -m venv bench/.venv-peers
    bench/.venv-peers/bin/pip install --no-deps -r bench/peers-requirements.txt
    bench/.venv-peers/bin/pip install -e .
    bench/.venv-peers/bin/python bench/peers.py [--corpus ../shared/corpus] [--qa eval/corpus.jsonl]

Benchmarks print figures; they never assert.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CORPUS, ROOT, pct, print_machine  # noqa: E402

from rag.evaluation import QA, first_relevant_rank, load_qa, retrieval_metrics  # noqa: E402
from rag.types import Hit  # noqa: E402

logger = logging.getLogger(__name__)

K = 10
VERSIONS = (
    "llama-index-core",
    "llama-index-readers-file",
    "llama-index-embeddings-huggingface",
    "langchain",
    "langchain-community",
    "langchain-text-splitters",
    "langchain-huggingface",
    "sentence-transformers",
    "transformers",
    "torch",
    "faiss-cpu",
    "pypdf",
)

Search = Callable[[str], list[Hit]]


def files_of(corpus: Path) -> list[Path]:
    """The files this project would ingest from ``corpus`` (the same list goes to every system)."""
    from ingest.pipeline import discover

    sources, _ = discover([corpus])
    return [s.path for s in sources]


def versions() -> dict[str, str]:
    out = {}
    for name in VERSIONS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        out["rag (git)"] = commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        out["rag (git)"] = "-"
    return out


# -- LlamaIndex ---------------------------------------------------------------------------------
def llamaindex(files: list[Path], model_dir: Path) -> tuple[Search, dict]:
    """SimpleDirectoryReader + SentenceSplitter() + VectorStoreIndex, all defaults."""
    from llama_index.core import Settings as LISettings
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    t = time.perf_counter()
    embed = HuggingFaceEmbedding(model_name=str(model_dir))
    embed.get_query_embedding("warm up")
    load_s = time.perf_counter() - t
    LISettings.embed_model = embed
    LISettings.llm = None

    t = time.perf_counter()
    docs = SimpleDirectoryReader(input_files=[str(f) for f in files]).load_data()
    # The PDF reader gives one Document per page, in page order; its ``page_label`` is the PDF's
    # logical label (roman numerals, offsets), so the physical page is the Document's position in its file.
    physical: dict[str, int] = {}
    seen: dict[str, int] = {}
    for d in docs:
        name = d.metadata.get("file_name", "")
        seen[name] = seen.get(name, 0) + 1
        physical[d.id_] = seen[name] if name.lower().endswith(".pdf") else 1
    splitter = SentenceSplitter()
    index = VectorStoreIndex.from_documents(docs, transformations=[splitter])
    ingest_s = time.perf_counter() - t
    n_chunks = len(index.docstore.docs)
    retriever = index.as_retriever(similarity_top_k=K)

    labels_differ = sum(1 for d in docs if d.metadata.get("page_label") not in (None, str(physical[d.id_])))

    def search(q: str) -> list[Hit]:
        out = []
        for i, r in enumerate(retriever.retrieve(q), 1):
            node = r.node
            doc_id = node.ref_doc_id or ""
            out.append(
                Hit(
                    0,
                    node.metadata.get("file_name", ""),
                    physical.get(doc_id, 0),
                    node.get_content(),
                    float(r.score or 0.0),
                    i,
                )
            )
        return out

    info = {
        "model_load_s": load_s,
        "ingest_s": ingest_s,
        "chunks": n_chunks,
        "documents": len(docs),
        "page_labels_not_physical": labels_differ,
    }
    return search, info


# -- LangChain ----------------------------------------------------------------------------------
def langchain(files: list[Path], model_dir: Path) -> tuple[Search, dict]:
    """PyPDFLoader / TextLoader + RecursiveCharacterTextSplitter(1000, 200) + FAISS."""
    from langchain_community.document_loaders import PyPDFLoader, TextLoader
    from langchain_community.vectorstores import FAISS
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    t = time.perf_counter()
    embed = HuggingFaceEmbeddings(model_name=str(model_dir))
    embed.embed_query("warm up")
    load_s = time.perf_counter() - t

    t = time.perf_counter()
    docs = []
    for f in files:
        loader = PyPDFLoader(str(f)) if f.suffix.lower() == ".pdf" else TextLoader(str(f), encoding="utf-8")
        docs.extend(loader.load())
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    chunks = splitter.split_documents(docs)
    store = FAISS.from_documents(chunks, embed)
    ingest_s = time.perf_counter() - t

    def search(q: str) -> list[Hit]:
        out = []
        for i, (d, dist) in enumerate(store.similarity_search_with_score(q, k=K), 1):
            page = d.metadata.get("page")  # PyPDFLoader: 0-based physical page; TextLoader: none
            out.append(
                Hit(
                    0,
                    Path(d.metadata.get("source", "")).name,
                    int(page) + 1 if page is not None else 1,
                    d.page_content,
                    -float(dist),
                    i,
                )
            )
        return out

    return search, {"model_load_s": load_s, "ingest_s": ingest_s, "chunks": len(chunks), "documents": len(docs)}


# -- this project -------------------------------------------------------------------------------
def ours(files: list[Path], data_dir: Path) -> tuple[Search, dict]:
    """``RAG.ingest_paths`` then ``RAG.search(q, k=10)`` with default settings."""
    from rag.engine import RAG
    from rag.settings import Settings

    rag = RAG(Settings(data_dir=data_dir))
    t = time.perf_counter()
    rag.warm_up(generator=False)
    load_s = time.perf_counter() - t

    t = time.perf_counter()
    report = rag.ingest_paths(files)
    ingest_s = time.perf_counter() - t
    failed = [r for r in report.results if getattr(r, "status", "") == "failed"]
    if failed:
        print(f"# ours: {len(failed)} file(s) failed: {failed}", file=sys.stderr)
    n_chunks = rag.store.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def search(q: str) -> list[Hit]:
        return rag.search(q, k=K)

    return search, {"model_load_s": load_s, "ingest_s": ingest_s, "chunks": n_chunks, "documents": len(files)}


# -- measuring ----------------------------------------------------------------------------------
def measure(search: Search, qas: list[QA]) -> dict:
    """Page-level retrieval metrics over the answerable questions, and search latency."""
    search(qas[0].question)  # warm caches; not timed
    ranks, doc_ranks, times = [], [], []
    misses = []
    for qa in qas:
        t = time.perf_counter()
        hits = search(qa.question)[:K]
        times.append(time.perf_counter() - t)
        rank = first_relevant_rank(hits, qa)
        ranks.append(rank)
        doc_ranks.append(next((i for i, h in enumerate(hits, 1) if Path(h.doc).name == Path(qa.doc or "").name), None))
        if rank is None or rank > 5:
            misses.append({"line": qa.line, "gold": [qa.doc, qa.pages], "top5": [(h.doc, h.page) for h in hits[:5]]})
    out = retrieval_metrics(ranks, doc_ranks)
    out["search_p50_ms"] = pct(times, 50) * 1000
    out["misses@5"] = misses
    return out


def table(results: dict[str, dict], n_questions: int) -> str:
    rows = [
        ("ingest_s", "ingest time (s)", "{:.1f}"),
        ("chunks", "chunks", "{:d}"),
        ("recall@1", "Recall@1", "{:.3f}"),
        ("recall@5", "Recall@5", "{:.3f}"),
        ("recall@10", "Recall@10", "{:.3f}"),
        ("mrr@10", "MRR@10", "{:.3f}"),
        ("doc_recall@5", "doc Recall@5", "{:.3f}"),
        ("search_p50_ms", "search p50 (ms)", "{:.1f}"),
        ("model_load_s", "model load (s)", "{:.1f}"),
    ]
    names = list(results)
    lines = [
        f"answerable questions: {n_questions}, k={K}",
        "",
        "| metric | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for key, label, fmt in rows:
        cells = [fmt.format(results[n][key]) if key in results[n] else "-" for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if "rag" in results:
        lines += [
            "",
            "ratios (rag / peer):",
            "",
            "| metric | " + " | ".join(n for n in names if n != "rag") + " |",
            "|---|" + "---:|" * (len(names) - 1),
        ]
        for key, label in (("recall@5", "Recall@5"), ("mrr@10", "MRR@10"), ("ingest_s", "ingest time")):
            cells = []
            for n in names:
                if n == "rag":
                    continue
                peer = results[n].get(key)
                cells.append(f"{results['rag'][key] / peer:.2f}x" if peer else "-")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=CORPUS)
    p.add_argument("--qa", type=Path, default=ROOT / "eval" / "corpus.jsonl")
    p.add_argument("--systems", default="llamaindex,langchain,rag", help="comma-separated subset, in run order")
    p.add_argument("--json", type=Path, help="also write the full results (misses included) here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from rag.models import bundled_embedding_dir

    model_dir = bundled_embedding_dir()
    files = files_of(args.corpus)
    qas = [q for q in load_qa(args.qa) if q.answerable]
    print_machine()
    vers = versions()
    print("# versions: " + json.dumps(vers))
    print(f"# corpus: {args.corpus} ({len(files)} files: {', '.join(f.name for f in files)})")
    print(f"# questions: {args.qa} ({len(qas)} answerable); embedding model: {model_dir}")

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="rag-peers-") as tmp:
        for name in args.systems.split(","):
            print(f"# running {name} ...", flush=True)
            if name == "llamaindex":
                search, info = llamaindex(files, model_dir)
            elif name == "langchain":
                search, info = langchain(files, model_dir)
            elif name == "rag":
                search, info = ours(files, Path(tmp) / "data")
            else:
                p.error(f"unknown system {name!r}")
            info.update(measure(search, qas))
            results[name] = info
            print(f"# {name}: " + json.dumps({k: v for k, v in info.items() if k != "misses@5"}), flush=True)
            del search
            gc.collect()

    print()
    print(table(results, len(qas)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"versions": vers, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
