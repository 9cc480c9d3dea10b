"""Generate the bundled sample PDFs in this folder.

    /work/main/.venv/bin/python sample_docs/make_samples.py

Writes ``field-guide-to-tidepools.pdf`` (7 pages) and ``acme-handbook.pdf``
(5 pages) next to this script.  All text is original and fictional
(Harbor Point and the Acme Lantern Company do not exist).

The PDFs have a real text layer (reportlab platypus paragraphs in the
standard Helvetica/Courier fonts, plain ASCII only) so pypdf can extract
every word.  Each section is exactly one physical page: the script checks
the page count after building, so a section that grows too long fails
loudly instead of silently shifting the gold page numbers used by
``eval/sample_docs.jsonl``.

Output is deterministic (``invariant=1`` pins the creation date and the
document ID), so re-running the script reproduces identical bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import PageBreak, Paragraph, Preformatted, SimpleDocTemplate, Spacer

HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------
# Content.  A document is (title, subtitle, [pages]); a page is
# (heading, [blocks]); a block is a paragraph string, or ("table", [lines])
# for fixed-width rows drawn as plain text lines.
# --------------------------------------------------------------------------

TIDEPOOLS = (
    "A Field Guide to the Tidepools of Harbor Point",
    "Harbor Point Marine Station",
    [
        (
            "1. About This Guide and the Intertidal Zone",
            [
                "This field guide was written for visitors to the Harbor Point tidepools, a rocky "
                "shoreline cared for by the Harbor Point Marine Station. The station was founded in "
                "1987 by the marine biologist Dr. Miriam Okafor. The guide describes the animals most "
                "often seen in the pools, explains how to read the tides, and lists the rules that "
                "protect the shore.",
                "A tidepool is a pocket of seawater that stays behind among the rocks when the tide "
                "goes out. Animals living in a tidepool must survive large changes in temperature, "
                "saltiness and oxygen every day.",
                "The intertidal zone is the strip of shore between the highest high tide and the lowest "
                "low tide. Biologists divide it into four bands: the splash zone, the high zone, the "
                "middle zone and the low zone. The low zone is uncovered only during the lowest tides, "
                "and it holds the greatest variety of life.",
                "The Harbor Point shoreline is 2.4 kilometers long and contains about 340 permanent "
                "pools. The largest pool, known locally as the Cauldron, is 11 meters wide.",
            ],
        ),
        (
            "2. Reading the Tides",
            [
                "Harbor Point has two high tides and two low tides each day. The time from one high "
                "tide to the next is about 12 hours and 25 minutes, so each low tide arrives roughly "
                "50 minutes later than it did the day before.",
                "Tide heights are measured from a reference level called chart datum. A minus tide is "
                "a low tide that drops below chart datum. Minus tides expose the low zone, so they are "
                "the best time to explore the pools.",
                "Spring tides are the extra-large tides that happen near the full moon and the new "
                "moon. Neap tides are the small tides that happen near the first quarter and last "
                "quarter moon.",
                "Plan to arrive one hour before low tide, and head back to the beach as soon as the "
                "water starts to rise. Every Monday the station posts a printed tide table at the "
                "trailhead kiosk next to the parking lot.",
            ],
        ),
        (
            "3. Sea Stars",
            [
                "The ochre sea star (Pisaster ochraceus) is the most common sea star at Harbor Point. "
                "It usually has five arms and may be purple, orange or brown. A fully grown ochre sea "
                "star can measure about 25 centimeters across.",
                "Sea stars walk on hundreds of tiny tube feet that are moved by water pressure. To "
                "feed, the ochre sea star pries a mussel open slightly, pushes its own stomach out "
                "through its mouth, and digests the mussel inside its shell.",
                "A sea star can regrow a lost arm, but growing back a complete arm takes about one "
                "year.",
                "In 2014 a disease called sea star wasting syndrome killed large numbers of sea stars "
                "along the coast. Station volunteers first recorded signs of the disease at Harbor "
                "Point on 9 September 2014.",
                "The leather star is a smaller relative with a smooth, slippery skin. Visitors often "
                "notice that it smells like garlic.",
            ],
        ),
        (
            "4. Anemones and Urchins",
            [
                "The giant green anemone gets its bright green color from tiny algae that live inside "
                "its tissues. Like all anemones, it catches small animals with stinging cells called "
                "nematocysts. The sting is far too weak to hurt a person, and a gentle touch feels "
                "sticky.",
                "The aggregating anemone copies itself by splitting in two. Over time the copies form "
                "a dense carpet of identical clones that can cover a whole rock.",
                "When the tide is out, anemones close up into soft blobs to keep from drying out. Many "
                "cover themselves with bits of shell and gravel to reflect sunlight.",
                "The purple sea urchin is a round animal covered in sharp purple spines. It eats kelp "
                "and other algae. It scrapes up its food with a five-toothed mouth called Aristotle's "
                "lantern.",
                "Purple sea urchins slowly grind shallow pits into solid rock with their spines and "
                "teeth, and each urchin may spend its whole life in the same pit.",
            ],
        ),
        (
            "5. Crabs and Snails",
            [
                "Hermit crabs do not grow a shell of their own. Instead they live in empty snail "
                "shells and move into a larger shell as they grow. At Harbor Point, hermit crabs most "
                "often use the empty shells of the black turban snail.",
                "The black turban snail (Tegula funebralis) is a small black snail that grazes on "
                "algae growing on the rocks. It can live for up to 30 years.",
                "The purple shore crab hides under rocks during the day and comes out to feed at "
                "night. It eats mostly algae, and it will raise its claws when it is disturbed.",
                "The gooseneck barnacle grows in dense clusters on rocks pounded by waves. Each "
                "barnacle is attached by a rubbery stalk, and it sweeps food out of the water with "
                "feathery legs.",
                "The California mussel forms thick beds in the middle zone. A single mussel bed can "
                "shelter more than 300 kinds of small animals.",
            ],
        ),
        (
            "6. Volunteer Survey Results, 2020 to 2023",
            [
                "Every June, station volunteers count the animals along a fixed 100-meter survey line "
                "in the middle zone. The table below shows the counts for six common animals.",
                (
                    "table",
                    [
                        "Animal                 2020   2021   2022   2023",
                        "---------------------  ----   ----   ----   ----",
                        "Ochre sea star          212    187    143    166",
                        "Giant green anemone     318    331    349    362",
                        "Purple sea urchin        74     91    128    157",
                        "Black turban snail     1240   1315   1188   1402",
                        "Hermit crab             405    389    421    436",
                        "Purple shore crab        58     63     49     81",
                    ],
                ),
                "Sea star numbers are still lower than before the wasting syndrome outbreak, while "
                "purple sea urchin numbers have roughly doubled since 2020.",
                "The 2023 survey was carried out on 17 June by a team of 14 volunteers led by the "
                "station's education coordinator, Tomas Reyes.",
            ],
        ),
        (
            "7. Safety and Tidepool Rules",
            [
                "Never turn your back on the ocean. A sneaker wave is an unexpectedly large wave that "
                "can sweep far up the shore without warning.",
                "Wear closed shoes with good grip, because wet algae make the rocks very slippery.",
                "If you lift a rock to look underneath, put it back gently exactly as you found it. "
                "Touch animals with one wet finger only, and never pull an anemone or a sea star off "
                "a rock.",
                "Collecting any animal, shell or rock at Harbor Point is prohibited. The fine for "
                "collecting is 250 dollars.",
                "Dogs are not allowed on the rocks. Groups of more than 12 people must book their "
                "visit with the station at least 10 days ahead.",
                "The station's visitor center is open from 9 a.m. to 4 p.m., Wednesday to Sunday. In "
                "an emergency, call the coast rescue line at 555-0142.",
            ],
        ),
    ],
)

ACME = (
    "Acme Lantern Company Employee Handbook",
    "Acme Lantern Company - People Team",
    [
        (
            "1. Welcome and Office Hours",
            [
                "Welcome to the Acme Lantern Company. Acme designs and sells camping lanterns and has "
                "about 240 employees. Our head office is at 14 Millbrook Road, Riverton. This handbook "
                "is owned by the People Team and was last updated on 3 March 2024.",
                "The head office is open from 8:00 a.m. to 6:30 p.m., Monday to Friday. Core hours are "
                "10:00 a.m. to 3:00 p.m.; every employee should be available for meetings during core "
                "hours.",
                "With their manager's approval, employees may work from home for up to two days per "
                "week.",
                "The IT Service Desk is in Room 2.14 on the second floor. The staff kitchen on the "
                "third floor serves free breakfast every Friday.",
            ],
        ),
        (
            "2. Leave Policy",
            [
                "Full-time employees receive 25 days of paid annual leave per year, in addition to "
                "public holidays. Part-time employees receive annual leave in proportion to their "
                "working hours.",
                "Up to 5 days of unused annual leave may be carried over into the next year. "
                "Carried-over days must be used by 31 March, or they are lost.",
                "Any leave longer than three working days in a row must be requested in the HR portal "
                "at least 14 days in advance.",
                "Employees receive 10 days of paid sick leave per year. A doctor's note is needed for "
                "any sickness lasting more than seven calendar days.",
                "Every new parent, whatever their gender, is entitled to 18 weeks of parental leave at "
                "full pay. Each employee may also take 2 days of paid volunteering leave per year.",
            ],
        ),
        (
            "3. Travel and Expenses",
            [
                "While travelling for work, meals are reimbursed up to 60 dollars per day.",
                "Hotel stays are reimbursed up to 190 dollars per night. In London, New York and Tokyo "
                "the hotel limit is raised to 260 dollars per night.",
                "A receipt is required for any single expense over 20 dollars. Expense claims must be "
                "submitted in the finance system within 45 days of the date of the expense; later "
                "claims are not paid.",
                "Flights must be booked in economy class. Business class is allowed only for flights "
                "longer than 8 hours.",
                "Entertaining clients requires written approval from a director before the event.",
            ],
        ),
        (
            "4. Information Security",
            [
                "A security incident is any event that could expose company or customer data, such as "
                "a lost laptop, a stolen badge or a phishing email.",
                "Wear your ID badge where it can be seen at all times. Report a lost badge to the IT "
                "Service Desk on the same day.",
                "Passwords must be at least 14 characters long. Multi-factor authentication is "
                "required for email and for the VPN. Laptops lock automatically after 5 minutes of "
                "inactivity, but you should lock your screen whenever you leave your desk.",
                "Report a suspected phishing email or any other incident to security@acme-lantern.example "
                "within 1 hour of noticing it.",
                "Visitors must sign in at reception and must be escorted by an employee at all times. "
                "Never plug a USB drive that you found into a company computer.",
            ],
        ),
        (
            "5. On-Call Rotation",
            [
                "Engineers on the Platform team share an on-call rotation so that customer-facing "
                "systems are supported at all hours.",
                "Each on-call shift lasts one week and starts on Monday at 10:00 a.m. No engineer "
                "should be on call for more than one week in every five.",
                "Alerts are sent through the Klaxon paging app. The on-call engineer must acknowledge "
                "a page within 15 minutes. If the primary engineer does not acknowledge, the page is "
                "escalated to the secondary engineer and then to the engineering manager.",
                "On-call engineers receive a stipend of 350 dollars for each week on call. After a week "
                "with a call-out between midnight and 6:00 a.m., the engineer also receives one day "
                "off in lieu.",
                "At the end of each shift, the outgoing engineer writes a short handover note in the "
                "#platform-oncall channel.",
            ],
        ),
    ],
)

OUTPUTS = {
    "field-guide-to-tidepools.pdf": TIDEPOOLS,
    "acme-handbook.pdf": ACME,
}


def _styles():
    base = getSampleStyleSheet()
    return {
        "doc_title": ParagraphStyle(
            "DocTitle", parent=base["Normal"], fontName="Helvetica-Oblique", fontSize=9,
            leading=11, textColor="#555555", alignment=TA_CENTER, spaceAfter=14,
        ),
        "heading": ParagraphStyle(
            "PageHeading", parent=base["Heading1"], fontName="Helvetica-Bold", fontSize=18,
            leading=22, spaceAfter=14,
        ),
        "body": ParagraphStyle(
            "Body", parent=base["Normal"], fontName="Helvetica", fontSize=11, leading=15,
            spaceAfter=10,
        ),
        "table": ParagraphStyle(
            "TableText", parent=base["Code"], fontName="Courier", fontSize=10, leading=14,
            leftIndent=12, spaceBefore=4, spaceAfter=12,
        ),
    }


def build(path: Path, doc: tuple) -> int:
    title, subtitle, pages = doc
    st = _styles()

    def footer(canvas, document):
        canvas.saveState()
        canvas.setFont("Helvetica", 9)
        canvas.setFillColor("#555555")
        canvas.drawString(inch, 0.6 * inch, title)
        canvas.drawRightString(letter[0] - inch, 0.6 * inch, f"Page {document.page} of {len(pages)}")
        canvas.restoreState()

    story = []
    for i, (heading, blocks) in enumerate(pages):
        if i:
            story.append(PageBreak())
        story.append(Paragraph(f"{title} - {subtitle}", st["doc_title"]))
        story.append(Paragraph(heading, st["heading"]))
        for block in blocks:
            if isinstance(block, tuple) and block[0] == "table":
                story.append(Preformatted("\n".join(block[1]), st["table"]))
            else:
                story.append(Paragraph(block, st["body"]))
        story.append(Spacer(1, 6))

    template = SimpleDocTemplate(
        str(path), pagesize=letter, title=title, author=subtitle, subject="Sample document for rag",
        creator="sample_docs/make_samples.py", leftMargin=inch, rightMargin=inch,
        topMargin=inch, bottomMargin=inch, invariant=1,
    )
    template.build(story, onFirstPage=footer, onLaterPages=footer)
    return template.page


def _check_ascii(doc: tuple) -> None:
    title, subtitle, pages = doc
    texts = [title, subtitle]
    for heading, blocks in pages:
        texts.append(heading)
        for b in blocks:
            texts.extend(b[1] if isinstance(b, tuple) else [b])
    for t in texts:
        if not t.isascii():
            raise SystemExit(f"non-ASCII text would not extract reliably: {t!r}")


def main() -> int:
    ok = True
    for name, doc in OUTPUTS.items():
        _check_ascii(doc)
        n = build(HERE / name, doc)
        expected = len(doc[2])
        status = "ok" if n == expected else f"MISMATCH (expected {expected}: a section overflowed)"
        print(f"{name}: {n} pages {status}")
        ok &= n == expected
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
