"""Ask page, first minutes: files attached to a question, the empty library's drop zone and
the sample documents, all ingested in the conversation."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT
from tests.fakes import FakeGenerator
from tests.ui.test_ask import CIDER_A, CIDER_Q
from ui import uploads


def _welcome_shown(at) -> bool:
    return any(s.value == "Start with your documents" for s in at.subheader)


def _send(app, text: str, files: list[tuple[str, bytes]]):
    box = app.at.chat_input(key="ask-input")
    for name, data in files:
        box.upload(name, data)
    box.set_value(text)
    return app.run()


def test_a_question_asked_with_a_file_is_answered_from_it_once_it_is_added(make_app, pdf_bytes):
    app = make_app(generator=FakeGenerator(reply=CIDER_A))
    assert _welcome_shown(app.at)
    at = _send(app, CIDER_Q, [("orchard.pdf", pdf_bytes)])

    assert [m.name for m in at.chat_message] == ["user", "assistant", "assistant"]
    kinds = [m.get("kind") for m in at.session_state["messages"]]
    assert kinds == [None, "ingest", None]
    assert at.session_state["messages"][0]["files"] == ["orchard.pdf"]
    assert app.engine.store.find_document("orchard.pdf") is not None
    assert [s.value for s in at.success] == ["1 added (0 replaced), 0 unchanged, 0 failed"]
    assert "orchard.pdf — added — 4 pages" in app.texts().replace("\\", "")
    assert at.pills[0].options == ["[1] orchard.pdf · p. 2"]  # the answer cites the file just added
    assert not _welcome_shown(at)


def test_a_bad_attachment_is_named_with_its_reason_and_the_good_one_is_kept(make_app, coffee):
    app = make_app()
    at = _send(app, "", [("coffee-brewing.txt", coffee), ("broken.pdf", b"not a pdf at all")])
    assert [w.value for w in at.warning] == ["1 added (0 replaced), 0 unchanged, 1 failed"]
    assert "broken.pdf — failed: not a PDF" in app.texts().replace("\\", "")
    assert [d.name for d in app.engine.store.documents()] == ["coffee-brewing.txt"]
    assert len(at.chat_message) == 2  # no question: no answer


def test_the_empty_library_offers_a_drop_zone_that_adds_files_in_the_conversation(make_app, coffee):
    app = make_app()
    drop = app.at.file_uploader(key="ask-drop-0")
    assert drop.label == "Drop files here to add them to your library"
    drop.set_value([("coffee-brewing.txt", coffee, "text/plain")])
    at = app.run()
    assert app.engine.store.find_document("coffee-brewing.txt") is not None
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert at.session_state["messages"][0]["files"] == ["coffee-brewing.txt"]
    assert not _welcome_shown(at)
    at = app.run()  # a later run does not add them again
    assert len(at.session_state["messages"]) == 2


def test_one_click_adds_the_sample_documents_and_offers_questions_they_answer(make_app):
    app = make_app(generator=FakeGenerator(reply="Full-time employees get 25 days of paid annual leave [1]."))
    app.at.button(key="try-samples").click()
    at = app.run()
    names = sorted(d.name for d in app.engine.store.documents())
    assert names == sorted(s.name for s in uploads.sample_sources()) and len(names) == 4
    assert "Try the sample documents" in app.texts()
    assert [s.value for s in at.success] == ["4 added (0 replaced), 0 unchanged, 0 failed"]

    suggestion = at.button(key=f"sample-q-{at.session_state['messages'][-1]['id']}-0")
    assert "paid annual leave" in suggestion.label
    suggestion.click()
    at = app.run()
    last = at.session_state["messages"][-1]["answer"]
    assert last.question.startswith("How many days of paid annual leave")
    assert {h.doc for h in last.sources} >= {"acme-handbook.pdf"}


def test_regenerate_after_a_question_with_files_asks_again_without_adding_them_again(make_app, pdf_bytes):
    gen = FakeGenerator(reply=CIDER_A)
    app = make_app(generator=gen)
    _send(app, CIDER_Q, [("orchard.pdf", pdf_bytes)])
    app.at.button(key="regenerate").click()
    at = app.run()
    assert len(gen.prompts) == 2
    assert [m.get("kind") for m in at.session_state["messages"]] == [None, "ingest", None]


def test_no_welcome_when_the_library_has_documents(make_app, coffee):
    app = make_app()
    app.upload([("coffee-brewing.txt", coffee)])
    at = app.goto("ask")
    assert not _welcome_shown(at)
    assert not [b for b in at.button if b.key == "try-samples"]


def test_developer_chrome_is_off_in_the_config_file():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["toolbarMode"] == "viewer"
    assert config["client"]["showErrorDetails"] == "type"
