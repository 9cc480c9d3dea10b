"""Ingestion as a Ray Data pipeline (``rag ingest --ray [ADDRESS]``, ``RAG_RAY_ADDRESS``).

What changes against ingest/pipeline.py is only where the work runs: each file is parsed
by a Ray task, in the same isolated way (its own short-lived parser process with the same
memory and time limits, ingest/extract.py), on the cluster's CPU workers; its pages are
chunked and embedded by embedding actors (``RAG_RAY_EMBEDDERS`` of them, one GPU each when
the cluster has GPUs). The results come back to this process, which commits each document
whole, in its own transaction, to the configured store and index, as a single-machine run
does: a run stopped half-way keeps every document it committed, and the next run skips
them (same name, same bytes) and does the rest.

``local`` starts a Ray instance on this machine for the run; any other value is the address
of a running cluster (``ray://head:10001`` or ``auto``).
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from pathlib import Path

from ingest.extract import ExtractJob, extract_all
from ingest.loaders import LoadLimits
from ingest.pipeline import FileResult, Ingestor, Queued
from rag.errors import ConfigError, IngestError
from rag.settings import Settings

logger = logging.getLogger(__name__)


def _parse(row: dict, limits: LoadLimits, timeout_s: float) -> dict:
    """A Ray task: one file parsed in its own limited process; the outcome pickled."""
    job = ExtractJob(row["name"], Path(row["path"]))
    ((_, loaded),) = extract_all([job], limits, workers=1, timeout_s=timeout_s)
    if isinstance(loaded, IngestError):
        return {"i": row["i"], "error": loaded.reason, "loaded": b""}
    return {"i": row["i"], "error": "", "loaded": pickle.dumps(loaded)}


class _Embed:
    """A Ray actor holding the embedding model: chunks and embeds batches of parsed files."""

    def __init__(self, settings: Settings, threads: int) -> None:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch

        from rag.embedders import make_embedder

        torch.set_num_threads(max(1, threads))
        self.settings = settings
        self.embedder = make_embedder(settings)

    def __call__(self, batch: dict) -> dict:
        from ingest.chunking import chunk_pages

        emb, s = self.embedder, self.settings
        max_tokens = min(s.chunk_tokens, emb.max_tokens)
        overlap = min(s.chunk_overlap, max_tokens // 2)
        out: dict[str, list] = {"i": [], "error": [], "result": []}

        def put(i: int, error: str, result: bytes = b"") -> None:
            out["i"].append(i)
            out["error"].append(error)
            out["result"].append(result)

        parsed = []
        for i, error, blob in zip(batch["i"], batch["error"], batch["loaded"]):
            if error:
                put(i, error)
                continue
            loaded = pickle.loads(blob)
            chunks = chunk_pages(loaded.pages, emb, max_tokens, overlap)
            if not chunks:
                put(i, "no text to index")
                continue
            parsed.append((i, loaded, chunks))
        texts = [c.text for _, _, chunks in parsed for c in chunks]
        vectors = emb.embed_passages(texts) if texts else None
        start = 0
        for i, loaded, chunks in parsed:
            vecs = vectors[start : start + len(chunks)]
            start += len(chunks)
            put(i, "", pickle.dumps((loaded, chunks, vecs)))
        return out


class RayIngestor(Ingestor):
    """An :class:`Ingestor` whose parsing, chunking and embedding run on Ray."""

    def _process(self, jobs: list[ExtractJob], meta: list[Queued], collection: str, timings: dict, finish) -> None:
        if not jobs:
            return
        ray = _ray(self.settings)
        s = self.settings
        embedders = max(1, s.ray_embedders)
        gpus = ray.cluster_resources().get("GPU", 0)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        rows = [{"i": i, "name": job.name, "path": str(job.path)} for i, job in enumerate(jobs)]
        t = time.perf_counter()
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        ds = ds.map(_parse, fn_kwargs={"limits": self.limits, "timeout_s": s.file_timeout_s}, num_cpus=1)
        ds = ds.map_batches(
            _Embed,
            fn_constructor_kwargs={"settings": s, "threads": 1 if gpus else max(1, cpus // embedders)},
            compute=ray.data.ActorPoolStrategy(size=embedders),
            batch_size=8,
            num_gpus=1 if gpus >= embedders else 0,
            num_cpus=0 if gpus >= embedders else max(1, cpus // embedders),
        )
        for row in ds.iter_rows():
            timings["embed"] += time.perf_counter() - t  # parse, chunk and embed overlap on Ray
            queued = meta[int(row["i"])]
            if row["error"]:
                finish(FileResult(queued.name, "failed", row["error"]))
                self._drop_unused(queued.stored)
            else:
                loaded, chunks, vecs = pickle.loads(row["result"])
                self._store(queued, loaded, chunks, vecs, collection, timings, finish)
            t = time.perf_counter()


def _ray(settings: Settings):
    """Ray, connected to the configured cluster or to a local instance started for this process."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise ConfigError("rag ingest --ray needs Ray Data: pip install 'ray[data]'") from e
    if not ray.is_initialized():
        address = settings.ray_address
        kw = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
        try:
            if address == "local":
                os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # an instance for this run only
                ray.init(num_cpus=settings.workers or os.cpu_count() or 2, **kw)
            else:
                ray.init(address=address, **kw)
        except Exception as e:  # noqa: BLE001 - Ray raises several kinds when it cannot connect
            raise ConfigError(f"RAG_RAY_ADDRESS={address}: cannot start or reach Ray ({e})") from e
        ray.data.DataContext.get_current().enable_progress_bars = False
        for name in ("ray", "ray.data"):  # their progress lines; errors still show
            logging.getLogger(name).setLevel(logging.ERROR)
    return ray
