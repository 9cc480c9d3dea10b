"""Library page: upload with a summary, the documents table, delete, download, re-index."""

from __future__ import annotations


def _rows(at) -> list[dict]:
    return at.dataframe[0].value.to_dict("records") if at.dataframe else []


def test_upload_many_files_reports_added_unchanged_and_failed_with_reason(make_app, pdf_bytes, coffee):
    app = make_app()
    at = app.upload([("orchard.pdf", pdf_bytes), ("coffee-brewing.txt", coffee), ("broken.pdf", b"not a pdf at all")])
    assert [w.value for w in at.warning] == ["2 added (0 replaced), 0 unchanged, 1 failed"]
    assert "broken.pdf — failed: not a PDF" in app.texts().replace("\\", "")
    rows = _rows(at)
    assert {r["name"] for r in rows} == {"orchard.pdf", "coffee-brewing.txt"}
    orchard = next(r for r in rows if r["name"] == "orchard.pdf")
    assert orchard["pages"] == 4 and orchard["chunks"] >= 4 and orchard["collection"] == "default"
    assert orchard["size"].endswith("KB") and orchard["added at"][:2] == "20"

    # The uploader is emptied for the next batch; uploading the same file again changes nothing.
    at.file_uploader[0].set_value([("orchard.pdf", pdf_bytes, "application/pdf")])
    at = app.run()
    assert [s.value for s in at.success] == ["0 added (0 replaced), 1 unchanged, 0 failed"]
    assert len(_rows(at)) == 2


def test_upload_into_a_chosen_collection(make_app, coffee):
    app = make_app()
    app.engine.store.create_collection("kitchen")
    app.goto("library")
    app.at.selectbox(key="upload-collection").set_value("kitchen")
    app.run()
    app.at.file_uploader[0].set_value([("coffee-brewing.txt", coffee, "text/plain")])
    at = app.run()
    assert _rows(at)[0]["collection"] == "kitchen"


def test_delete_asks_for_confirmation_then_removes_the_document_everywhere(make_app, pdf_bytes, coffee):
    app = make_app()
    at = app.upload([("orchard.pdf", pdf_bytes), ("coffee-brewing.txt", coffee)])
    orchard = app.engine.store.find_document("orchard.pdf")
    at.selectbox(key="doc-pick").set_value(orchard.id)
    at = app.run()
    at.button(key="doc-delete").click()
    at = app.run()
    assert any("Delete **orchard" in w.value for w in at.warning)
    assert len(_rows(at)) == 2  # nothing deleted before the confirmation

    at.button(key="doc-delete-yes").click()
    at = app.run()
    assert [r["name"] for r in _rows(at)] == ["coffee-brewing.txt"]
    assert app.engine.store.find_document("orchard.pdf") is None
    assert all(h.doc != "orchard.pdf" for h in app.engine.search("cider press apples", k=10))


def test_cancel_keeps_the_document(make_app, pdf_bytes):
    app = make_app()
    at = app.upload([("orchard.pdf", pdf_bytes)])
    at.button(key="doc-delete").click()
    at = app.run()
    at.button(key="doc-delete-no").click()
    at = app.run()
    assert len(_rows(at)) == 1
    assert not any("Delete **" in w.value for w in at.warning)


def test_download_offers_the_original_file(make_app, pdf_bytes):
    app = make_app()
    at = app.upload([("orchard.pdf", pdf_bytes)])
    assert [d.label for d in at.download_button] == ["Download original"]
    stored = app.engine.store.data_dir / app.engine.store.find_document("orchard.pdf").stored_path
    assert stored.read_bytes() == pdf_bytes


def test_reindex_rebuilds_every_document(make_app, pdf_bytes):
    app = make_app()
    at = app.upload([("orchard.pdf", pdf_bytes)])
    before = app.engine.store.find_document("orchard.pdf").n_chunks
    at.button(key="reindex").click()
    at = app.run()
    assert any(s.label == "Re-indexed 1 documents" for s in at.status)
    assert app.engine.store.find_document("orchard.pdf").n_chunks == before
    assert app.engine.search("cider press", k=1)[0].doc == "orchard.pdf"


def test_empty_library_says_so(make_app):
    app = make_app()
    at = app.goto("library")
    assert any("No documents yet" in i.value for i in at.info)
