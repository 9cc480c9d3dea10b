"""Status page: models, data directory, index size, warnings."""

from __future__ import annotations

import time


def test_status_shows_models_index_size_and_data_dir(make_app, pdf_bytes, settings):
    app = make_app()
    app.upload([("orchard.pdf", pdf_bytes)])
    at = app.goto("status")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Documents"] == "1" and metrics["Pages"] == "4"
    assert int(metrics["Chunks"]) >= 4
    assert metrics["Size on disk"].endswith(("KB", "MB"))
    models = at.dataframe[0].value.to_dict("records")
    assert models[0]["role"] == "generator" and models[0]["model"] == "fake-generator"
    assert models[1]["model"] == "fake-hash-embedder"
    text = app.texts()
    assert str(settings.data_dir.resolve()) in text
    assert "Embedding model of the index: `fake-hash-embedder`" in text


def test_warnings_for_single_user_mode_and_embedding_mismatch(make_app, pdf_bytes):
    app = make_app()
    app.upload([("orchard.pdf", pdf_bytes)])
    app.engine.store.set_meta("embed_model", "some-other-model")
    at = app.goto("status")
    text = app.texts()
    assert "Single-user mode" in text and "127.0.0.1" in text
    assert any("re-index" in e.value and "some-other-model" in e.value for e in at.error)


def test_an_upload_gets_its_sentence_vectors_in_the_background_and_status_says_so(make_app, pdf_bytes):
    app = make_app()
    app.upload([("orchard.pdf", pdf_bytes)])
    engine = app.engine
    deadline = time.monotonic() + 30
    while engine.store.without_sentence_vectors() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert engine.store.without_sentence_vectors() == [], "the upload should store its sentence vectors"
    n = engine.store.stats()["sentence_vectors"]
    assert n > 0
    app.goto("status")
    assert f"Sentence vectors: {n:,} stored, for every document" in app.texts()
    engine.store.db.execute("DELETE FROM sentence_vectors")  # as a data directory from before them
    app.goto("status")
    assert "Sentence vectors: 0 stored; 1 document without them yet" in app.texts()
