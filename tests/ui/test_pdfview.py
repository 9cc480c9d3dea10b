"""Page rendering: the cited quote is highlighted in yellow on the page image."""

from __future__ import annotations

import numpy as np
import pytest

from rag.errors import RAGError
from tests.conftest import SAMPLE_DOCS
from ui.pdfview import render_page

GUIDE = SAMPLE_DOCS / "field-guide-to-tidepools.pdf"
QUOTE = "A minus tide is a low tide that drops below chart datum."


def _yellow(img, box=None) -> int:
    a = np.asarray(img.crop(box) if box else img).astype(int)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    return int(((r > 230) & (g > 200) & (b < 170)).sum())


def test_quote_is_highlighted_where_it_is_on_the_page():
    page = render_page(GUIDE, 2, QUOTE, width_px=1000, trim=False)
    assert page.n_pages == 7 and page.image.width == 1000
    assert 1 <= len(page.boxes) <= 3  # one rectangle per line of the quote
    x0, y0, x1, y1 = page.boxes[0]
    assert _yellow(page.image, (int(x0), int(y0), int(x1), int(y1))) > 0.3 * (x1 - x0) * (y1 - y0)
    # Only the quote is yellow: the top third of the page (title, first paragraph) is not.
    assert _yellow(page.image, (0, 0, 1000, int(y0) - 5)) == 0


def test_trimmed_page_keeps_the_highlight_on_the_quote():
    full = render_page(GUIDE, 2, QUOTE, trim=False)
    page = render_page(GUIDE, 2, QUOTE)
    assert page.image.width < full.image.width and page.image.height <= full.image.height
    x0, y0, x1, y1 = page.boxes[0]
    assert _yellow(page.image, (int(x0), int(y0), int(x1), int(y1))) > 0.3 * (x1 - x0) * (y1 - y0)
    assert _yellow(page.image) == _yellow(full.image)  # nothing highlighted was cut off


def test_other_page_or_missing_quote_has_no_highlight():
    assert render_page(GUIDE, 3, QUOTE).boxes == []
    plain = render_page(GUIDE, 2, "")
    assert plain.boxes == [] and _yellow(plain.image) == 0


def test_generated_pdf_quote_is_found(tmp_path):
    from tests.integration.multipage_pdf import make_pdf

    pdf = make_pdf(tmp_path / "o.pdf")
    page = render_page(pdf, 2, "It was installed in 1987 and is cleaned with hot water after every shift.")
    assert page.boxes


def test_bad_page_and_bad_file_are_errors(tmp_path):
    with pytest.raises(RAGError, match="page 9 does not exist"):
        render_page(GUIDE, 9, QUOTE)
    bad = tmp_path / "x.pdf"
    bad.write_bytes(b"nope")
    with pytest.raises(RAGError, match="cannot open x.pdf"):
        render_page(bad, 1)
