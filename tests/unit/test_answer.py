"""The answer selector's parts: candidates, features, the fitted scorer (pure functions)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.answer import AnswerSelector, with_next
from rag.answer.candidates import _blocks, generate
from rag.answer.features import ANSWER_NAMES, NAMES, answer_view, asked_type, featurize, gives
from rag.answer.scorer import WEIGHTS, Linear, Scorer, fit_logistic
from rag.answer.tables import plain_text
from rag.types import Hit
from tests.fakes import FakeEmbedder

SURVEY = (
    "Every June, volunteers count the animals along the survey line.\n"
    "Animal 2020 2021 2022\n---------- ---- ---- ----\n"
    "Ochre sea star 212 187 143\nHermit crab 405 389 421\nPurple shore crab 58 63 49\n"
)


def _hit(text: str, n: int = 1, doc: str = "a.md") -> Hit:
    return Hit(n, doc, 1, text, 1.0 / n, start=0, end=len(text), dense_score=0.5)


def test_candidates_are_sentences_runs_and_rows_with_the_passages_own_offsets():
    text = "The press was installed in 1987. It is cleaned with hot water. Pomace feeds the cattle."
    pool = generate("When was the press installed?", [_hit(text)])
    kinds = {c.kind for c in pool.candidates}
    assert kinds == {"sentence", "run"}
    assert max(len(c.units) for c in pool.candidates) == 3
    for c in pool.candidates:
        assert text[c.start : c.end] == c.text
    rows = [c for c in generate("hermit crabs in 2021?", [_hit(SURVEY)]).candidates if c.kind == "row"]
    crab = next(c for c in rows if c.text.startswith("Hermit crab"))
    assert crab.shown == "Hermit crab — 2021: 389"  # only the column the question names
    assert not any(c.kind != "row" and "Hermit crab" in c.text and "Ochre" in c.text for c in rows)


def test_a_run_stays_within_its_paragraph_entry_or_section():
    text = (
        "# Handbook\n\nThe orchard follows the agreement.\n\n## Glossary\n\n"
        "Windfall An apple that has fallen.\n\nRusseting A rough brown patch.\n"
        "OR.PR-2: Juice is chilled below 5 degrees\nwithin one hour\nCIS 9, 12\n"
    )
    blocks = [text[s:e].strip() for s, e in _blocks(text)]
    assert "## Glossary" in blocks and "Windfall An apple that has fallen." in blocks
    assert "OR.PR-2: Juice is chilled below 5 degrees\nwithin one hour" in blocks  # "CIS 9, 12" is beside it
    runs = [c.text for c in generate("What is russeting?", [_hit(text)]).candidates if c.kind == "run"]
    assert not any("Windfall" in r and "Russeting" in r for r in runs)
    assert not any("Glossary" in r for r in runs)


LEVELS = (
    "Potential impact. FIPS 199 defines three levels of potential impact on organizations.\n\n"
    "LOW: the loss has a limited adverse effect.\n\n"
    "MODERATE: the loss has a serious adverse effect.\n\n"
    "HIGH: the loss has a severe or catastrophic adverse effect.\n\n"
    "The levels apply to each security objective."
)


def _completed(question: str, text: str, starts: str):
    (c,) = [
        c for c in generate(question, [_hit(text)]).candidates if c.kind == "sentence" and c.text.startswith(starts)
    ]
    return c.completed(text)


def test_a_sentence_that_announces_a_list_is_answered_with_its_items():
    c = _completed("what are the levels of impact?", LEVELS, "FIPS 199")
    # "three levels": the next three paragraphs, not the fourth; the citation covers them.
    assert c.text == LEVELS[LEVELS.index("FIPS") : LEVELS.index(" effect.\n\nThe levels") + len(" effect.")]
    assert c.shown.startswith("FIPS 199 defines three levels") and "LOW: the loss" in c.shown
    assert "MODERATE" in c.shown and "catastrophic" in c.shown and "apply to each" not in c.shown
    steps = "Set up the press as follows:\n- Wash the rollers.\n- Fit the mesh bag.\n- Close the valve.\n\nThen start."
    c = _completed("how do I set up the press", steps, "Set up")
    assert c.shown == "Set up the press as follows: Wash the rollers. Fit the mesh bag. Close the valve."
    assert steps[c.start : c.end] == c.text
    # Fewer items than announced, or no list announced: the sentence alone.
    short = "The hall has four doors.\n\nThe north door is red.\n\nThe south door is blue."
    assert _completed("doors?", short, "The hall").shown == "The hall has four doors."
    plain = "The press was installed in 1987. It is cleaned with hot water."
    assert _completed("when?", plain, "The press").text == "The press was installed in 1987."


def test_the_asked_type_comes_from_one_small_table():
    assert asked_type("How many hives pollinate the pears?") == "number"
    assert asked_type("when was it built") == "date"
    assert asked_type("Who founded the station?") == "name"
    assert asked_type("Why are the hives moved at night?") == "reason"
    assert asked_type("What is a minus tide?") == "definition"
    assert asked_type("Tell me about the orchard.") is None
    assert gives("number", "Bees from 37 hives.", "How many hives?")
    assert not gives("number", "Bees from 37 hives.", "Are 37 hives enough? How many?")
    assert gives("date", "It opened in March 1931.", "When did it open?")


def test_features_have_one_column_per_name_and_question_level_columns_agree():
    hits = [_hit("The press was installed in 1987. It is cleaned with hot water."), _hit("Pomace feeds cattle.", 2)]
    q = "When was the cider press installed?"
    pool = generate(q, hits)
    emb = FakeEmbedder()
    vecs = emb.embed_passages([q, *pool.units])
    x = featurize(q, hits, pool, vecs[0], vecs[1:], {})
    assert x.shape == (len(pool.candidates), len(NAMES))
    for name in ("q_covered", "q_missing_idf", "q_top_cos", "spec_missing"):
        assert len(set(x[:, NAMES.index(name)])) == 1, name
    assert x[:, NAMES.index("cos_gap")].max() == pytest.approx(0.0)
    view = answer_view(x, np.arange(len(x), dtype=float))
    assert view.shape == (len(ANSWER_NAMES),) and view[ANSWER_NAMES.index("margin")] == pytest.approx(1.0)


def test_fit_logistic_learns_a_separating_direction():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3))
    y = (x[:, 0] - 0.5 * x[:, 2] > 0).astype(float)
    coef, _ = fit_logistic(x, y, l2=0.1)
    assert coef[0] > 1.0 and coef[2] < -0.5 and abs(coef[1]) < 0.5 * coef[0]


def test_the_shipped_weights_load_and_a_stale_file_is_refused(tmp_path):
    scorer = Scorer.load()
    assert scorer.rank.names == NAMES and scorer.answer.names == ANSWER_NAMES
    assert 0.0 < scorer.threshold < 1.0
    data = json.loads(WEIGHTS.read_text())
    data["rank"]["features"] = data["rank"]["features"][:-1]
    stale = tmp_path / "weights.json"
    stale.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="fit_selector"):
        Scorer.load(stale)


def test_the_selector_abstains_below_its_threshold_and_answers_above_it():
    hits = [_hit("The press was installed in 1987. It is cleaned with hot water.")]
    base = Scorer.load()
    zero = Linear(ANSWER_NAMES, np.zeros(len(ANSWER_NAMES)), np.ones(len(ANSWER_NAMES)), np.zeros(len(ANSWER_NAMES)), 0)
    half = Scorer(base.rank, zero, 0.5)  # every confidence is exactly 0.5
    emb = FakeEmbedder().embed_passages
    assert AnswerSelector(emb, scorer=half).best("When was the press installed?", hits) is not None
    strict = Scorer(base.rank, zero, 0.51)
    assert AnswerSelector(emb, scorer=strict).best("When was the press installed?", hits) is None
    assert AnswerSelector(emb, scorer=half).best("When?", []) is None
    # Between the threshold and the "unsure" level: answered, marked as the closest passage.
    unsure = AnswerSelector(emb, scorer=Scorer(base.rank, zero, 0.4, 0.6))
    choice = unsure.best("When was the press installed?", hits)
    assert choice is not None and unsure.unsure(choice)
    assert not AnswerSelector(emb, scorer=Scorer(base.rank, zero, 0.4, 0.45)).unsure(choice)
    assert 0.0 < base.threshold <= base.unsure < 1.0


def test_the_chosen_sentence_is_shown_with_the_next_one_of_its_paragraph():
    hits = [_hit("The press was installed in 1987. It replaced the old one.\n\nCleaning is weekly.")]
    pool = generate("When was the press installed?", hits)
    first = next(c for c in pool.candidates if c.kind == "sentence" and "1987" in c.text)
    assert with_next(first, pool.candidates).text == "The press was installed in 1987. It replaced the old one."
    last = next(c for c in pool.candidates if c.kind == "sentence" and "replaced" in c.text)
    assert with_next(last, pool.candidates) == last  # the paragraph ends there


def test_a_quote_reads_as_prose_and_keeps_a_commands_options():
    assert plain_text('### Setup\n- Run `git tag -s -m "v1" v1 master` to sign.') == (
        'Setup Run git tag -s -m "v1" v1 master to sign.'
    )
    assert plain_text("a multi -tenant model") == "a multi-tenant model"  # a PDF's broken compound
