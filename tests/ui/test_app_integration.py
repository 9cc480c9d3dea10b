"""The app with the real bundled models: upload a PDF, ask, get an answer built from the right page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_upload_and_ask_with_the_bundled_models(make_app, pdf_bytes, real_embedder, real_generator):
    app = make_app(generator=real_generator, embedder=real_embedder, timeout=300)
    at = app.upload([("orchard.pdf", pdf_bytes)])
    assert [s.value for s in at.success] == ["1 added (0 replaced), 0 unchanged, 0 failed"]
    app.goto("ask")
    app.at.chat_input[0].set_value("How many kilograms of apples can the cider press process per hour?")
    at = app.run()
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    answer = at.session_state["messages"][-1]["answer"]
    assert not answer.abstained and "4800" in answer.answer, answer.answer
    assert [(c.doc, c.page) for c in answer.citations][:1] == [("orchard.pdf", 2)]
    assert (answer.sources[0].doc, answer.sources[0].page) == ("orchard.pdf", 2)
    assert any(e.label.startswith("Sources (") for e in at.expander)
    for n in at.pills[0].options if at.pills else []:
        at.pills[0].set_value(n)
        at = app.run()
        assert len(at.image) == 1
