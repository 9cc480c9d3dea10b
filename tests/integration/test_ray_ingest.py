"""`rag ingest --ray` on a real local Ray instance with the bundled embedding model: the
same documents, chunks and answers as a single-process ingest, a broken file reported by
name without losing the others, and a second run that finds everything already stored."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

import pytest

from tests.conftest import SAMPLE_DOCS
from tests.integration.test_api_server import RAG_BIN, _env

pytestmark = pytest.mark.integration


def _ingest(data, folder, *extra: str) -> tuple[int, dict, str]:
    r = subprocess.run(
        [str(RAG_BIN), "ingest", "--json", *extra, str(folder)],
        env=_env(data),
        capture_output=True,
        text=True,
        timeout=900,
    )
    return r.returncode, json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def _chunks(data) -> dict[str, int]:
    db = sqlite3.connect(data / "rag.sqlite3")
    try:
        rows = db.execute(
            "SELECT d.name, COUNT(k.id) FROM documents d JOIN chunks k ON k.doc_id=d.id GROUP BY d.name"
        ).fetchall()
    finally:
        db.close()
    return dict(rows)


def test_ray_ingestion_stores_what_a_single_process_stores(tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE_DOCS, docs, ignore=shutil.ignore_patterns("*.py"))
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n")  # no pages, no %%EOF

    code, plain, err = _ingest(tmp_path / "plain", docs)
    assert code == 1, err  # the broken file fails
    code, ray, err = _ingest(tmp_path / "ray", docs, "--ray")
    assert code == 1, err
    assert [f["file"] for f in ray["failed"]] == ["broken.pdf"] and ray["failed"][0]["reason"]
    assert ray["failed"] == plain["failed"]
    assert ray["added"] == plain["added"] == 4
    assert _chunks(tmp_path / "ray") == _chunks(tmp_path / "plain")

    code, again, err = _ingest(tmp_path / "ray", docs, "--ray")
    assert again["unchanged"] == 4 and again["added"] == 0, err

    r = subprocess.run(
        [str(RAG_BIN), "search", "--json", "How many days of paid annual leave do full-time employees get?"],
        env=_env(tmp_path / "ray"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["hits"][0]["doc"] == "acme-handbook.pdf"
