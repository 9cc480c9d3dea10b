"""Render a PDF page as an image with a quote highlighted (pypdfium2 + PIL)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

from rag.errors import RAGError
from ui.render import locate

logger = logging.getLogger(__name__)

HIGHLIGHT_FILL = (255, 214, 0, 105)  # semi-transparent yellow


@dataclass
class PageImage:
    image: Image.Image
    boxes: list[tuple[float, float, float, float]]  # highlighted rectangles, in image pixels
    n_pages: int


def render_page(path: Path, page: int, quote: str = "", width_px: int = 1000, trim: bool = True) -> PageImage:
    """Render 1-based ``page`` of the PDF at ``path`` about ``width_px`` wide, ``quote`` highlighted.

    With ``trim``, blank margins are cut off so the text shows larger on small screens.
    """
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except (pdfium.PdfiumError, OSError) as e:
        raise RAGError(f"cannot open {path.name} to show the page ({e})") from None
    try:
        n_pages = len(pdf)
        if not 1 <= page <= n_pages:
            raise RAGError(f"page {page} does not exist (the file has {n_pages} pages)")
        pg = pdf[page - 1]
        width_pt, height_pt = pg.get_size()
        scale = max(0.5, min(4.0, width_px / max(width_pt, 1.0)))
        image = pg.render(scale=scale, rotation=0).to_pil().convert("RGBA")
        boxes = _quote_boxes(pg, quote, scale, height_pt) if quote.strip() else []
        if boxes:
            image = _draw(image, boxes)
        image, boxes = _trim(image.convert("RGB"), boxes) if trim else (image.convert("RGB"), boxes)
        return PageImage(image, boxes, n_pages)
    finally:
        pdf.close()


def _quote_boxes(pg, quote: str, scale: float, height_pt: float) -> list[tuple[float, float, float, float]]:
    textpage = pg.get_textpage()
    try:
        text = textpage.get_text_range()
        boxes = []
        for start, end in locate(text, quote):
            n = textpage.count_rects(start, end - start)
            for i in range(n):
                left, bottom, right, top = textpage.get_rect(i)
                boxes.append((left * scale, (height_pt - top) * scale, right * scale, (height_pt - bottom) * scale))
        return boxes
    finally:
        textpage.close()


def _draw(image: Image.Image, boxes: list[tuple[float, float, float, float]]) -> Image.Image:
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for x0, y0, x1, y1 in boxes:
        draw.rectangle((x0 - 2, y0 - 2, x1 + 2, y1 + 2), fill=HIGHLIGHT_FILL)
    return Image.alpha_composite(image, layer)


def _trim(image: Image.Image, boxes: list, pad: int = 24) -> tuple[Image.Image, list]:
    """Cut the blank margins around the page content (keeping ``pad`` pixels)."""
    ink = ImageOps.invert(image.convert("L")).point(lambda v: 255 if v > 12 else 0)
    bbox = ink.getbbox()
    if bbox is None:
        return image, boxes
    x0, y0 = max(0, bbox[0] - pad), max(0, bbox[1] - pad)
    x1, y1 = min(image.width, bbox[2] + pad), min(image.height, bbox[3] + pad)
    moved = [(a - x0, b - y0, c - x0, d - y0) for a, b, c, d in boxes]
    return image.crop((x0, y0, x1, y1)), moved
