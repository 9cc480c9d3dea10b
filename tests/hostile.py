"""A corpus of hostile and broken files, generated on demand (nothing binary lives in git).

Each generator returns the bytes of one file. :func:`corpus` returns them all with the
outcome a user should see: ingested, or skipped with a reason containing ``reason``.
PDFs are written with reportlab (real text layers), pypdf's writer (encryption,
JavaScript, attachments) or by hand (:func:`raw_pdf`) when the file must be malformed
in a way no writer allows.
"""

from __future__ import annotations

import io
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

# Words that only occur in the documents that carry them, so a search can prove what is stored.
GOOD_WORDS = ("quokka", "marmalade", "zeppelin", "tangerine", "obsidian", "saxophone")
# Words of the office, web and scanned files of the corpus (each in one file only).
FORMAT_WORDS = ("gondola", "periwinkle", "marzipan", "kiwifruit", "lighthouse", "accordion", "flamingo")


@dataclass(frozen=True)
class Case:
    """One file of the corpus and what ingesting it must do."""

    name: str  # the file name as uploaded
    data: bytes
    ok: bool  # True: ingested; False: skipped with a reason
    reason: str = ""  # a phrase the reason must contain (lower case)
    word: str = ""  # a word that becomes searchable when ``ok``


def text_pdf(pages: Sequence[str]) -> bytes:
    """A PDF with a real text layer, one string per page (wrapped at ~90 characters)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1)
    for text in pages:
        y = 800
        words = text.split()
        line: list[str] = []
        for w in words:
            if len(" ".join(line + [w])) > 90:
                c.drawString(50, y, " ".join(line))
                y -= 14
                line = []
            line.append(w)
        if line:
            c.drawString(50, y, " ".join(line))
        c.showPage()
    c.save()
    return buf.getvalue()


def prose(word: str, sentences: int = 6) -> str:
    """A few plain sentences mentioning ``word``."""
    return " ".join(f"Sentence {i} of this page talks about the {word} in some detail." for i in range(sentences))


def truncated_pdf() -> bytes:
    """A valid three-page PDF cut in the middle (no cross-reference table, no %%EOF)."""
    data = text_pdf([prose("lighthouse", 20), prose("harbour", 20), prose("breakwater", 20)])
    return data[: len(data) // 2]


def random_bytes(n: int = 20_000, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def html_page() -> bytes:
    return b"<!DOCTYPE html>\n<html><head><title>Download</title></head><body><p>Not a PDF</p></body></html>\n"


def encrypted_pdf(password: str, text: str) -> bytes:
    """A PDF that needs ``password`` to open (RC4-128: pypdf decrypts it without extra packages)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf([text]))))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def image_only_pdf(pages: int = 2) -> bytes:
    """A 'scanned' PDF: each page is one image, no text layer."""
    from PIL import Image, ImageDraw
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    img = Image.new("L", (400, 200), 255)
    draw = ImageDraw.Draw(img)
    for y in range(20, 180, 20):
        draw.line((20, y, 380, y), fill=0, width=3)  # looks like lines of text, but is pixels
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1)
    for _ in range(pages):
        c.drawImage(ImageReader(img), 50, 400, width=400, height=200)
        c.showPage()
    c.save()
    return buf.getvalue()


def many_pages_pdf(n: int, word: str = "pagination") -> bytes:
    """A PDF with ``n`` pages (the first carries text)."""
    from pypdf import PdfReader, PdfWriter

    first = PdfReader(io.BytesIO(text_pdf([prose(word)])))
    writer = PdfWriter()
    writer.add_page(first.pages[0])
    for _ in range(n - 1):
        writer.add_blank_page(595, 842)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def raw_pdf(objects: Sequence[bytes], root: int = 1) -> bytes:
    """Assemble a PDF by hand: ``objects[i]`` is the body of object ``i + 1``; a correct xref is written."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref)
    return bytes(out)


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _text_ops(text: str) -> bytes:
    return b"BT /F1 12 Tf 72 720 Td (" + text.encode("latin-1") + b") Tj ET\n"


def bomb_pdf(inflated_mb: int = 300) -> bytes:
    """One page whose FlateDecode content stream inflates to ``inflated_mb`` MB (a few hundred KB on disk)."""
    comp = zlib.compressobj(9)
    parts = [comp.compress(_text_ops("Decompression bomb ahead"))]
    block = b" " * (1 << 20)
    for _ in range(inflated_mb):
        parts.append(comp.compress(block))
    parts.append(comp.flush())
    content = b"".join(parts)
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
            b"/Contents 5 0 R >>",
            _FONT,
            _stream(content, b"/Filter /FlateDecode"),
        ]
    )


def page_tree_bomb_pdf(fanout: int = 40, depth: int = 6, honest_count: bool = True) -> bytes:
    """A tiny file whose page tree reuses nodes, so it claims ``fanout ** depth`` pages."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    total = fanout**depth
    # Objects 2 .. depth+1 are tree levels; object depth+2 the single leaf page; then font and content.
    leaf = depth + 2
    for level in range(depth):
        child = 2 + level + 1 if level + 1 < depth else leaf
        kids = b" ".join(b"%d 0 R" % child for _ in range(fanout))
        count = fanout ** (depth - level) if honest_count else 1
        parent = b"" if level == 0 else b"/Parent %d 0 R " % (2 + level - 1)
        objs.append(b"<< /Type /Pages %s/Kids [%s] /Count %d >>" % (parent, kids, count))
    objs.append(
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> "
        b"/Contents %d 0 R >>" % (depth + 1, leaf + 1, leaf + 2)
    )
    objs.append(_FONT)
    objs.append(_stream(_text_ops(f"One page repeated {total} times")))
    return raw_pdf(objs)


def js_and_attachment_pdf(word: str) -> bytes:
    """A normal text PDF that also carries JavaScript (OpenAction) and an embedded executable."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf([prose(word)]))))
    js = DictionaryObject(
        {
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject(
                "app.alert('pwned'); this.exportDataObject({cName: 'evil.exe', nLaunch: 2});"
            ),
        }
    )
    writer.root_object[NameObject("/OpenAction")] = writer._add_object(js)
    writer.add_attachment("evil.exe", b"MZ\x90\x00" + b"\x00" * 64 + b"This program cannot be run in DOS mode")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def cyclic_pdf(word: str) -> bytes:
    """Text on a page whose resources loop: a form XObject that draws itself, a /Parent cycle."""
    form = _stream(
        b"q /Fx Do Q", b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /XObject << /Fx 6 0 R >> >>"
    )
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Outlines 7 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 /Parent 2 0 R >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 4 0 R >> /XObject << /Fx 6 0 R >> >> /Contents 5 0 R >>",
            _FONT,
            _stream(_text_ops(f"The {word} survives a loop.") + b"/Fx Do\n"),
            form,
            b"<< /Type /Outlines /First 8 0 R /Last 8 0 R /Count 1 >>",
            b"<< /Title (Loop) /Parent 7 0 R /Next 8 0 R /Prev 8 0 R /First 8 0 R >>",
        ]
    )


def reference_loop_pdf() -> bytes:
    """The page tree's only kid is the tree itself: there is no page anywhere."""
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
            b"<< /Type /Pages /Kids [2 0 R] /Count 1 /Parent 2 0 R >>",
        ]
    )


def deeply_nested_pdf(depth: int = 100_000) -> bytes:
    """A page whose content stream and resources nest arrays ``depth`` levels deep."""
    nested = b"[" * depth + b"]" * depth
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
            b"/Contents 5 0 R /Junk " + nested + b" >>",
            _FONT,
            _stream(nested + b" pop\n" + _text_ops("Nested")),
        ]
    )


def latin1_text(word: str = "café") -> bytes:
    return f"Un texte écrit en Latin-1 à propos du {word}, pas en UTF-8.\n".encode("latin-1")


def utf16_text() -> bytes:
    return "A note saved as UTF-16 by an old editor.\n".encode("utf-16")


def docx_file(paragraphs: Sequence[str], heading: str = "") -> bytes:
    """A Word document written by python-docx: an optional heading, then paragraphs."""
    import docx

    d = docx.Document()
    if heading:
        d.add_heading(heading, 1)
    for p in paragraphs:
        d.add_paragraph(p)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def pptx_file(slides: Sequence[tuple[str, str, str]]) -> bytes:
    """A presentation written by python-pptx: (title, body, speaker notes) per slide."""
    from pptx import Presentation

    prs = Presentation()
    for title, body, notes in slides:
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def xlsx_file(sheets: dict[str, Sequence[Sequence[object]]]) -> bytes:
    """A workbook written by openpyxl: sheet title -> rows of values."""
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def eml_file(subject: str, body: str, sender: str = "Ann Lee <ann@example.org>") -> bytes:
    """An e-mail message written by the standard library."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "team@example.org", subject
    msg["Date"] = "Mon, 05 Feb 2024 09:30:00 +0000"
    msg.set_content(body)
    return msg.as_bytes()


def text_image(lines: Sequence[str], size: tuple[int, int] = (1240, 1754)) -> object:
    """A white page with black lines of text, as a scanner would see it (a PIL image)."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 40)
    except OSError:
        font = ImageFont.load_default(size=40)
    for i, line in enumerate(lines):
        draw.text((100, 150 + 80 * i), line, fill=0, font=font)
    return img


def scanned_pdf(pages: Sequence[Sequence[str]]) -> bytes:
    """A PDF of page images of text, without a text layer (what a scanner writes)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1)
    for lines in pages:
        c.drawImage(ImageReader(text_image(lines)), 0, 0, width=A4[0], height=A4[1])
        c.showPage()
    c.save()
    return buf.getvalue()


def png_bytes(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def huge_png(side: int = 20_000) -> bytes:
    """A PNG of ``side`` x ``side`` white pixels: a few hundred KB that decode to gigabytes."""
    import struct

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    comp = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * side  # filter byte, then one grey byte per pixel
    raw = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def zip_bomb_docx(inflated_mb: int = 200) -> bytes:
    """A real DOCX with one extra part of zeros that inflates to ``inflated_mb`` MB."""
    import zipfile

    buf = io.BytesIO(docx_file(["A harmless looking letter."]))
    with zipfile.ZipFile(buf, "a", zipfile.ZIP_DEFLATED) as zf, zf.open("word/media/image1.bin", "w") as f:
        block = b"\x00" * (1 << 20)
        for _ in range(inflated_mb):
            f.write(block)
    return buf.getvalue()


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
    )
    + b"]>\n"
)


def billion_laughs_office(data: bytes, part: str) -> bytes:
    """An Office file whose ``part`` declares the nested entities of the billion-laughs attack."""
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == part:
                body = BILLION_LAUGHS + body.split(b"?>", 1)[1].replace(b"<w:t>", b"<w:t>&lol9;", 1)
            zf.writestr(info, body)
    return out.getvalue()


def corpus() -> list[Case]:
    """Every hostile case, plus good files that must be ingested in the same batch."""
    w = GOOD_WORDS
    return [
        Case(
            "good-before.txt",
            f"The {w[0]} is a small marsupial. It lives on Rottnest Island.\n".encode(),
            True,
            word=w[0],
        ),
        Case("truncated.pdf", truncated_pdf(), False, "truncated pdf"),
        Case("random.pdf", random_bytes(), False, "not a pdf"),
        Case("download.pdf", html_page(), False, "html"),
        Case("empty.pdf", b"", False, "empty"),
        Case("empty.txt", b"", False, "empty"),
        Case("empty.md", b"", False, "empty"),
        Case("blank.txt", b"  \n\t\n  \n", False, "no text"),
        Case("locked.pdf", encrypted_pdf("s3cret-pw", prose("vault")), False, "password"),
        # With OCR (RAG_OCR=auto, RapidOCR installed) a scan is read; a scan of no text is not.
        Case("scanned.pdf", scanned_pdf([[f"The {FORMAT_WORDS[6]} stands on one leg."]]), True, word=FORMAT_WORDS[6]),
        Case("blank-scan.pdf", image_only_pdf(), False, "recognised no text"),
        Case("bomb.pdf", bomb_pdf(300), False, "decompression bomb"),
        Case("page-tree-bomb.pdf", page_tree_bomb_pdf(), False, "pages"),
        Case("javascript.pdf", js_and_attachment_pdf(w[1]), True, word=w[1]),
        Case("cyclic.pdf", cyclic_pdf(w[2]), True, word=w[2]),
        Case("loop.pdf", reference_loop_pdf(), False, "cyclic"),
        Case("nested.pdf", deeply_nested_pdf(), False, "nest"),
        Case("latin1.txt", latin1_text(), False, "utf-8"),
        Case("utf16.txt", utf16_text(), False, "utf-16"),
        Case("notes.md", f"# Notes\n\nThe {w[3]} grove needs water twice a week.\n".encode(), True, word=w[3]),
        *format_cases(),
    ]


def format_cases() -> list[Case]:
    """Good and hostile files of the formats read by their own libraries."""
    f = FORMAT_WORDS
    good_docx = docx_file([f"The {f[0]} crosses the lagoon at dawn."], heading="Venice")
    return [
        Case("letter.docx", good_docx, True, word=f[0]),
        Case("deck.pptx", pptx_file([("Colours", f"A {f[1]} blue wall.", "Say it slowly.")]), True, word=f[1]),
        Case("budget.xlsx", xlsx_file({"Budget": [["Item", "Cost"], [f"{f[2]} cake", 12]]}), True, word=f[2]),
        Case(
            "page.html", f"<html><body><h1>Fruit</h1><p>The {f[3]} is ripe.</p></body></html>".encode(), True, word=f[3]
        ),
        Case("note.eml", eml_file("Coast", f"The {f[4]} keeper retires in May."), True, word=f[4]),
        Case("bomb.docx", zip_bomb_docx(200), False, "zip bomb"),
        Case("laughs.docx", billion_laughs_office(good_docx, "word/document.xml"), False, "billion-laughs"),
        Case("huge.png", huge_png(), False, "decompression bomb"),
        Case("fake.docx", b"Just some text pretending to be Word.\n", False, "not a docx file"),
        Case("broken.xlsx", b"PK\x03\x04" + random_bytes(3000), False, "corrupt xlsx"),
    ]


def slow_pdf(pages: int = 20, inflated_mb: int = 60) -> bytes:
    """Pages that all share one content stream of ``inflated_mb`` MB: small on disk, minutes to parse."""
    comp = zlib.compressobj(9)
    parts = [comp.compress(_text_ops("Slow to read"))]
    block = b" " * (1 << 20)
    for _ in range(inflated_mb):
        parts.append(comp.compress(block))
    parts.append(comp.flush())
    n = pages
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(n))
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n),
        _FONT,
        _stream(b"".join(parts), b"/Filter /FlateDecode"),
    ]
    for _ in range(n):
        objs.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents 4 0 R >>"
        )
    return raw_pdf(objs)
