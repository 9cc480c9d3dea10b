"""Evaluation page: run a question file, see metrics by kind and the failures."""

from __future__ import annotations

import json

from tests.conftest import SAMPLE_DOCS


def test_run_bundled_question_file_retrieval_only(make_app):
    app = make_app()
    app.engine.ingest_paths([SAMPLE_DOCS])
    at = app.goto("evaluation")
    at.selectbox(key="eval-file").set_value("sample_docs.jsonl")
    at = app.run()
    assert at.toggle(key="eval-retrieval-only").value is True
    next(b for b in at.button if b.label == "Run evaluation").click()
    at = app.run()
    metrics = at.dataframe[0].value
    assert {"recall@1", "recall@5", "mrr@10"} <= set(metrics["metric"])
    assert "accuracy" not in set(metrics["metric"])  # retrieval only
    assert "overall" in metrics.columns and "fact" in metrics.columns
    recall5 = float(metrics.set_index("metric").loc["recall@5", "overall"])
    assert 0.0 < recall5 <= 1.0
    assert any(s.label.startswith("Evaluated ") for s in at.status)


def test_uploaded_file_with_answers_and_failures(make_app, pdf_bytes):
    app = make_app()
    app.upload([("orchard.pdf", pdf_bytes)])
    qa = [
        {
            "question": "Who founded the Orchard Valley Cooperative?",
            "answer": "Agnes Whitlock",
            "doc": "orchard.pdf",
            "page": 1,
            "kind": "fact",
        },
        {
            "question": "Where is the harvest festival?",
            "answer": "Millbrook",
            "doc": "orchard.pdf",
            "page": 99,
            "kind": "fact",
        },  # a gold page that does not exist: always a failure
    ]
    at = app.goto("evaluation")
    at.selectbox(key="eval-file").set_value("Upload a file…")
    at = app.run()
    at.file_uploader(key="eval-upload").set_value(
        ("mine.jsonl", "\n".join(json.dumps(q) for q in qa).encode(), "application/json")
    )
    at = app.run()
    at.toggle(key="eval-retrieval-only").set_value(False)
    next(b for b in at.button if b.label == "Run evaluation").click()
    at = app.run()
    assert "accuracy" in set(at.dataframe[0].value["metric"])
    failures = at.dataframe[1].value.to_dict("records")
    festival = next(f for f in failures if f["question"] == "Where is the harvest festival?")
    assert festival["gold"] == "orchard.pdf p. 99"
    assert "orchard.pdf p. " in festival["retrieved (top 5)"]
    assert "retrieval" in festival["why"] and "cited" in festival


def test_bad_question_file_names_the_line(make_app):
    app = make_app()
    at = app.goto("evaluation")
    at.selectbox(key="eval-file").set_value("Upload a file…")
    at = app.run()
    good = json.dumps({"question": "q?", "answer": "a", "doc": "d.pdf", "page": 1, "kind": "fact"})
    at.file_uploader(key="eval-upload").set_value(("bad.jsonl", (good + "\n{not json\n").encode(), "text/plain"))
    at = app.run()
    assert any(e.value.startswith("bad.jsonl, line 2: not valid JSON") for e in at.error)
    run = next(b for b in at.button if b.label == "Run evaluation")
    assert run.disabled
