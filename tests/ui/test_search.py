"""Search page: hybrid results with highlighted terms, file and page, filters."""

from __future__ import annotations


def _results(at) -> list[str]:
    return [h.value.split("</style>")[-1] for h in at.html if "rag-hit" in h.value.split("</style>")[-1]]


def _search(app, query: str):
    app.at.text_input(key="search-query").set_value(query)
    return app.run()


def test_results_show_file_page_and_highlighted_terms(make_app, pdf_bytes):
    app = make_app()
    app.upload([("orchard.pdf", pdf_bytes)])
    app.goto("search")
    at = _search(app, "beehives pollinate pear orchards")
    results = _results(at)
    assert results, "no results shown"
    assert "orchard.pdf</b> · page 3" in results[0]
    assert "<mark>pollinate</mark>" in results[0] and "<mark>pear</mark>" in results[0]
    assert "<mark>orchards</mark>" in results[0]
    assert "passages" in app.texts()


def test_collection_filter_excludes_other_collections(make_app, pdf_bytes, coffee):
    app = make_app()
    app.engine.store.create_collection("kitchen")
    app.upload([("orchard.pdf", pdf_bytes)])
    app.at.selectbox(key="upload-collection").set_value("kitchen")
    app.run()
    app.at.file_uploader[0].set_value([("coffee-brewing.txt", coffee, "text/plain")])
    app.run()
    app.goto("search")
    at = _search(app, "water temperature apples")
    assert {"orchard.pdf", "coffee-brewing.txt"} <= {r.split("</b>")[0].split(". ", 1)[1] for r in _results(at)}
    at.multiselect(key="search-collections").set_value(["kitchen"])
    at = app.run()
    names = {r.split("</b>")[0].split(". ", 1)[1] for r in _results(at)}
    assert names == {"coffee-brewing.txt"}


def test_document_filter_and_result_count(make_app, pdf_bytes, coffee):
    app = make_app()
    app.upload([("orchard.pdf", pdf_bytes), ("coffee-brewing.txt", coffee)])
    app.goto("search")
    orchard = app.engine.store.find_document("orchard.pdf").id
    app.at.multiselect(key="search-docs").set_value([orchard])
    app.at.slider(key="search-k").set_value(2)
    at = _search(app, "water")
    results = _results(at)
    assert 1 <= len(results) <= 2
    assert all("orchard.pdf</b>" in r for r in results)


def test_passage_text_is_escaped(make_app):
    app = make_app()
    app.upload([("x.md", b"# Notes\n\nThe <img src=x onerror=alert(1)> gate code is 4471.")])
    app.goto("search")
    at = _search(app, "gate code")
    result = _results(at)[0]
    assert "&lt;img src=x onerror=alert(1)&gt;" in result
    assert "<img" not in result


def test_no_match_and_empty_query(make_app, pdf_bytes):
    app = make_app()
    app.upload([("orchard.pdf", pdf_bytes)])
    at = app.goto("search")
    assert not _results(at)
    at = _search(app, "zzzqqq")
    # No keyword matches: the nearest passages by meaning may show, with nothing highlighted.
    assert all("<mark>" not in r for r in _results(at))
