"""Offline OCR for scanned pages and images, chosen by RAG_OCR (auto | off | rapidocr).

RapidOCR (PyPI ``rapidocr-onnxruntime``) carries its detection and recognition models
in its package and runs them with ONNX Runtime on the CPU: nothing is downloaded. The
engine is created on the first page that needs it, inside the parser's worker process
(ingest/extract.py), so its memory and time count against that file's limits.
"""

from __future__ import annotations

import io
import logging
import os

from rag.errors import IngestError

logger = logging.getLogger(__name__)

ENGINES = ("rapidocr",)
MAX_IMAGE_PIXELS = 60_000_000  # an image file or a rendered page larger than this is refused
RENDER_LONG_SIDE = 2000  # pixels along a rendered PDF page's longer side (about 170 dpi on A4)
MIN_PAGE_CHARS = 25  # a PDF page with fewer characters of text, and an image, is recognised


class OCR:
    """The engine RAG_OCR names, created on first use; ``name`` is "" when OCR is off."""

    def __init__(self, choice: str = "auto") -> None:
        choice = (choice or "auto").strip().lower()
        if choice not in ("auto", "off", *ENGINES):
            raise ValueError(f"RAG_OCR must be auto, off or one of {', '.join(ENGINES)} (got {choice!r})")
        self.choice = choice
        self._engine = None
        self.why_not = ""
        if choice == "off":
            self.name = ""
            self.why_not = "OCR is off (RAG_OCR=off; set RAG_OCR=auto to recognise scanned pages)"
        elif _importable("rapidocr_onnxruntime"):
            self.name = "RapidOCR"
        else:
            self.name = ""
            self.why_not = "OCR is not available in this installation (pip install rapidocr-onnxruntime)"

    def __bool__(self) -> bool:
        return bool(self.name)

    def recognise(self, image) -> str:
        """The text of a PIL image, line by line, top to bottom."""
        import numpy as np

        if self._engine is None:
            from rapidocr_onnxruntime import RapidOCR

            _claim_ocr_memory()

            cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
            threads = max(1, min(4, cpus or 1))
            self._engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)
        result, _ = self._engine(np.asarray(image.convert("RGB")))
        return lines_from_boxes(result or [])


def _claim_ocr_memory() -> None:
    """Raise this parser process's memory limit to the room kept for OCR (its hard limit,
    set by ingest/extract.py): the engine's arenas and a rendered page need more address
    space than parsing a text file does."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or hard > soft):
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def lines_from_boxes(result) -> str:
    """Recognised boxes ``[(corners, text, score), ...]`` as lines of text: boxes whose
    vertical centres are within half a line of each other are one line, left to right."""
    boxes = []
    for corners, text, _score in result:
        ys = [p[1] for p in corners]
        xs = [p[0] for p in corners]
        boxes.append(((min(ys) + max(ys)) / 2, max(ys) - min(ys), min(xs), str(text).strip()))
    boxes.sort()
    lines: list[list[tuple]] = []
    for box in boxes:
        if lines and abs(box[0] - lines[-1][0][0]) <= max(4.0, 0.5 * lines[-1][0][1]):
            lines[-1].append(box)
        else:
            lines.append([box])
    return "\n".join(" ".join(b[3] for b in sorted(line, key=lambda b: b[2]) if b[3]) for line in lines)


def open_image(name: str, data: bytes):
    """A PNG or JPEG file as a PIL image, its size checked before its pixels are decoded."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        img = Image.open(io.BytesIO(data))
        w, h = img.size
        if w * h > MAX_IMAGE_PIXELS:
            raise IngestError(name, _too_big(w, h))
        img.load()
    except IngestError:
        raise
    except Image.DecompressionBombError:
        raise IngestError(name, "image is too large to decode (possible decompression bomb)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise IngestError(name, f"corrupt image ({str(e)[:120]})") from None
    return img


def _too_big(w: int, h: int) -> str:
    return (
        f"image is {w}×{h} pixels ({w * h / 1e6:.0f} MP), over the limit of "
        f"{MAX_IMAGE_PIXELS / 1e6:.0f} MP (possible decompression bomb)"
    )


def load_image(name: str, data: bytes, limits, ocr: OCR):
    from ingest.clean import clean_text
    from ingest.loaders import Loaded
    from rag.types import Page

    if not ocr:
        raise IngestError(name, f"an image has no text layer — needs OCR ({ocr.why_not})")
    img = open_image(name, data)
    text = clean_text(ocr.recognise(img))[: limits.max_page_chars]
    if not text:
        raise IngestError(name, f"no text: {ocr.name} recognised no text in the image")
    return Loaded(pages=[Page(1, text, "image (OCR)")], n_pages=1, warnings=[])


def open_pdfium(data: bytes, passwords: tuple[str, ...] = ()):
    """The PDF opened by PDFium (with the first password that opens it); ValueError if none does."""
    import pypdfium2 as pdfium

    for pw in (None, *passwords):
        try:
            return pdfium.PdfDocument(data, password=pw)
        except pdfium.PdfiumError:
            continue
    raise ValueError("PDFium cannot open the file")


def render_pdf_page(data: bytes, index: int, passwords: tuple[str, ...] = ()):
    """Page ``index`` (0-based) of a PDF rendered by PDFium as a PIL image."""
    doc = open_pdfium(data, passwords)
    try:
        page = doc[index]
        w, h = page.get_size()
        scale = RENDER_LONG_SIDE / max(w, h, 1)
        if w * h * scale * scale > MAX_IMAGE_PIXELS:
            raise ValueError("page too large to render")
        return page.render(scale=scale, grayscale=True).to_pil()
    finally:
        doc.close()


def page_has_image(page) -> bool:
    """Whether a pypdf page draws an image (directly or inside a form, two levels deep)."""

    def images(resources, depth: int) -> bool:
        try:
            xobjects = resources.get("/XObject") if resources is not None else None
            if xobjects is None:
                return False
            xobjects = xobjects.get_object()
            for ref in xobjects.values():
                obj = ref.get_object()
                subtype = obj.get("/Subtype")
                if subtype == "/Image":
                    return True
                if subtype == "/Form" and depth < 2 and images(obj.get("/Resources"), depth + 1):
                    return True
        except Exception:  # noqa: BLE001 - a broken resource dictionary has no image we can use
            return False
        return False

    try:
        return images(page.get("/Resources"), 0)
    except Exception:  # noqa: BLE001
        return False
