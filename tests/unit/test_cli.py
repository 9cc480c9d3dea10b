"""The ``rag`` command with fake models: summaries, exit codes, one JSON object per line."""

from __future__ import annotations

import io
import json

import pytest

from rag import cli
from rag.engine import RAG
from tests.fakes import FakeEmbedder, FakeGenerator
from tests.unit.inprocess import parse_in_process  # noqa: F401 (autouse)


@pytest.fixture
def run(monkeypatch, capsys):
    """Run ``rag ARGS`` in-process with fake models; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(cli, "_engine", lambda args: RAG(cli._settings(args), FakeEmbedder(), FakeGenerator()))

    def _run(*argv: str, stdin: str | None = None):
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "tides.md").write_text("# Tides\n\nThe harbour tide rises twice daily at Harbor Point.")
    (folder / "sub" / "ferry.txt").write_text("The ferry leaves at noon from pier seven.\n\nTickets cost four dollars.")
    (folder / "ignored.xyz").write_bytes(b"not a document format")
    return folder


def _json_lines(out: str) -> list[dict]:
    lines = [line for line in out.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def test_ingest_prints_a_summary_and_succeeds(run, docs):
    code, out, err = run("ingest", str(docs))
    assert code == 0
    assert "2 added" in err and "0 failed" in err
    assert "chunks" in err and "pages" in err
    code, _, err = run("ingest", str(docs))
    assert code == 0 and "2 unchanged" in err and "0 added" in err


def test_ingest_ray_takes_a_folder_after_the_flag_as_a_path_and_an_address_as_the_cluster(monkeypatch, docs):
    seen = []

    def engine(args):
        seen.append((cli._settings(args).ray_address, list(args.paths)))
        raise SystemExit(0)

    monkeypatch.setattr(cli, "_engine", engine)
    for argv in (
        ["ingest", "--ray", str(docs)],
        ["ingest", str(docs), "--ray"],
        ["ingest", "--ray", "ray://head:10001", str(docs)],
    ):
        with pytest.raises(SystemExit):
            cli.main(argv)
    assert seen == [("local", [str(docs)]), ("local", [str(docs)]), ("ray://head:10001", [str(docs)])]


def test_ingest_without_a_path_says_so(run):
    code, _, err = run("ingest")
    assert code == 2 and "give at least one file or folder" in err


def test_ingest_json_summary(run, docs):
    code, out, _ = run("ingest", "--json", str(docs))
    summary = json.loads(out)
    assert code == 0
    assert summary["added"] == 2 and summary["unchanged"] == 0 and summary["failed"] == []
    assert summary["pages"] == 2 and summary["chunks"] >= 2


def test_ingest_exits_non_zero_when_a_file_fails(run, docs, tmp_path):
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.7\n this is not really a pdf")
    code, out, err = run("ingest", "--json", str(docs), str(bad), str(tmp_path / "missing.md"))
    assert code == 1
    summary = json.loads(out)
    assert summary["added"] == 2
    assert {f["file"] for f in summary["failed"]} == {"broken.pdf", str(tmp_path / "missing.md")}
    assert "broken.pdf" in err and "missing.md" in err
    assert "Traceback" not in err
    # What was ingested stays searchable.
    code, out, _ = run("search", "--json", "ferry pier")
    assert json.loads(out)["hits"][0]["doc"] == "sub/ferry.txt"


def test_ingest_of_a_folder_without_documents_fails(run, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = run("ingest", str(tmp_path / "empty"))
    assert code == 1 and "no files to ingest found (supported: " in err and "pdf" in err


def test_data_dir_option_is_used(run, docs, tmp_path):
    other = tmp_path / "elsewhere"
    assert run("ingest", "--data-dir", str(other), str(docs))[0] == 0
    assert (other / "rag.sqlite3").exists()
    code, out, _ = run("list", "--data-dir", str(other), "--json")
    assert sorted(d["name"] for d in json.loads(out)) == ["sub/ferry.txt", "tides.md"]


def test_search_json_contract(run, docs):
    run("ingest", str(docs))
    code, out, _ = run("search", "--json", "-k", "2", "When does the ferry leave?")
    assert code == 0
    (result,) = _json_lines(out)
    assert result["query"] == "When does the ferry leave?"
    assert 1 <= len(result["hits"]) <= 2
    for rank, hit in enumerate(result["hits"], 1):
        assert {"rank", "score", "chunk_id", "doc", "page", "text"} <= set(hit)
        assert hit["rank"] == rank
        assert isinstance(hit["score"], float) and isinstance(hit["page"], int)
        assert isinstance(hit["chunk_id"], (int, str)) and isinstance(hit["text"], str)
    assert result["hits"][0]["doc"] == "sub/ferry.txt" and result["hits"][0]["page"] == 1


def test_search_reads_one_query_per_line_from_stdin(run, docs):
    run("ingest", str(docs))
    code, out, _ = run("search", "--json", stdin="ferry pier\n\n  \nharbour tide\n")
    assert code == 0
    results = _json_lines(out)
    assert [r["query"] for r in results] == ["ferry pier", "harbour tide"]
    assert [r["hits"][0]["doc"] for r in results] == ["sub/ferry.txt", "tides.md"]


def test_search_plain_text(run, docs):
    run("ingest", str(docs))
    code, out, _ = run("search", "ferry pier")
    assert code == 0 and "# ferry pier" in out and "sub/ferry.txt p.1" in out


def test_ask_json_contract_one_object_per_line(run, docs):
    run("ingest", str(docs))
    code, out, _ = run("ask", "--json", stdin="When does the ferry leave?\nHow often does the harbour tide rise?\n")
    assert code == 0
    results = _json_lines(out)
    assert [r["question"] for r in results] == ["When does the ferry leave?", "How often does the harbour tide rise?"]
    for r in results:
        assert {"question", "answer", "citations", "sources", "abstained", "claims"} <= set(r)
        assert isinstance(r["abstained"], bool) and isinstance(r["answer"], str)
        assert not r["abstained"] and r["citations"]
        assert [c["n"] for c in r["citations"]] == list(range(1, len(r["citations"]) + 1))
        for c in r["citations"]:
            assert {"n", "doc", "page", "chunk_id", "quote"} <= set(c)
            (source,) = [s for s in r["sources"] if s["chunk_id"] == c["chunk_id"]]
            assert (source["doc"], source["page"]) == (c["doc"], c["page"])
            assert c["quote"] in source["text"]
        for claim in r["claims"]:
            assert {"text", "citations", "supported"} <= set(claim)
        for s in r["sources"]:
            assert {"rank", "score", "chunk_id", "doc", "page", "text"} <= set(s)
    assert results[0]["citations"][0]["doc"] == "sub/ferry.txt"


def test_ask_json_line_with_a_conversation(run, docs):
    run("ingest", str(docs))
    turn = {
        "question": "how much are the tickets?",
        "history": [
            {"role": "user", "content": "When does the ferry leave?"},
            {"role": "assistant", "content": "The ferry leaves at noon from pier seven [1]."},
        ],
    }
    code, out, _ = run("ask", "--json", stdin=json.dumps(turn) + "\n")
    assert code == 0
    (r,) = _json_lines(out)
    assert r["question"] == "how much are the tickets?"
    assert "four dollars" in r["answer"] and r["citations"][0]["doc"] == "sub/ferry.txt"


def test_a_bad_json_line_is_an_error_on_its_line_and_the_batch_goes_on(run, docs):
    run("ingest", str(docs))
    lines = [
        '{"question": "When does the ferry',
        '{"history": []}',
        '{"question": "When does the ferry leave?", "history": [{"role": "robot", "content": "hi"}]}',
        "When does the ferry leave?",
    ]
    code, out, _ = run("ask", "--json", stdin="\n".join(lines) + "\n")
    assert code == 1
    results = _json_lines(out)
    assert [r.get("line") for r in results[:3]] == [1, 2, 3]
    assert "not valid JSON" in results[0]["error"]
    assert "'question'" in results[1]["error"]
    assert "'role'" in results[2]["error"]
    assert "noon" in results[3]["answer"] and not results[3]["abstained"]


def test_ask_plain_text_prints_answer_and_sources(run, docs):
    run("ingest", str(docs))
    code, out, _ = run("ask", "When does the ferry leave?")
    assert code == 0
    assert "noon" in out.splitlines()[0]
    assert "sub/ferry.txt, page 1" in out


def test_ask_on_an_empty_index_abstains(run):
    code, out, _ = run("ask", "--json", "What is the airspeed of a swallow?")
    (r,) = _json_lines(out)
    assert code == 0 and r["abstained"] is True and r["citations"] == [] and r["sources"] == []


def test_delete_and_list(run, docs):
    run("ingest", str(docs))
    assert run("delete", "tides.md")[0] == 0
    code, out, _ = run("list", "--json")
    assert [d["name"] for d in json.loads(out)] == ["sub/ferry.txt"]
    code, _, err = run("delete", "tides.md")
    assert code == 1 and "no document named 'tides.md'" in err


def test_user_errors_are_one_line_and_exit_2(run, tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "q", "answer": "a", "doc": "d.pdf", "page": 1}\n{oops\n')
    code, out, err = run("eval", "--qa", str(qa), "--no-generate")
    assert code == 2
    assert err.startswith("rag: error:") and "line 2" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_invalid_setting_is_reported_not_raised(run, monkeypatch):
    monkeypatch.setenv("RAG_TOP_K", "many")
    code, _, err = run("search", "x")
    assert code == 2 and "RAG_TOP_K" in err


def test_eval_json_report(run, docs, tmp_path):
    run("ingest", str(docs))
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        '{"question": "When does the ferry leave the pier?", "answer": "noon", "doc": "ferry.txt", "page": 1}\n'
        '{"question": "What colour is the roof?", "answer": "UNANSWERABLE", "doc": null, "page": null,'
        ' "kind": "unanswerable"}\n'
    )
    code, out, _ = run("eval", "--qa", str(qa), "--no-generate", "--json")
    report = json.loads(out)
    assert code == 0
    assert {"overall", "by_kind", "failures"} <= set(report)
    assert report["overall"]["recall@1"] == 1.0  # "ferry.txt" matches the ingested "sub/ferry.txt"
    code, out, _ = run("eval", "--qa", str(qa), "--no-generate")
    assert code == 0 and "recall@1" in out and "mrr@10" in out
