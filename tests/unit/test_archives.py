"""EPUB books and MBOX mailboxes: chapters in reading order and messages one by one, each
a located page; hostile or mislabelled files refused with their reason."""

from __future__ import annotations

import io
import zipfile

import pytest

from ingest.extract import ExtractJob, extract_all
from ingest.loaders import LoadLimits, load_bytes
from rag.errors import IngestError

CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""

OPF = """<?xml version="1.0"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>The Lighthouse Keeper</dc:title></metadata>
  <manifest>
    <item id="c1" href="text/b-arrival.xhtml" media-type="application/xhtml+xml"/>
    <item id="c2" href="text/a-storm.xhtml" media-type="application/xhtml+xml"/>
    <item id="css" href="style.css" media-type="text/css"/>
  </manifest>
  <spine><itemref idref="c1"/><itemref idref="c2"/></spine>
</package>"""


def chapter(title: str, body: str, prolog: str = '<?xml version="1.0"?>\n<!DOCTYPE html>') -> str:
    return f'{prolog}\n<html xmlns="http://www.w3.org/1999/xhtml"><body><h1>{title}</h1><p>{body}</p></body></html>'


def epub(parts: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
        for path, text in parts.items():
            zf.writestr(path, text)
    return buf.getvalue()


BOOK = {
    "META-INF/container.xml": CONTAINER,
    "OEBPS/content.opf": OPF,
    # Named so that alphabetical order is not the reading order: the spine decides.
    "OEBPS/text/b-arrival.xhtml": chapter("Arrival", "Mara reached the island on the first of March."),
    "OEBPS/text/a-storm.xhtml": chapter("The Storm", "The lamp burned through three nights of gales."),
    "OEBPS/style.css": "p { margin: 0 }",
}


def test_an_epub_is_read_chapter_by_chapter_in_spine_order():
    loaded = load_bytes("keeper.epub", epub(BOOK), LoadLimits())
    assert [p.label for p in loaded.pages] == ["chapter 1 'Arrival'", "chapter 2 'The Storm'"]
    assert "first of March" in loaded.pages[0].text and "three nights of gales" in loaded.pages[1].text


def test_an_epub_chapter_declaring_entities_is_refused():
    bomb = '<?xml version="1.0"?>\n<!DOCTYPE html [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    book = dict(BOOK) | {"OEBPS/text/a-storm.xhtml": chapter("Storm", "&b;", prolog=bomb)}
    with pytest.raises(IngestError, match=r"declares XML entities"):
        load_bytes("bomb.epub", epub(book), LoadLimits())


def test_a_zip_that_is_no_book_and_a_text_named_epub_are_refused_with_their_reason():
    with pytest.raises(IngestError, match=r"not an EPUB book: no META-INF/container.xml"):
        load_bytes("photos.epub", epub({"a.jpg": "not really"}), LoadLimits())
    with pytest.raises(IngestError, match=r"not an EPUB file: the file contains"):
        load_bytes("notes.epub", b"just some text\n", LoadLimits())


MBOX = b"""From alice@example.com Mon Mar  3 09:00:00 2025
From: Alice <alice@example.com>
To: team@example.com
Subject: Boiler service
Date: Mon, 3 Mar 2025 09:00:00 +0000

The boiler service is booked for Thursday at ten.
>From now on the engineer signs in at reception.

From bob@example.com Mon Mar  3 10:00:00 2025
this line is no header at all

From carol@example.com Tue Mar  4 08:30:00 2025
From: Carol <carol@example.com>
Subject: Parking
Date: Tue, 4 Mar 2025 08:30:00 +0000

Visitors park in bays 12 to 18.
"""


def test_an_mbox_is_one_page_per_message_and_a_broken_message_is_skipped_with_a_warning():
    loaded = load_bytes("team.mbox", MBOX, LoadLimits())
    assert [p.label for p in loaded.pages] == ["message 1 'Boiler service'", "message 3 'Parking'"]
    assert "booked for Thursday" in loaded.pages[0].text and "From: Alice" in loaded.pages[0].text
    assert "\nFrom now on the engineer" in loaded.pages[0].text  # the mboxrd escape undone
    assert "bays 12 to 18" in loaded.pages[1].text
    assert any(w.startswith("message 2:") for w in loaded.warnings)


def test_a_file_named_mbox_that_is_no_mailbox_is_refused():
    with pytest.raises(IngestError, match=r"not an mbox mailbox"):
        load_bytes("notes.mbox", b"Dear team,\nno mail here.\n", LoadLimits())


def test_books_and_mailboxes_go_through_the_isolated_parser_processes(tmp_path):
    (tmp_path / "keeper.epub").write_bytes(epub(BOOK))
    (tmp_path / "team.mbox").write_bytes(MBOX)
    jobs = [ExtractJob(n, tmp_path / n) for n in ("keeper.epub", "team.mbox")]
    results = dict(extract_all(jobs, LoadLimits(), workers=2))
    assert [p.label for p in results[0].pages][0] == "chapter 1 'Arrival'"
    assert [p.label for p in results[1].pages][-1] == "message 3 'Parking'"
