"""Adding files from the browser, shared by the Library and Ask pages.

Both pages hand the files to the same engine call (``RAG.ingest_sources``), so a bad file
gets the same one-line reason on either page and a batch never loses what it stored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from ingest.loaders import SUPPORTED_SUFFIXES
from ingest.pipeline import FileResult, IngestReport, Source
from rag.store import DEFAULT_COLLECTION
from ui import auth, render
from ui.state import Runtime

logger = logging.getLogger(__name__)

# What the uploaders accept: every format ingestion reads (ingest/loaders.py).
UPLOAD_TYPES = sorted(s.lstrip(".") for s in SUPPORTED_SUFFIXES)
FORMATS = "PDF, Word, PowerPoint, Excel/CSV, HTML, e-mail or mailbox, EPUB, image, text or Markdown"
SAMPLE_DOCS = Path(__file__).resolve().parent.parent / "sample_docs"
_ICON = {
    "added": ":green[:material/check_circle:]",
    "replaced": ":blue[:material/sync:]",
    "unchanged": ":gray[:material/radio_button_checked:]",
    "failed": ":red[:material/error:]",
}


def result_line(r: FileResult) -> str:
    """One Markdown line per file: its name, what happened and, for a failure, why."""
    if r.status == "failed":
        return f"{_ICON['failed']} {render.md_escape(r.name)} — failed: {render.md_escape(r.reason)}"
    extra = f" — {r.pages} pages, {r.chunks} chunks" if r.status in ("added", "replaced") else ""
    warn = f" ({render.md_escape('; '.join(r.warnings))})" if r.warnings else ""
    return f"{_ICON.get(r.status, '')} {render.md_escape(r.name)} — {r.status}{extra}{warn}"


def sources_from_uploads(files: Sequence) -> list[Source]:
    """Streamlit's uploaded files as ingestion sources (names as the user sees them)."""
    return [Source(name=f.name, data=f.getvalue()) for f in files]


def sample_sources(folder: Path = SAMPLE_DOCS) -> list[Source]:
    """The repository's sample documents (empty when the folder is not there)."""
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
    return [Source(name=p.name, path=p) for p in files]


def target_collection(rt: Runtime, preferred: Sequence[str] | None = None) -> str | None:
    """Where files added outside the Library page go: the first collection of ``preferred``
    (the page's scope) this session may upload to, else ``default``, else the first it may;
    None when it may upload nowhere."""
    names = auth.uploadable(rt)
    for name in preferred or ():
        if name in names:
            return name
    if DEFAULT_COLLECTION in names:
        return DEFAULT_COLLECTION
    return names[0] if names else None


def ingest(rt: Runtime, sources: list[Source], collection: str) -> IngestReport:
    """Ingest with a live status box: a progress bar and one line per file as it is done."""
    total = len(sources)
    with st.status(f"Adding {total} file{'s' if total > 1 else ''} to '{collection}'…", expanded=True) as box:
        bar = st.progress(0.0, text=f"0 of {total} files")

        def progress(done: int, total: int, r: FileResult) -> None:
            bar.progress(done / max(total, 1), text=f"{done} of {total} files — {render.short_name(r.name)}")
            st.markdown(result_line(r))

        # Searchable once committed; the sentence vectors that speed up answers follow in
        # the background rather than keeping the uploader waiting.
        report = rt.engine.ingest_sources(
            sources, collection, progress, on_wait=lambda msg: st.caption(render.md_escape(msg)), sentences=False
        )
        rt.engine.fill_sentence_vectors_in_background()
        box.update(
            label=f"Done: {report.summary()}",
            state="error" if report.failed and len(report.failed) == total else "complete",
            expanded=bool(report.failed),
        )
    return report


def summary_text(report: IngestReport) -> str:
    added = report.count("added") + report.count("replaced")
    return (
        f"{added} added ({report.count('replaced')} replaced), {report.count('unchanged')} unchanged, "
        f"{len(report.failed)} failed"
    )


def show_summary(report: IngestReport) -> None:
    """What a finished batch did: the counts, each failure with its reason, then the details."""
    (st.warning if report.failed else st.success)(summary_text(report), icon=":material/task_alt:")
    for r in report.failed:
        st.markdown(result_line(r))
    ok = [r for r in report.results if r.ok]
    if ok:
        with st.expander(f"Details ({len(ok)} file{'s' if len(ok) > 1 else ''})"):
            for r in ok:
                st.markdown(result_line(r))
