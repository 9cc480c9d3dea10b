"""The installed ``rag`` command with the real models honours the JSON contract other tools read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.store import Store
from tests.integration.multipage_pdf import PAGES, make_pdf

pytestmark = pytest.mark.integration

RAG_BIN = Path(sys.executable).parent / "rag"
SEARCH_HIT_KEYS = {"rank", "score", "chunk_id", "doc", "page", "text"}


def rag_cmd(*args: str, data_dir: Path, stdin: str | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_DATA_DIR=str(data_dir), RAG_LLM_MAX_NEW_TOKENS="48", HF_HUB_OFFLINE="1")
    return subprocess.run([str(RAG_BIN), *args], input=stdin, capture_output=True, text=True, env=env, timeout=timeout)


def json_lines(stdout: str) -> list[dict]:
    """Every stdout line must be one JSON object (no log lines mixed in)."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, model_cache_dir, real_generator):
    """A data directory with the generated PDF ingested by ``rag ingest``.

    The converted bundled generator (made once by ``real_generator``) is linked in so the
    subprocess does not convert the GGUF again.
    """
    docs = tmp_path_factory.mktemp("docs")
    make_pdf(docs / "orchard.pdf")
    (docs / "notes.md").write_text("# Notes\n\nThe packing shed closes at six in the evening.\n")
    data = tmp_path_factory.mktemp("cli") / "data"
    data.mkdir()
    (data / "models").symlink_to(model_cache_dir / "models", target_is_directory=True)
    result = rag_cmd("ingest", str(docs), data_dir=data)
    assert result.returncode == 0, result.stderr
    assert "2 added" in result.stderr and "0 failed" in result.stderr
    return data


def test_search_json_one_object_per_stdin_line(data_dir):
    questions = [q for _, q, _ in PAGES]
    result = rag_cmd("search", "--json", "-k", "3", data_dir=data_dir, stdin="\n".join(questions) + "\n")
    assert result.returncode == 0, result.stderr
    results = json_lines(result.stdout)
    assert [r["query"] for r in results] == questions
    for page, r in enumerate(results, 1):
        assert set(r) >= {"query", "hits"} and 1 <= len(r["hits"]) <= 3
        for rank, hit in enumerate(r["hits"], 1):
            assert set(hit) >= SEARCH_HIT_KEYS
            assert hit["rank"] == rank
            assert isinstance(hit["score"], float) and isinstance(hit["page"], int)
            assert isinstance(hit["chunk_id"], (int, str)) and hit["text"]
        assert (r["hits"][0]["doc"], r["hits"][0]["page"]) == ("orchard.pdf", page)


def test_ask_json_contract(data_dir):
    _, question, key = PAGES[3]
    result = rag_cmd("ask", "--json", question, data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    (r,) = json_lines(result.stdout)
    assert set(r) >= {"question", "answer", "citations", "sources", "abstained", "claims"}
    assert r["question"] == question
    assert isinstance(r["answer"], str) and isinstance(r["abstained"], bool)
    assert not r["abstained"] and key in r["answer"]
    assert r["citations"], r["answer"]
    for c in r["citations"]:
        assert set(c) >= {"n", "doc", "page", "chunk_id", "quote"}
        assert isinstance(c["n"], int) and isinstance(c["page"], int) and c["quote"]
        assert c["doc"] == "orchard.pdf" and 1 <= c["page"] <= len(PAGES)
        (source,) = [s for s in r["sources"] if s["chunk_id"] == c["chunk_id"]]
        assert (source["doc"], source["page"]) == (c["doc"], c["page"])
        assert c["quote"] in source["text"]
    assert 4 in {c["page"] for c in r["citations"]}
    for s in r["sources"]:
        assert set(s) >= SEARCH_HIT_KEYS
    for claim in r["claims"]:
        assert set(claim) >= {"text", "citations", "supported"}
        assert isinstance(claim["supported"], bool)


def test_ask_json_follow_up_in_a_conversation(data_dir):
    """A JSON line with its conversation: "it" is read as the press the history speaks of."""
    turn = {
        "question": "When was it installed?",
        "history": [
            {"role": "user", "content": "How many kilograms of apples can the cider press process per hour?"},
            {"role": "assistant", "content": "The cider press can process 4800 kilograms of apples per hour [1]."},
        ],
    }
    result = rag_cmd("ask", "--json", data_dir=data_dir, stdin=json.dumps(turn) + "\n{not json\n")
    assert result.returncode == 1, result.stderr
    r, bad = json_lines(result.stdout)
    assert not r["abstained"] and "1987" in r["answer"], r
    assert [(c["n"], c["doc"], c["page"]) for c in r["citations"]] == [(1, "orchard.pdf", 2)]
    assert bad["line"] == 2 and "not valid JSON" in bad["error"]


def test_ask_declines_without_the_model_when_nothing_is_relevant(data_dir):
    result = rag_cmd(
        "ask", "--json", data_dir=data_dir, stdin="What is the boiling point of mercury?\nWho painted the Mona Lisa?\n"
    )
    assert result.returncode == 0, result.stderr
    results = json_lines(result.stdout)
    assert len(results) == 2
    assert all(r["abstained"] and r["citations"] == [] for r in results)


def test_a_bad_file_is_one_line_and_a_failing_exit_status(data_dir, tmp_path):
    bad = tmp_path / "report.pdf"
    bad.write_text("this is plain text pretending to be a PDF")
    result = rag_cmd("ingest", str(bad), data_dir=data_dir)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    failed = [line for line in result.stderr.splitlines() if "report.pdf" in line]
    assert len(failed) == 1
    # What was ingested before is intact.
    store = Store(data_dir)
    assert sorted(d.name for d in store.documents()) == ["notes.md", "orchard.pdf"]
    assert [store.hits([cid])[cid].doc for cid, _ in store.bm25("packing shed closes", 1)] == ["notes.md"]
