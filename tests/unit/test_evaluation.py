"""Evaluation: metrics on hand-made cases with exact expected numbers; question files."""

from __future__ import annotations

import json

import pytest

from rag.errors import EvalError
from rag.evaluation import (
    QA,
    Row,
    answer_correct,
    answer_metrics,
    citation_correct,
    failure,
    first_relevant_rank,
    format_report,
    load_qa,
    normalise,
    percentile,
    retrieval_metrics,
    run_eval,
)
from rag.prompts import NO_ANSWER
from rag.types import Answer, Citation, Hit
from tests.unit.inprocess import parse_in_process  # noqa: F401 (autouse)

# -- retrieval metrics -------------------------------------------------------------------------


def test_recall_and_mrr_exact_values():
    m = retrieval_metrics([1, 3, None, 7], [1, 1, None, 2])
    assert m["recall@1"] == pytest.approx(0.25)
    assert m["recall@5"] == pytest.approx(0.5)
    assert m["recall@10"] == pytest.approx(0.75)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3 + 1 / 7) / 4)
    assert m["doc_recall@5"] == pytest.approx(0.75)


def test_ranks_past_ten_count_for_nothing():
    m = retrieval_metrics([11, 12], [6, None])
    assert m["recall@10"] == 0.0 and m["mrr@10"] == 0.0 and m["doc_recall@5"] == 0.0
    assert retrieval_metrics([], []) == {}


def _hit(doc: str, page: int) -> Hit:
    return Hit(chunk_id=0, doc=doc, page=page, text="", score=0.0)


def test_first_relevant_rank_needs_the_gold_file_and_page():
    qa = QA("q", "a", doc="guide.pdf", pages=[2, 3])
    hits = [_hit("guide.pdf", 1), _hit("other.pdf", 2), _hit("sub/guide.pdf", 3), _hit("guide.pdf", 2)]
    assert first_relevant_rank(hits, qa) == 3  # same file name in a sub-folder counts
    assert first_relevant_rank(hits[:2], qa) is None


# -- answer metrics ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "gold", "aliases", "expected"),
    [
        ("It was founded by Dr. Miriam Okafor [1].", "Dr. Miriam Okafor", [], True),
        ("It was founded by MIRIAM OKAFOR!", "Dr. Miriam Okafor", ["Miriam Okafor"], True),
        ("It was founded by Okafor.", "Dr. Miriam Okafor", [], False),
        ("Built in 1872.", "1872", [], True),
        ("Built in 18721.", "1872", [], False),
        ("About 3.5 litres.", "3.5", [], True),
        ("About 35 litres.", "3.5", [], False),
        ("It ran 1990\u20131995.", "1990-1995", [], True),
        ("The station\u2019s boat.", "station's boat", [], True),
        ("It costs $1,200 a year.", "$1200", [], True),
        ("Roughly 12 hours and 25 minutes [2].", "12 hours and 25 minutes", [], True),
        ("", "anything", [], False),
    ],
)
def test_answer_accuracy_normalisation(answer, gold, aliases, expected):
    assert answer_correct(answer, QA("q", gold, aliases, "d.pdf", [1])) is expected


def test_normalise():
    assert normalise("  Dr.  Miriam\tOKAFOR. ") == "dr miriam okafor"
    assert normalise("3.5%") == "3.5%"


def test_citation_correct_by_page_or_by_quote():
    qa = QA("q", "Miriam Okafor", [], "guide.pdf", [1])
    assert citation_correct("guide.pdf", 1, "unrelated", qa)
    assert citation_correct("guide.pdf", 4, "founded by Miriam Okafor in 1990", qa)
    assert not citation_correct("guide.pdf", 4, "founded in 1990", qa)
    assert not citation_correct("other.pdf", 1, "founded in 1990", qa)


def _answer(text: str, cites: list[tuple[str, int, str]], abstained: bool = False, ttft: float = 0.1) -> Answer:
    citations = [Citation(n, d, p, n, q) for n, (d, p, q) in enumerate(cites, 1)]
    return Answer("q", text, citations, [], abstained, timings={"first_token": ttft, "total": 1.0})


def test_answer_metrics_exact_values():
    q1 = QA("q1", "1872", [], "a.pdf", [3], "number")
    q2 = QA("q2", "Miriam Okafor", [], "g.pdf", [1], "fact")
    q3 = QA("q3", "blue", [], "c.pdf", [2], "fact")
    q4 = QA("q4", "UNANSWERABLE", [], None, [], "unanswerable")
    q5 = QA("q5", "UNANSWERABLE", [], None, [], "unanswerable")
    rows = [
        Row(q1, 1, 1, [], 0.01, _answer("Built in 1872 [1][2].", [("a.pdf", 3, "x"), ("b.pdf", 1, "y")], ttft=0.1)),
        Row(q2, 2, 1, [], 0.01, _answer("Dr. MIRIAM okafor!", [("g.pdf", 2, "founded by Miriam Okafor")], ttft=0.2)),
        Row(q3, None, None, [], 0.01, _answer(NO_ANSWER, [], abstained=True, ttft=0.3)),
        Row(q4, None, None, [], 0.01, _answer(NO_ANSWER, [], abstained=True, ttft=0.4)),
        Row(q5, None, None, [], 0.01, _answer("It is red [1].", [("z.pdf", 9, "red")], ttft=0.5)),
    ]
    m = answer_metrics(rows)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["citation_precision"] == pytest.approx(2 / 3)  # a.pdf p3 and the quote right, b.pdf p1 wrong
    assert m["citation_recall"] == pytest.approx(2 / 3)  # q1 and q2 have a correct citation, q3 none
    assert m["false_abstention"] == pytest.approx(1 / 3)
    assert m["abstention"] == pytest.approx(1 / 2)
    assert m["ttft_p50_s"] == pytest.approx(0.3)
    assert m["ttft_p95_s"] == pytest.approx(0.5)


def test_failures_say_why_and_what_was_cited():
    qa = QA("q", "Miriam Okafor", [], "g.pdf", [1], "fact", 7)
    near = QA("n", "UNANSWERABLE", [], None, [], "unanswerable", 8)
    right = _answer("Founded by Miriam Okafor [1].", [("g.pdf", 1, "founded by Miriam Okafor")])
    assert failure(Row(qa, 1, 1, [], 0.0, right)) is None
    # A right answer cited to a page that neither is the gold page nor holds the answer.
    wrong_page = failure(Row(qa, 1, 1, [], 0.0, _answer("Miriam Okafor [1].", [("g.pdf", 2, "the founders")])))
    assert wrong_page["line"] == 7 and wrong_page["why"] == ["citation"]
    assert wrong_page["cited"] == [{"doc": "g.pdf", "page": 2, "quote": "the founders"}]
    refused = failure(Row(qa, 7, 1, [], 0.0, _answer(NO_ANSWER, [], abstained=True)))
    assert refused["why"] == ["retrieval", "refused"] and refused["abstained"] is True
    assert failure(Row(near, None, None, [], 0.0, _answer(NO_ANSWER, [], abstained=True))) is None
    assert failure(Row(near, None, None, [], 0.0, right))["why"] == ["answered near miss"]


def test_answer_metrics_without_citations_or_unanswerables():
    qa = QA("q", "blue", [], "c.pdf", [2])
    m = answer_metrics([Row(qa, 1, 1, [], 0.0, _answer("It is blue.", []))])
    assert m["accuracy"] == 1.0 and m["citation_precision"] == 0.0 and m["citation_recall"] == 0.0
    assert "abstention" not in m


def test_percentile():
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 10.0
    assert percentile(values, 95) == 10.0
    assert percentile([4.0, 1.0, 3.0], 50) == 3.0
    assert percentile([], 50) == 0.0


# -- question files ----------------------------------------------------------------------------

GOOD = {
    "question": "Who?",
    "answer": "Okafor",
    "answer_aliases": ["Dr. Okafor"],
    "doc": "g.pdf",
    "page": 1,
    "kind": "fact",
}


def _write(tmp_path, lines: list[str]):
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_qa_reads_every_field(tmp_path):
    unanswerable = {"question": "Why?", "answer": "UNANSWERABLE", "doc": None, "page": None, "kind": "unanswerable"}
    multi = dict(GOOD, page=[2, 3], kind="multi_hop")
    qas = load_qa(_write(tmp_path, [json.dumps(GOOD), "", json.dumps(unanswerable), json.dumps(multi)]))
    assert [q.line for q in qas] == [1, 3, 4]
    assert qas[0].aliases == ["Dr. Okafor"] and qas[0].pages == [1] and qas[0].answerable
    assert not qas[1].answerable and qas[1].pages == []
    assert qas[2].pages == [2, 3]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps(dict(GOOD, question="")), "question"),
        (json.dumps(dict(GOOD, kind="opinion")), "kind"),
        (json.dumps(dict(GOOD, page=0)), "1-based"),
        (json.dumps(dict(GOOD, page="two")), "page"),
        (json.dumps(dict(GOOD, page=None)), "needs 'doc' and 'page'"),
        (json.dumps(dict(GOOD, answer_aliases="Okafor")), "answer_aliases"),
    ],
)
def test_a_bad_line_is_named(tmp_path, bad, reason):
    path = _write(tmp_path, [json.dumps(GOOD), json.dumps(GOOD), bad])
    with pytest.raises(EvalError) as err:
        load_qa(path)
    assert "line 3" in str(err.value)
    assert str(path) in str(err.value)
    assert reason in str(err.value)


def test_empty_or_missing_files(tmp_path):
    with pytest.raises(EvalError, match="no questions"):
        load_qa(_write(tmp_path, ["", "  "]))
    with pytest.raises(EvalError, match="cannot read"):
        load_qa(tmp_path / "missing.jsonl")


def test_the_bundled_question_set_loads():
    from tests.conftest import ROOT

    qas = load_qa(ROOT / "eval" / "sample_docs.jsonl")
    assert len(qas) >= 20
    assert {q.kind for q in qas} >= {"fact", "number", "unanswerable"}


# -- the runner, with fake models ---------------------------------------------------------------


def test_run_eval_report(fake_rag, tmp_path):
    doc = tmp_path / "tides.md"
    doc.write_text("The harbour tide rises twice daily.\n\nThe ferry leaves at noon from pier seven.")
    fake_rag.ingest_paths([doc])
    questions = [
        QA("When does the ferry leave from the pier?", "noon", [], "tides.md", [1], "fact", 1),
        QA("How often does the harbour tide rise?", "twice daily", [], "tides.md", [2], "number", 2),
        QA("What colour is the lighthouse roof?", "UNANSWERABLE", [], None, [], "unanswerable", 3),
    ]
    report = run_eval(fake_rag, questions, k=5, generate=True)
    overall = report["overall"]
    assert overall["questions"] == 3 and overall["answerable"] == 2
    for key in (
        "recall@1",
        "recall@5",
        "recall@10",
        "mrr@10",
        "doc_recall@5",
        "accuracy",
        "citation_precision",
        "citation_recall",
        "abstention",
        "false_abstention",
        "retrieval_p50_ms",
        "retrieval_p95_ms",
    ):
        assert key in overall, key
    assert overall["recall@1"] == 0.5  # the single-page text file holds everything on page 1
    assert overall["doc_recall@5"] == 1.0
    assert set(report["by_kind"]) == {"fact", "number", "unanswerable"}
    assert report["by_kind"]["fact"]["recall@1"] == 1.0
    failures = {f["line"]: f for f in report["failures"]}
    assert 2 in failures  # gold page 2 does not exist in a text file: never retrieved
    assert failures[2]["gold"] == {"doc": "tides.md", "page": [2], "answer": "twice daily"}
    assert failures[2]["retrieved"][0]["doc"] == "tides.md" and failures[2]["retrieved"][0]["page"] == 1
    assert "retrieval" in failures[2]["why"] and {"mode", "cited"} <= set(failures[2])
    table = format_report(report)
    assert "recall@5" in table and "overall" in table and "unanswerable" in table
    assert f"{len(report['failures'])} failures" in table


def test_run_eval_without_generation_has_no_answer_metrics(fake_rag, tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("The ferry leaves at noon.")
    fake_rag.ingest_paths([doc])
    report = run_eval(fake_rag, [QA("When does the ferry leave?", "noon", [], "a.md", [1])], generate=False)
    assert report["overall"]["recall@1"] == 1.0
    assert "accuracy" not in report["overall"] and report["failures"] == []
    assert fake_rag._generator.prompts == []  # the generator was never asked


def test_latency_excludes_loading_the_models(fake_rag, tmp_path, monkeypatch):
    """Model loading is done before the clock starts, so p95 reports retrieval, not start-up."""
    import rag.evaluation as evaluation

    doc = tmp_path / "a.md"
    doc.write_text("The ferry leaves at noon.")
    fake_rag.ingest_paths([doc])
    clock = {"now": 0.0}
    monkeypatch.setattr(evaluation.time, "perf_counter", lambda: clock["now"])

    class SlowStart:
        """The fake engine, with a 30 s model load on first use and 10 ms per search."""

        loaded = False

        def warm_up(self, generator: bool = True) -> None:
            self._load()

        def _load(self) -> None:
            if not self.loaded:
                clock["now"] += 30.0
                self.loaded = True

        def search(self, query, k=None):
            self._load()
            clock["now"] += 0.010
            return fake_rag.search(query, k=k)

    questions = [QA(f"When does the ferry leave? ({i})", "noon", [], "a.md", [1]) for i in range(10)]
    report = run_eval(SlowStart(), questions, generate=False)
    assert report["overall"]["retrieval_p95_ms"] == pytest.approx(10.0)
    assert report["overall"]["retrieval_p50_ms"] == pytest.approx(10.0)
