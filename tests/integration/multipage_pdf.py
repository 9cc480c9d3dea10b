"""A generated multi-page PDF with one distinct fact per page (reportlab), for integration tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

# (page text, question a user would ask, words the answer must contain)
PAGES: list[tuple[str, str, str]] = [
    (
        "Orchard Valley Cooperative - History. The Orchard Valley Cooperative was founded in 1931 by "
        "Agnes Whitlock, a schoolteacher who persuaded eleven neighbouring farms to share one packing shed. "
        "Its first office was a converted railway carriage beside the old mill.",
        "Who founded the Orchard Valley Cooperative?",
        "Agnes Whitlock",
    ),
    (
        "The Cider Press. The cooperative's hydraulic cider press can process 4800 kilograms of apples per hour. "
        "It was installed in 1987 and is cleaned with hot water after every shift. "
        "Pressed pomace is returned to the farms as cattle feed.",
        "How many kilograms of apples can the cider press process per hour?",
        "4800",
    ),
    (
        "Pollination. Honeybees from 37 hives pollinate the pear orchards every April. "
        "The hives are rented from a beekeeper in Ashford and moved at night, when the bees are calm. "
        "Wild bumblebees visit the cherry trees earlier in spring.",
        "How many beehives pollinate the pear orchards?",
        "37",
    ),
    (
        "The Harvest Festival. The annual harvest festival is held in Millbrook town square on the second "
        "Saturday of October. Visitors can taste twelve apple varieties and watch the crowning of the Apple Queen. "
        "Entry is free for children under ten.",
        "Where is the annual harvest festival held?",
        "Millbrook",
    ),
]


def make_pdf(path: Path, pages: list[str] | None = None) -> Path:
    """Write one page per text to ``path`` (letter size, Helvetica 11)."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    texts = pages if pages is not None else [p for p, _, _ in PAGES]
    c = canvas.Canvas(str(path), pagesize=letter)
    c.setTitle("Orchard Valley Cooperative handbook")
    _, height = letter
    for text in texts:
        c.setFont("Helvetica", 11)
        y = height - 72
        for line in textwrap.wrap(text, 90):
            c.drawString(72, y, line)
            y -= 15
        c.showPage()
    c.save()
    return path
