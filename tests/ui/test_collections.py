"""Collections page: list with counts, create, rename, delete with confirmation."""

from __future__ import annotations


def _table(at) -> dict[str, int]:
    return {r["collection"]: r["documents"] for r in at.dataframe[0].value.to_dict("records")}


def test_create_rename_and_list_with_document_counts(make_app, coffee):
    app = make_app()
    app.upload([("coffee-brewing.txt", coffee)])
    at = app.goto("collections")
    assert _table(at) == {"default": 1}

    at.text_input(key="new-collection").set_value("finance-2024")
    at.button[0].click()  # the form's Create button
    at = app.run()
    assert _table(at) == {"default": 1, "finance-2024": 0}

    at.selectbox(key="rename-from").set_value("finance-2024")
    at.text_input(key="rename-to").set_value("finance")
    next(b for b in at.button if b.label == "Rename").click()
    at = app.run()
    assert _table(at) == {"default": 1, "finance": 0}


def test_duplicate_name_is_an_error_message(make_app):
    app = make_app()
    at = app.goto("collections")
    at.text_input(key="new-collection").set_value("default")
    next(b for b in at.button if b.label == "Create").click()
    at = app.run()
    assert any("already exists" in e.value for e in at.error)


def test_delete_needs_confirmation_and_removes_its_documents(make_app, coffee, pdf_bytes):
    app = make_app()
    app.engine.store.create_collection("kitchen")
    app.upload([("orchard.pdf", pdf_bytes)])
    app.at.selectbox(key="upload-collection").set_value("kitchen")
    app.run()
    app.at.file_uploader[0].set_value([("coffee-brewing.txt", coffee, "text/plain")])
    app.run()
    at = app.goto("collections")
    at.selectbox(key="delete-pick").set_value("kitchen")
    at = app.run()
    at.button(key="collection-delete").click()
    at = app.run()
    assert any("its 1 document?" in w.value for w in at.warning)
    assert _table(at)["kitchen"] == 1
    at.button(key="collection-delete-yes").click()
    at = app.run()
    assert _table(at) == {"default": 1}
    assert [d.name for d in app.engine.store.documents()] == ["orchard.pdf"]
