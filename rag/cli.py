"""The ``rag`` command: ingest, search, ask, eval, serve and housekeeping."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from rag.errors import RAGError

logger = logging.getLogger(__name__)


def _settings(args: argparse.Namespace):
    from rag.settings import Settings

    overrides = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    if getattr(args, "k", None):
        overrides["top_k"] = args.k
    if getattr(args, "port", None):
        overrides["port"] = args.port
    if getattr(args, "mode", None):
        overrides["retrieval_mode"] = args.mode
    if getattr(args, "ray", None):
        overrides["ray_address"] = args.ray
    return Settings.from_env(**overrides)


def _engine(args: argparse.Namespace):
    from rag.engine import RAG

    return RAG(_settings(args))


def _collections(args) -> list[str] | None:
    return list(args.collection) if getattr(args, "collection", None) else None


def _inputs(text: str | None) -> Sequence[str]:
    if text:
        return [text]
    return (line.strip() for line in sys.stdin if line.strip())


class _Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.reported: set[int] = set()

    def __call__(self, done: int, total: int, result) -> None:
        if result.status == "failed":
            self.fail(result)
        for w in getattr(result, "warnings", []):
            self._clear()
            print(f"warning: {result.name}: {w}", file=sys.stderr)
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / max(total, 1))
        name = result.name if len(result.name) <= 40 else "…" + result.name[-39:]
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {time.perf_counter() - self.t0:5.1f}s {name:<40}"
        )
        sys.stderr.flush()
        if done == total:
            sys.stderr.write("\n")

    def fail(self, result) -> None:
        """One line on stderr naming the file and the reason (once per result)."""
        if id(result) in self.reported:
            return
        self.reported.add(id(result))
        self._clear()
        print(f"failed: {result.name}: {result.reason}", file=sys.stderr)

    def _clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 100 + "\r")


def cmd_ingest(args) -> int:
    if args.ray and args.ray != "local" and Path(args.ray).exists() and "://" not in args.ray:
        # "rag ingest --ray docs/": the folder, not an address, followed the flag.
        args.paths, args.ray = [args.ray, *args.paths], "local"
    if args.watch is not None:
        return _watch(args)
    if not args.paths:
        print("rag ingest: error: give at least one file or folder to ingest", file=sys.stderr)
        return 2
    rag = _engine(args)
    progress = _Progress(sys.stderr.isatty() or os.environ.get("RAG_PROGRESS") == "1")
    report = rag.ingest_paths(
        args.paths,
        args.collection or "default",
        progress,
        on_wait=lambda m: print(m, file=sys.stderr),
    )
    for r in report.failed:  # e.g. a path that does not exist never reaches the progress bar
        progress.fail(r)
    if args.json:
        print(
            json.dumps(
                {
                    "added": report.count("added"),
                    "replaced": report.count("replaced"),
                    "unchanged": report.count("unchanged"),
                    "failed": [{"file": r.name, "reason": r.reason} for r in report.failed],
                    "pages": sum(r.pages for r in report.results if r.status in ("added", "replaced")),
                    "chunks": sum(r.chunks for r in report.results if r.status in ("added", "replaced")),
                    "seconds": round(report.seconds, 3),
                    "searchable_seconds": round(report.searchable_seconds, 3),
                    "sentence_vectors": report.sentences,
                    "timings": {k: round(v, 3) for k, v in report.timings.items()},
                }
            )
        )
    print(report.summary(), file=sys.stderr)
    if not report.results:
        from ingest.loaders import SUPPORTED_SUFFIXES

        kinds = ", ".join(sorted(x[1:] for x in SUPPORTED_SUFFIXES))
        print(f"no files to ingest found (supported: {kinds})", file=sys.stderr)
        return 1
    return 1 if report.failed else 0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _print_change(r) -> None:
    """One line on stderr per change a folder sync applied, as ``rag ingest`` words it."""
    if r.status == "failed":
        print(f"failed: {r.name}: {r.reason}", file=sys.stderr, flush=True)
    elif r.status == "removed":
        print(f"removed {r.name} (its file is gone)", file=sys.stderr, flush=True)
    else:
        print(f"{r.status} {r.name}: {_plural(r.pages, 'page')}, {_plural(r.chunks, 'chunk')}", file=sys.stderr)
    for w in r.warnings:
        print(f"warning: {r.name}: {w}", file=sys.stderr)
    sys.stderr.flush()


def _watch(args) -> int:
    """``rag ingest --watch DIR``: one full sync, then every change, until Ctrl-C (exit 0)."""
    if args.paths or args.json:
        print("rag ingest: error: --watch DIR takes no other paths and no --json", file=sys.stderr)
        return 2
    folder = Path(args.watch)
    if not folder.is_dir():
        print(f"rag ingest: error: --watch needs a folder; {args.watch} is not one", file=sys.stderr)
        return 2
    from ingest.watch import FolderSync

    rag = _engine(args)
    sync = FolderSync(rag, folder, args.collection or "default", _print_change, lambda m: print(m, file=sys.stderr))
    synced = False

    def on_synced(report) -> None:
        nonlocal synced
        if not synced:
            synced = True
            print(report.summary(), file=sys.stderr)
            print(f"watching {folder} for changes (Ctrl-C to stop)", file=sys.stderr, flush=True)

    try:
        sync.watch(on_synced)
    except KeyboardInterrupt:
        print(f"stopped watching {folder}", file=sys.stderr)
    return 0


def cmd_search(args) -> int:
    rag = _engine(args)
    for query in _inputs(args.query):
        hits = rag.search(query, args.k, _collections(args))
        rag.store.fill_locations(hits)
        if args.json:
            print(json.dumps({"query": query, "hits": [h.to_json() for h in hits]}), flush=True)
        else:
            print(f"# {query}")
            if not hits:
                print("  (no results)")
            for h in hits:
                text = " ".join(h.text.split())
                where = f"p.{h.page}" if h.location == f"page {h.page}" else h.location
                print(f"{h.rank:2}. {h.doc} {where}  ({h.score:.3f})\n    {text[:240]}")
            sys.stdout.flush()
    return 0


def _requests(lines: Iterable[str]) -> Iterator[tuple[int, str, list[dict[str, str]], str]]:
    """(line number, question, history, error) for each input line.

    A line is a question, or a JSON object ``{"question": "...", "history": [{"role":
    "user" | "assistant", "content": "..."}, ...]}`` asked in that conversation. A bad
    object gets an error for its line; the lines after it are still asked."""
    from rag.evaluation import parse_history

    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        if not line.startswith("{"):
            yield n, line, [], ""
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield n, "", [], f"line {n}: not valid JSON ({e.msg} at column {e.colno})"
            continue
        question = obj.get("question") if isinstance(obj, dict) else None
        if not isinstance(question, str) or not question.strip():
            yield n, "", [], f"line {n}: a JSON line needs a non-empty string 'question'"
            continue
        try:
            history = parse_history(obj.get("history", []))
        except RAGError as e:
            yield n, question, [], f"line {n}: {e}"
            continue
        yield n, question.strip(), history, ""


def cmd_ask(args) -> int:
    rag = _engine(args)
    failed = 0
    for n, question, history, error in _requests([args.question] if args.question else sys.stdin):
        if error:
            failed += 1
            if args.json:
                print(json.dumps({"line": n, "error": error}), flush=True)
            else:
                print(f"rag ask: {error}", file=sys.stderr, flush=True)
            continue
        if args.json:
            answer = rag.ask(question, history, collections=_collections(args))
            rag.store.fill_locations([*answer.citations, *answer.sources])
            print(json.dumps(answer.to_json()), flush=True)
            continue
        answer = None
        for ev in rag.ask_stream(question, history, collections=_collections(args)):
            if ev.kind == "token" and not args.quiet_stream:
                pass
            if ev.kind == "done":
                answer = ev.value
        assert answer is not None
        rag.store.fill_locations(answer.citations)
        print(answer.answer)
        if answer.unsure:
            print("  (the closest passage: it may not answer the question)")
        for c in answer.citations:
            print(f'  [{c.n}] {c.doc}, {c.location}: "{" ".join(c.quote.split())[:200]}"')
        unsupported = [c.text for c in answer.claims if not c.supported and not answer.abstained]
        for text in unsupported:
            print(f"  (unsupported: {text})")
        sys.stdout.flush()
    return 1 if failed else 0


def cmd_eval(args) -> int:
    from rag.evaluation import format_report, load_qa, run_eval

    rag = _engine(args)
    questions = load_qa(Path(args.qa))
    report = run_eval(rag, questions, k=args.k or 10, generate=not args.no_generate)
    if args.json:
        print(json.dumps(report, indent=None))
    else:
        print(format_report(report))
    return 0


def cmd_serve(args) -> int:
    import subprocess

    settings = _settings(args)
    app = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    env = dict(os.environ, RAG_DATA_DIR=str(settings.data_dir.resolve()))
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(settings.port),
        "--server.address",
        args.host or settings.host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        # No "Deploy" button or developer menu from the first page load, whatever the working
        # directory (a .streamlit/config.toml is only read from it; st.set_option in the app
        # takes effect only after a rerun).
        "--client.toolbarMode",
        "viewer",
        "--client.showErrorDetails",
        "type",
        "--server.maxUploadSize",
        str(int(settings.max_file_mb)),
    ]
    print(
        f"serving on http://{args.host or settings.host}:{settings.port} (data: {settings.data_dir})", file=sys.stderr
    )
    return subprocess.call(cmd, env=env)


def cmd_api(args) -> int:
    from rag.api import serve

    settings = _settings(args)
    host, port = args.host or settings.host, args.port or settings.api_port
    print(f"API on http://{host}:{port}/v1 (data: {settings.data_dir})", file=sys.stderr, flush=True)
    return serve(settings, host, port)


def cmd_list(args) -> int:
    from rag.settings import Settings
    from rag.store import Store

    store = Store(Settings.from_env(**({"data_dir": Path(args.data_dir)} if args.data_dir else {})).data_dir)
    docs = store.documents(_collections(args))
    if args.json:
        print(json.dumps([d.__dict__ for d in docs]))
        return 0
    for d in docs:
        print(f"{d.id:5}  {d.collection:<12} {d.name:<50} {d.n_pages:5} pages {d.n_chunks:6} chunks")
    return 0


def cmd_delete(args) -> int:
    rag = _engine(args)
    doc = rag.store.find_document(args.name, args.collection or "default")
    if doc is None:
        print(f"no document named '{args.name}' in collection '{args.collection or 'default'}'", file=sys.stderr)
        return 1
    rag.delete_document(doc.id)
    print(f"deleted {doc.name}", file=sys.stderr)
    return 0


def cmd_reindex(args) -> int:
    rag = _engine(args)
    n = rag.reindex(lambda i, total, name: print(f"{i}/{total} {name}", file=sys.stderr))
    print(f"re-indexed {n} documents with {rag.embedder.name}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag", description="Ask questions about your documents, with page citations.")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, k: bool = False, collection: bool = False):
        sp.add_argument("--data-dir", help="data directory (default: $RAG_DATA_DIR or ./data)")
        if k:
            sp.add_argument("-k", type=int, default=None, help="number of passages")
        if collection:
            sp.add_argument("--collection", action="append", help="restrict to this collection (repeatable)")
        return sp

    sp = common(sub.add_parser("ingest", help="add files or folders to the index"))
    sp.add_argument("paths", nargs="*")
    sp.add_argument("--collection", default=None, help="collection to add the documents to (default: default)")
    sp.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    sp.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="parse and embed on Ray: a local instance, or the cluster at ADDRESS (RAG_RAY_ADDRESS)",
    )
    sp.add_argument(
        "--watch",
        metavar="DIR",
        default=None,
        help="keep the folder DIR in step until Ctrl-C: ingest its new and changed files, remove the documents of deleted ones",
    )
    sp.set_defaults(func=cmd_ingest)

    sp = common(sub.add_parser("search", help="search passages (no language model)"), k=True, collection=True)
    sp.add_argument("query", nargs="?")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default=None)
    sp.set_defaults(func=cmd_search)

    sp = common(sub.add_parser("ask", help="answer a question with citations"), k=True, collection=True)
    sp.add_argument("question", nargs="?")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_ask, quiet_stream=True)

    sp = common(sub.add_parser("eval", help="measure retrieval and answers on a question file"), k=True)
    sp.add_argument("--qa", required=True, help="JSONL question file")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--no-generate", action="store_true", help="measure retrieval only")
    sp.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default=None)
    sp.set_defaults(func=cmd_eval)

    sp = common(sub.add_parser("serve", help="run the web app"))
    sp.add_argument("--port", type=int, default=None)
    sp.add_argument("--host", default=None)
    sp.set_defaults(func=cmd_serve)

    sp = common(sub.add_parser("api", help="run the HTTP API (OpenAI-compatible chat completions with citations)"))
    sp.add_argument("--port", type=int, default=None, help="default: $RAG_API_PORT or 8601")
    sp.add_argument("--host", default=None)
    sp.set_defaults(func=cmd_api)

    sp = common(sub.add_parser("list", help="list documents"), collection=True)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_list)

    sp = common(sub.add_parser("delete", help="delete a document"))
    sp.add_argument("name")
    sp.add_argument("--collection", default=None)
    sp.set_defaults(func=cmd_delete)

    sp = common(sub.add_parser("reindex", help="re-embed every document (after changing the embedding model)"))
    sp.set_defaults(func=cmd_reindex)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("transformers", "sentence_transformers", "httpx", "urllib3", "faiss"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    if all(os.environ.get(v, "bundled") in ("", "bundled") for v in ("RAG_EMBED_MODEL", "RAG_LLM_MODEL")):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the bundled models never need the network
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # OpenMP threads (torch, faiss) sleep instead of spinning while they wait: with parser
    # processes or other programs on the cores, spinning made embedding ~2x slower
    # (docs/benchmarks.md). Must be set before torch loads; `rag serve` passes it on.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if args.command in ("ingest", "search", "ask", "eval", "reindex"):
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # keep stderr to our own progress and messages
        except ImportError:  # pragma: no cover
            pass
    try:
        return int(args.func(args) or 0)
    except RAGError as e:
        print(f"rag: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rag: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
