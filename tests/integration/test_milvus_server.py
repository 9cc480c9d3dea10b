"""Two `rag api` replicas on one served Milvus (Milvus Lite's gRPC server, the protocol a
Milvus cluster speaks): a document ingested or deleted by a third process is found, or no
longer found, by both replicas without a restart."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import SAMPLE_DOCS
from tests.integration.test_api_server import RAG_BIN, _env, _free_port

pytestmark = pytest.mark.integration

QUERY = "How many days of paid annual leave do full-time employees receive?"


def _wait_port(port: int, proc: subprocess.Popen, log: Path, what: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail(f"{what} did not start (exit {proc.poll()}):\n{log.read_text()[-2000:]}")
        time.sleep(0.3)


@pytest.fixture
def milvus_server(tmp_path):
    port = _free_port()
    log = tmp_path / "milvus.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "milvus-lite"), "server", "--data-dir", str(tmp_path / "milvus")]
            + ["--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _wait_port(port, proc, log, "milvus-lite server")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


def _rag(args: list[str], env: dict) -> subprocess.CompletedProcess:
    r = subprocess.run([str(RAG_BIN), *args], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def _docs(base: str) -> list[str]:
    r = httpx.post(f"{base}/v1/search", json={"query": QUERY, "k": 3}, timeout=120)
    r.raise_for_status()
    return [h["doc"] for h in r.json()["hits"]]


def test_two_replicas_see_each_others_ingests_and_deletes(tmp_path, milvus_server, model_cache_dir):
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(model_cache_dir / "models", target_is_directory=True)
    env = _env(data, RAG_VECTOR_STORE="milvus", RAG_MILVUS_URI=milvus_server)
    _rag(["ingest", str(SAMPLE_DOCS / "coffee-brewing.txt")], env)

    replicas, logs = [], []
    try:
        for i in range(2):
            port = _free_port()
            logs.append((tmp_path / f"api-{i}.log").open("w"))
            proc = subprocess.Popen(
                [str(RAG_BIN), "api", "--port", str(port)], env=env, stdout=logs[-1], stderr=subprocess.STDOUT
            )
            replicas.append((proc, f"http://127.0.0.1:{port}"))
        for i, (proc, base) in enumerate(replicas):
            _wait_port(int(base.rsplit(":", 1)[1]), proc, tmp_path / f"api-{i}.log", f"rag api {i}", timeout=180)
            assert "acme-handbook.pdf" not in _docs(base)

        _rag(["ingest", str(SAMPLE_DOCS / "acme-handbook.pdf")], env)  # a third process
        for _, base in replicas:
            assert _docs(base)[0] == "acme-handbook.pdf"

        _rag(["delete", "acme-handbook.pdf"], env)
        for _, base in replicas:
            assert "acme-handbook.pdf" not in _docs(base)
    finally:
        for proc, _ in replicas:
            proc.terminate()
            proc.wait(timeout=30)
        for f in logs:
            f.close()
