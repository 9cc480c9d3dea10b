"""Ask page: streamed answers, citation chips opening the page, unsupported claims, conversation."""

from __future__ import annotations

import re
import threading

from rag.errors import GeneratorError
from tests.fakes import FakeGenerator

CIDER_Q = "How many kilograms of apples can the cider press process per hour?"
CIDER_A = "The cider press can process 4800 kilograms of apples per hour [1]."


def _ask(app, question: str):
    app.at.chat_input[0].set_value(question)
    return app.run()


def _answer_html(app) -> str:
    return "\n".join(h.value.split("</style>")[-1] for h in app.at.html if '<div class="rag-answer">' in h.value)


def test_upload_then_ask_shows_answer_with_citation_chips(make_app, pdf_bytes):
    app = make_app(generator=FakeGenerator(reply=CIDER_A))
    app.upload([("orchard.pdf", pdf_bytes)])
    app.goto("ask")
    at = _ask(app, CIDER_Q)

    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    html = _answer_html(app)
    assert "4800 kilograms" in html
    assert '<span class="rag-cite">1</span>' in html
    chips = at.pills[0]
    assert chips.options == ["[1] orchard.pdf · p. 2"]
    assert "Sources (" in "".join(e.label for e in at.expander)


def test_the_source_list_marks_the_passages_the_answer_cited(make_app, pdf_bytes):
    app = make_app(generator=FakeGenerator(reply=CIDER_A))
    app.upload([("orchard.pdf", pdf_bytes)])
    app.goto("ask")
    at = _ask(app, CIDER_Q)
    (sources,) = [e for e in at.expander if e.label.startswith("Sources (")]
    assert sources.label.endswith(" · 1 cited)")
    names = [
        h.value.split("</div>")[0] for h in app.at.html if 'class="rag-name"' in h.value and "rag-passage" in h.value
    ]
    cited = [n for n in names if "<b>[1]</b> orchard.pdf · page 2" in n]
    assert len(cited) == 1 and "not cited" not in cited[0]
    others = [n for n in names if n not in cited]
    assert others and all("not cited" in n and "<b>[" not in n for n in others)


def test_a_slide_is_cited_by_its_slide_number(make_app):
    from tests import hostile

    deck = hostile.pptx_file(
        [
            ("Welcome", "The onboarding deck for new staff.", ""),
            ("Parking", "Staff park in the north lot behind the greenhouse.", "Badges open the gate."),
        ]
    )
    app = make_app(generator=FakeGenerator(reply="Staff park in the north lot behind the greenhouse [1]."))
    app.upload([("onboarding.pptx", deck)])
    app.goto("ask")
    at = _ask(app, "Where do staff park?")
    assert at.pills[0].options == ["[1] onboarding.pptx · slide 2"]
    at.pills[0].set_value(at.pills[0].options[0])
    app.run()
    assert "slide 2 (2 of 2)" in app.texts()


def test_choosing_a_citation_shows_the_page_image_and_a_download(make_app, pdf_bytes):
    app = make_app(generator=FakeGenerator(reply=CIDER_A))
    app.upload([("orchard.pdf", pdf_bytes)])
    app.goto("ask")
    at = _ask(app, CIDER_Q)
    assert len(at.image) == 0

    at.pills[0].set_value(1)
    at = app.run()
    assert len(at.image) == 1
    assert "page 2 of 4" in app.texts()
    assert "4800 kilograms of apples per hour" in app.texts()  # the supporting quote beside the page
    assert [d.label for d in at.download_button] == ["Download the original"]


def test_citation_of_a_text_file_highlights_the_passage(make_app, coffee):
    reply = "The ideal water temperature is between 92 and 96 degrees Celsius [1]."
    app = make_app(generator=FakeGenerator(reply=reply))
    app.upload([("coffee-brewing.txt", coffee)])
    app.goto("ask")
    at = _ask(app, "What water temperature should I use for brewing coffee?")
    at.pills[0].set_value(at.pills[0].options[0])
    at = app.run()
    marked = [h.value for h in at.html if "rag-passage" in h.value and "<mark>" in h.value]
    assert marked and "92 and 96 degrees Celsius" in marked[0].split("<mark>")[1].split("</mark>")[0]
    assert len(at.image) == 0


def test_unsupported_claims_are_flagged_not_sourced(make_app, pdf_bytes):
    reply = CIDER_A[:-5] + ". The moon is made of green cheese [1]."
    app = make_app(generator=FakeGenerator(reply=reply))
    app.upload([("orchard.pdf", pdf_bytes)])
    app.goto("ask")
    _ask(app, CIDER_Q)
    html = _answer_html(app)
    flagged = re.findall(
        r'<span class="rag-unsupported" title="([^"]*)"><span class="rag-warn"[^>]*>!</span>(.*?)</span>', html
    )
    assert flagged == [("not supported by the cited passages", "The moon is made of green cheese.")]
    assert '4800 kilograms of apples per hour<span class="rag-cite">1</span>' in html  # the sourced one
    assert "1 statement is not supported by the cited passages" in app.texts()


def test_document_text_is_escaped_never_rendered_as_html(make_app):
    doc = b"Visitors must sign the <script>alert('x')</script> <b>guest book</b> at the cider press gate."
    reply = "Visitors must sign the guest book at the cider press gate [1]."
    app = make_app(generator=FakeGenerator(reply=reply))
    app.upload([("gate.txt", doc)])
    app.goto("ask")
    at = _ask(app, "What must visitors sign at the gate?")
    at.pills[0].set_value(at.pills[0].options[0])
    at = app.run()
    rendered = "\n".join(h.value for h in at.html)
    assert "&lt;script&gt;" in rendered
    assert "<script>" not in rendered and "<b>guest" not in rendered


def test_follow_up_uses_the_conversation_and_new_conversation_clears_it(make_app, pdf_bytes):
    app = make_app(generator=FakeGenerator(reply=CIDER_A))
    app.upload([("orchard.pdf", pdf_bytes)])
    app.goto("ask")
    _ask(app, CIDER_Q)
    engine = app.built[-1]
    seen = []
    retrieve = engine.retrieve
    engine.retrieve = lambda q, history=(), *a, **kw: seen.append((q, list(history))) or retrieve(q, history, *a, **kw)
    at = _ask(app, "And when was it installed?")
    assert len(at.chat_message) == 4
    ((question, history),) = seen  # the history reached the engine
    assert question == "And when was it installed?"
    assert [m["role"] for m in history] == ["user", "assistant"] and history[0]["content"] == CIDER_Q

    at.button(key="new-conversation").click()
    at = app.run()
    assert len(at.chat_message) == 0


def test_regenerate_asks_the_last_question_again(make_app, pdf_bytes):
    gen = FakeGenerator(reply=CIDER_A)
    app = make_app(generator=gen)
    app.upload([("orchard.pdf", pdf_bytes)])
    app.goto("ask")
    _ask(app, CIDER_Q)
    assert len(gen.prompts) == 1
    app.at.button(key="regenerate").click()
    at = app.run()
    assert len(gen.prompts) == 2
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert CIDER_Q in gen.prompts[-1][-1]["content"]


def test_copy_offers_the_answer_with_its_sources(make_app, pdf_bytes):
    app = make_app(generator=FakeGenerator(reply=CIDER_A))
    app.upload([("orchard.pdf", pdf_bytes)])
    app.goto("ask")
    at = _ask(app, CIDER_Q)
    code = at.code[0].value
    assert "4800 kilograms" in code and "[1] orchard.pdf, page 2" in code


class _BrokenGenerator(FakeGenerator):
    def stream(self, messages, max_new_tokens=None):
        raise GeneratorError("the LLM server at http://127.0.0.1:8000/v1 is not reachable")
        yield ""  # pragma: no cover


def test_generator_failure_is_a_message_not_a_traceback(make_app, pdf_bytes):
    app = make_app(generator=_BrokenGenerator())
    app.upload([("orchard.pdf", pdf_bytes)])
    app.goto("ask")
    at = _ask(app, CIDER_Q)
    assert any("not reachable" in e.value for e in at.error)
    assert [m.name for m in at.chat_message] == ["user", "assistant"]


def test_scope_limits_the_sources_to_the_chosen_document(make_app, pdf_bytes, coffee):
    app = make_app(generator=FakeGenerator(reply="Brew it hot [1]."))
    app.upload([("orchard.pdf", pdf_bytes), ("coffee-brewing.txt", coffee)])
    app.goto("ask")
    coffee_id = app.engine.store.find_document("coffee-brewing.txt").id
    app.at.multiselect(key="ask-docs").set_value([coffee_id])
    app.run()
    at = _ask(app, CIDER_Q)
    sources = at.session_state["messages"][-1]["answer"].sources
    assert sources and {h.doc for h in sources} == {"coffee-brewing.txt"}


class _SlowGenerator(FakeGenerator):
    def __init__(self) -> None:
        super().__init__(reply=CIDER_A)
        self.release = threading.Event()

    def warm_up(self) -> None:
        self.release.wait(30)


def test_model_loading_is_announced_until_ready(make_app):
    gen = _SlowGenerator()
    app = make_app(generator=gen, wait=False)
    try:
        assert "models are loading" in app.texts()
        app.goto("status")
        assert "still loading" in app.texts()
    finally:
        gen.release.set()
    app.runtime.warmup.wait(30)
    app.goto("ask")
    assert "models are loading" not in app.texts()


def test_the_engine_is_built_once_per_process(make_app, pdf_bytes):
    app = make_app()
    app.upload([("orchard.pdf", pdf_bytes)])
    for page in ("ask", "search", "collections", "status", "library"):
        app.goto(page)
    from streamlit.testing.v1 import AppTest

    from tests.ui.conftest import APP

    other_browser = AppTest.from_file(APP, default_timeout=30).run()
    assert not other_browser.exception
    assert len(app.built) == 1


def test_a_quoted_answer_says_where_it_is_quoted_from(make_app, pdf_bytes, monkeypatch):
    gen = FakeGenerator(reply="never used")
    app = make_app(generator=gen)
    monkeypatch.setenv("RAG_ANSWER_POLICY", "quoted")
    app.upload([("orchard.pdf", pdf_bytes)])
    app.goto("ask")
    at = _ask(app, CIDER_Q)
    html = _answer_html(app)
    assert "Quoted from orchard.pdf, page 2:" in html
    assert "kilograms of apples per hour" in html and '<span class="rag-cite">1</span>' in html
    assert at.pills[0].options == ["[1] orchard.pdf · p. 2"]
    assert gen.prompts == []
