"""Folder sync (``rag ingest --watch DIR``) with fake models: what a sync ingests, what it
removes, and what it never touches. The watcher itself runs in tests/integration/test_folder_sync.py."""

from __future__ import annotations

import sqlite3

import pytest
from watchfiles import Change

from ingest.pipeline import Source, discover
from ingest.watch import FolderSync
from rag import cli
from rag.engine import RAG
from rag.store import SCHEMA_VERSION, Store
from tests.fakes import FakeEmbedder, FakeGenerator
from tests.unit.inprocess import parse_in_process  # noqa: F401 (autouse)

IGNORED = ["~$report.docx", ".~lock.report.odt#", ".notes.md.swp", "slides.pdf.crdownload", "paper.pdf.part"]


@pytest.fixture
def folder(tmp_path):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / ".hidden").mkdir()
    (docs / "tides.md").write_text("The harbour tide rises twice daily.")
    (docs / "sub" / "ferry.txt").write_text("The ferry leaves at noon from pier seven.")
    (docs / ".hidden" / "secret.txt").write_text("Not for the library.")
    for name in IGNORED:
        (docs / name).write_bytes(b"\x00 a temporary file")
    return docs


def _names(rag: RAG) -> list[str]:
    return [d.name for d in rag.store.documents()]


def test_sync_ingests_the_folder_and_ignores_hidden_and_temporary_files(fake_rag, folder):
    seen = []
    report = FolderSync(fake_rag, folder, on_change=seen.append).sync()
    assert [(r.status, r.name) for r in seen] == [("added", "sub/ferry.txt"), ("added", "tides.md")]
    assert report.count("added") == 2 and not report.failed
    assert _names(fake_rag) == ["sub/ferry.txt", "tides.md"]
    doc = fake_rag.store.find_document("tides.md")
    assert doc.source_path == str(folder / "tides.md")
    seen.clear()
    again = FolderSync(fake_rag, folder, on_change=seen.append).sync()
    assert again.count("unchanged") == 2 and seen == []  # nothing changed: nothing reported


def test_rag_ingest_of_the_folder_takes_the_same_files(folder):
    sources, problems = discover([folder])
    assert sorted(s.name for s in sources) == ["sub/ferry.txt", "tides.md"] and problems == []


def test_sync_removes_only_documents_whose_file_in_the_folder_is_gone(fake_rag, folder, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "canteen.txt").write_text("The canteen opens at eight.")
    fake_rag.ingest_paths([other])  # another folder
    fake_rag.ingest_sources([Source("memo.txt", data=b"The memo is due on Friday.")])  # an upload
    sync = FolderSync(fake_rag, folder)
    sync.sync()
    (other / "canteen.txt").unlink()
    (folder / "sub" / "ferry.txt").unlink()
    seen = []
    sync.on_change = seen.append
    report = sync.sync()
    assert [(r.status, r.name) for r in seen] == [("removed", "sub/ferry.txt")]
    assert report.count("removed") == 1 and "1 removed" in report.summary()
    assert _names(fake_rag) == ["canteen.txt", "memo.txt", "tides.md"]


def test_an_upload_that_replaced_a_folder_file_is_not_removed_with_it(fake_rag, folder):
    sync = FolderSync(fake_rag, folder)
    sync.sync()
    fake_rag.ingest_sources([Source("tides.md", data=b"Tides, as uploaded in the app.")])
    (folder / "tides.md").unlink()
    sync.sync()
    assert fake_rag.store.find_document("tides.md").source_path is None


def test_documents_of_another_collection_are_not_removed(fake_rag, folder):
    FolderSync(fake_rag, folder, collection="harbour").sync()
    (folder / "tides.md").unlink()
    FolderSync(fake_rag, folder).sync()  # the default collection: another library of the same folder
    assert [d.name for d in fake_rag.store.documents(["harbour"])] == ["sub/ferry.txt", "tides.md"]
    FolderSync(fake_rag, folder, collection="harbour").sync()
    assert [d.name for d in fake_rag.store.documents(["harbour"])] == ["sub/ferry.txt"]


def test_a_data_directory_inside_the_folder_is_never_ingested(settings, folder):
    rag = RAG(settings.replace(data_dir=folder / "data"), FakeEmbedder(), FakeGenerator())
    sync = FolderSync(rag, folder)
    sync.sync()
    assert any((folder / "data" / "files").rglob("*.md"))  # the kept copies have ingestible names
    assert sync.sync().count("unchanged") == 2 and _names(rag) == ["sub/ferry.txt", "tides.md"]
    assert not sync.watched(Change.added, str(next((folder / "data" / "files").rglob("*.md"))))


def test_apply_ingests_changed_files_and_folders_moved_in_and_removes_what_moved_out(fake_rag, folder, tmp_path):
    sync = FolderSync(fake_rag, folder)
    sync.sync()
    (folder / "tides.md").write_text("The harbour tide rises three times a day.")
    outside = tmp_path / "incoming"
    outside.mkdir()
    (outside / "pier.txt").write_text("Pier seven is closed on Sundays.")
    outside.rename(folder / "incoming")
    (folder / "sub").rename(tmp_path / "moved-away")
    changes = {
        (Change.modified, str(folder / "tides.md")),
        (Change.added, str(folder / "incoming")),
        (Change.deleted, str(folder / "sub")),
    }
    report = sync.apply(changes)
    got = sorted((r.status, r.name) for r in report.results)
    assert got == [("added", "incoming/pier.txt"), ("removed", "sub/ferry.txt"), ("replaced", "tides.md")]
    assert sync.apply({(Change.added, str(folder / "~$report.docx"))}).results == []


def test_the_filter_drops_hidden_and_temporary_files_and_keeps_folders(fake_rag, folder):
    sync = FolderSync(fake_rag, folder)
    for name in IGNORED:
        assert not sync.watched(Change.added, str(folder / name)), name
    assert not sync.watched(Change.added, str(folder / ".hidden" / "secret.txt"))
    assert sync.watched(Change.modified, str(folder / "tides.md"))
    assert sync.watched(Change.deleted, str(folder / "gone-folder"))
    assert not sync.watched(Change.added, str(folder.parent / "elsewhere.txt"))


def test_a_database_from_before_source_paths_opens_with_its_documents(tmp_path, fake_rag, folder):
    FolderSync(fake_rag, folder).sync()
    path = fake_rag.store.path
    fake_rag.store.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE documents DROP COLUMN source_path")
    db.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    db.commit()
    db.close()
    store = Store(path.parent)
    assert store.schema_version() == SCHEMA_VERSION == 3
    docs = store.documents()
    assert [d.name for d in docs] == ["sub/ferry.txt", "tides.md"] and {d.source_path for d in docs} == {None}
    rag = RAG(fake_rag.settings, FakeEmbedder(), FakeGenerator())
    (folder / "tides.md").unlink()
    FolderSync(rag, folder).sync()  # stored before source paths: not known to come from the folder
    assert [d.name for d in rag.store.documents()] == ["sub/ferry.txt", "tides.md"]


@pytest.fixture
def run(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_engine", lambda args: RAG(cli._settings(args), FakeEmbedder(), FakeGenerator()))

    def _run(*argv: str):
        code = cli.main(list(argv))
        return code, *capsys.readouterr()

    return _run


def test_cli_watch_syncs_then_ctrl_c_exits_cleanly(run, monkeypatch, folder):
    def watch(self, on_synced=None, stop_event=None, debounce_ms=1600):
        on_synced(self.sync())
        raise KeyboardInterrupt

    monkeypatch.setattr(FolderSync, "watch", watch)
    code, out, err = run("ingest", "--watch", str(folder))
    assert code == 0 and out == ""
    lines = err.splitlines()
    assert lines[:2] == ["added sub/ferry.txt: 1 page, 1 chunk", "added tides.md: 1 page, 1 chunk"]
    assert lines[2].startswith("2 added (0 replaced), 0 unchanged, 0 failed;")
    assert lines[3:] == [f"watching {folder} for changes (Ctrl-C to stop)", f"stopped watching {folder}"]


def test_cli_watch_needs_one_folder(run, folder):
    code, _, err = run("ingest", "--watch", str(folder / "tides.md"))
    assert code == 2 and "is not one" in err
    code, _, err = run("ingest", "--watch", str(folder), str(folder / "tides.md"))
    assert code == 2 and "takes no other paths" in err
