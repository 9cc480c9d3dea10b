"""``rag eval`` runs end to end on the bundled question set over sample_docs/."""

from __future__ import annotations

import json

import pytest

from rag import cli
from rag.engine import RAG
from rag.settings import Settings
from tests.conftest import ROOT, SAMPLE_DOCS
from tests.integration.test_cli_contract import rag_cmd

pytestmark = pytest.mark.integration

QA_FILE = ROOT / "eval" / "sample_docs.jsonl"
# What `--no-generate` reports: retrieval only.
RETRIEVAL_METRICS = (
    "recall@1",
    "recall@5",
    "recall@10",
    "mrr@10",
    "doc_recall@5",
    "retrieval_p50_ms",
    "retrieval_p95_ms",
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, real_embedder):
    data = tmp_path_factory.mktemp("eval") / "data"
    report = RAG(Settings(data_dir=data), embedder=real_embedder).ingest_paths([SAMPLE_DOCS])
    assert not report.failed and report.count("added") >= 4, report.summary()
    return data


def test_eval_prints_the_metrics_table(data_dir):
    result = rag_cmd("eval", "--qa", str(QA_FILE), "--no-generate", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = lines[0].split()
    assert header[:2] == ["metric", "overall"] and "unanswerable" in header
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:] if line.strip() and not line[0].isdigit()}
    for metric in ("questions", *RETRIEVAL_METRICS):
        assert metric in rows, metric
    assert "accuracy" not in rows  # --no-generate skips the answer metrics
    n_questions = sum(1 for line in QA_FILE.read_text().splitlines() if line.strip())
    assert int(rows["questions"][0]) == n_questions
    assert 0.0 <= float(rows["recall@5"][0]) <= 1.0
    assert "failures" in result.stdout


def test_eval_json_report(data_dir, real_embedder, monkeypatch, capsys):
    # In-process (the table test above runs the real command), sharing the loaded model.
    monkeypatch.setattr(cli, "_engine", lambda args: RAG(cli._settings(args), embedder=real_embedder))
    code = cli.main(["eval", "--qa", str(QA_FILE), "--no-generate", "--json", "-k", "10", "--data-dir", str(data_dir)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"overall", "by_kind", "failures"}
    overall = report["overall"]
    assert set(overall) >= {"questions", "answerable", *RETRIEVAL_METRICS}
    assert set(report["by_kind"]) >= {"fact", "number", "unanswerable"}
    assert overall["recall@1"] <= overall["recall@5"] <= overall["recall@10"]
    assert overall["mrr@10"] <= overall["recall@10"]
    # The sample documents were written for these questions: retrieval must find most gold pages.
    assert overall["recall@5"] >= 0.8, report["failures"]
    for failure in report["failures"]:
        assert set(failure) >= {"line", "question", "gold", "retrieved"}
