"""Quoting the passage sentence that answers a question (pure functions, no models)."""

from __future__ import annotations

from dataclasses import replace

from rag.citations import content_words, missing_specifics, specific_terms
from rag.quotes import (
    answer_type,
    best_quote,
    caption_after,
    code_terms,
    defines,
    entry_span,
    focus_term,
    labels,
    naming_numbers,
    narrow_answer,
    plain_text,
    question_coverage,
    rank_quotes,
    read_row,
    table_extent,
    table_rows,
)
from rag.types import Hit


def _hit(text: str, n: int = 1, doc: str = "book.pdf") -> Hit:
    return Hit(chunk_id=n, doc=doc, page=n, text=text, score=1.0, rank=n, end=len(text))


def test_the_answer_in_the_sentence_after_the_question_words_is_quoted():
    text = (
        "The Dodo asked what else she had in her pocket, and said it would present her prize. "
        "'Only a thimble,' said Alice sadly. Then they all crowded round her once more."
    )
    q = best_quote("What did the Dodo present to Alice as her prize?", [_hit(text)])
    assert q is not None and "thimble" in q.text
    assert text[q.start : q.end] == q.text


def test_a_quantity_question_prefers_the_sentence_with_a_number():
    text = (
        "The cider press is the heart of the orchard barn. "
        "The cider press can process 500 kilograms of apples per hour. "
        "The press is cleaned every evening."
    )
    q = best_quote("How many kilograms of apples can the cider press process per hour?", [_hit(text)])
    assert "500 kilograms" in q.text


def test_a_short_label_before_the_definition_is_part_of_the_quote():
    text = (
        "Deployment Models: Private cloud. The infrastructure is provisioned for exclusive use by one "
        "organization. Public cloud. The infrastructure is provisioned for open use by the general public "
        "and exists on the premises of the cloud provider."
    )
    q = best_quote("Which deployment model exists on the premises of the cloud provider?", [_hit(text)])
    assert q.text.startswith("Public cloud.") and "premises" in q.text


def test_words_of_the_file_name_do_not_pick_the_sentence():
    # "coffee" and "brewing" name the document; within it they say nothing about the answer.
    named = frozenset(content_words("coffee"))  # stemmed, as file-name words are
    assert question_coverage("water temperature for coffee", "coffee and water", named) == 0.5
    assert question_coverage("coffee", "coffee", named) == 1.0  # nothing else to count
    text = (
        "The ideal water temperature for hot brewing is between 92 and 96 degrees. "
        "A cup of brewed coffee is mostly water, so the water matters."
    )
    question = "What temperature should the water be when brewing coffee?"
    assert best_quote(question, [_hit(text, doc="coffee-brewing.txt")]).text == text.split(". ")[0] + "."
    assert "cup" in best_quote(question, [_hit(text, doc="notes.txt")]).text
    # ...but the gate's coverage (Quote.lexical) still counts them: "orchards" is a word of
    # the question that the sentence holds, whatever the file is called.
    bees = "Pollination. Honeybees from 37 hives pollinate the pear orchards every April."
    q = best_quote("How many beehives pollinate the pear orchards?", [_hit(bees, doc="orchard.pdf")])
    assert q.lexical == best_quote("How many beehives pollinate the pear orchards?", [_hit(bees)]).lexical


SURVEY = (
    "Survey Results\nEvery June, volunteers count the animals along the survey line.\n"
    "Animal 2020 2021 2022 2023\n---------- ---- ---- ---- ----\n"
    "Ochre sea star 212 187 143 166\nHermit crab 405 389 421 436\nPurple shore crab 58 63 49 81\n"
    "Crab numbers rose again in 2023 after a poor year in 2022, the volunteers wrote.\n"
)


def test_table_rows_come_with_their_header_line():
    rows = table_rows(SURVEY)
    assert [SURVEY[s:e] for (s, e), _ in rows] == [
        "Ochre sea star 212 187 143 166",
        "Hermit crab 405 389 421 436",
        "Purple shore crab 58 63 49 81",
    ]
    assert {SURVEY[h[0] : h[1]] for _, h in rows} == {"Animal 2020 2021 2022 2023"}
    # A header line above the numbers ("Implementation ID Name") is taken as it is.
    ids = "Table 4. Implementation IDs\nImplementation ID Name\n0 Berkeley Boot Loader (BBL)\n1 OpenSBI\n2 Xvisor"
    (row, head), *_ = table_rows(ids)
    assert ids[row[0] : row[1]] == "0 Berkeley Boot Loader (BBL)" and ids[head[0] : head[1]] == "Implementation ID Name"
    # Prose lines that happen to hold a number are no table, and neither is one lone row.
    prose = (
        "The 2023 survey was carried out on 17 June by a team of fourteen volunteers led by the\n"
        "station's education coordinator, who has counted the same line since 1998 and\n"
        "Animal 2020 2021\n"
    )
    assert table_rows(prose) == []
    # A first line of measurements is a row of a table without a header.
    measured = "RAGAS Accuracy 31.4% 71.2% 17.2%\nARES Accuracy 79.3% 97.2% 92.3%\n"
    assert [(measured[s:e], h) for (s, e), h in table_rows(measured)] == [
        ("RAGAS Accuracy 31.4% 71.2% 17.2%", None),
        ("ARES Accuracy 79.3% 97.2% 92.3%", None),
    ]


PUMP_STATES = (
    "Table 3. Pump states\n"
    "Code Name Meaning\n"
    "0 IDLE The pump is powered and waiting for a\n"
    "demand signal.\n"
    "1 PRIMING The pump is filling its casing with water\n"
    "before it starts.\n"
    "2 RUNNING The pump delivers water at the set\n"
    "pressure and reports its flow every second.\n"
    "3 FAULT The pump has stopped after a fault.\n"
    "A pump in FAULT must be reset by hand before it runs again.\n"
)


def test_rows_that_wrap_over_lines_are_read_whole():
    rows = table_rows(PUMP_STATES)
    assert [" ".join(PUMP_STATES[s:e].split()) for (s, e), _ in rows] == [
        "0 IDLE The pump is powered and waiting for a demand signal.",
        "1 PRIMING The pump is filling its casing with water before it starts.",
        "2 RUNNING The pump delivers water at the set pressure and reports its flow every second.",
        "3 FAULT The pump has stopped after a fault.",  # the paragraph after the table is no row
    ]
    assert {PUMP_STATES[h[0] : h[1]] for _, h in rows} == {"Code Name Meaning"}
    q = best_quote("What is the name of pump state code 2?", [_hit(PUMP_STATES)])
    assert q.shown.startswith("Code Name Meaning: 2 RUNNING The pump delivers water")
    # A numbered list of prose under a sentence is no table.
    steps = PUMP_STATES.replace("Code Name Meaning", "The pump moves through these states in turn.")
    assert table_rows(steps) == []


# A table of figures as a PDF prints it: a title, column groups over column names, row
# labels wrapped onto lines of their own, and a caption below.
TRIALS = (
    "Trial Results on Two Farms\n"
    "North South\n"
    "Y.R. W.U. Y.R. W.U.\n"
    "Mean over\n"
    "Drip Irrigation 6.1 410 5.8 395\n"
    "Mean over\n"
    "Flood Irrigation 5.2 620 4.9 640\n"
    "Table 2: Yield rate (Y.R., tonnes per hectare) and water use (W.U., mm) per farm,\n"
    "over the 2023 season.\n"
    "Drip irrigation used a third less water on both farms.\n"
)


def test_a_table_of_figures_is_read_cell_by_cell():
    rows = table_rows(TRIALS)
    assert [" ".join(TRIALS[s:e].split()) for (s, e), _ in rows] == [
        "Mean over Drip Irrigation 6.1 410 5.8 395",  # the wrapped label belongs to its row
        "Mean over Flood Irrigation 5.2 620 4.9 640",
    ]
    header = {TRIALS[h[0] : h[1]] for _, h in rows}
    assert header == {"North South\nY.R. W.U. Y.R. W.U."}  # the groups over the names, not the title
    row = "Mean over Drip Irrigation 6.1 410 5.8 395"
    assert read_row(*header, row) == (
        "Mean over Drip Irrigation — North Y.R.: 6.1, North W.U.: 410, South Y.R.: 5.8, South W.U.: 395"
    )
    # The columns the question names, by their words or their initials; the row's own
    # words ("drip") are no initials of a column.
    asked = "What yield rate did drip irrigation give on the South farm?"
    assert read_row(*header, row, asked) == "Mean over Drip Irrigation — South Y.R.: 5.8"
    assert read_row(*header, row, "How much water did drip irrigation use?") == read_row(*header, row)
    q = best_quote(asked, [_hit(TRIALS)])
    assert q.shown == "Mean over Drip Irrigation — South Y.R.: 5.8" and TRIALS[q.start : q.end] == q.text
    assert caption_after(TRIALS, TRIALS.index("640") + 3).startswith("Table 2: Yield rate")


def test_a_passage_that_cuts_a_table_of_figures_is_read_with_the_whole_table():
    page = "Methods are in section 2.\n" + TRIALS
    cut = page.index("Flood")  # a chunk that begins at the second row
    start, end = table_extent(page, cut, len(page))
    assert page[start:].startswith("Trial Results on Two Farms") and end == len(page)
    caption = page.index("Table 2")  # a chunk of the caption alone
    assert table_extent(page, caption + 10, caption + 40)[0] == page.index("Trial Results")
    prose = page.index("Drip irrigation used")  # a chunk after the caption's two lines cuts no table
    assert table_extent(page, prose, len(page)) == (prose, len(page))
    # A table without figures (identifiers and names) is left as the passage has it.
    ids = "Implementation ID Name\n0 Berkeley Boot Loader (BBL)\n1 OpenSBI\n2 Xvisor\n"
    assert table_extent(ids, 30, len(ids)) == (30, len(ids))


def test_a_named_measure_is_answered_by_the_sentence_that_gives_its_value():
    question = "What learning rate was used when fine-tuning the judges?"
    assert narrow_answer(question, "we use linear warmup with a 5e-6 learning rate") is True
    assert narrow_answer(question, "a learning rate of 0.001 worked best") is True
    assert narrow_answer(question, "the learning rate was tuned by hand") is False  # no value
    text = (
        "Our fine-tuned judges were trained on synthetic data for every judge we used. "
        "The schedule was linear warmup with a 5e-6 learning rate."
    )
    q = best_quote(question, [_hit(text)])
    assert "5e-6" in q.text  # not the sentence that repeats more of the question's words


def test_a_row_reads_with_its_column_names():
    assert read_row("Animal 2020 2021", "Hermit crab 405 389") == "Hermit crab — 2020: 405, 2021: 389"
    assert read_row("Implementation ID Name", "0 Berkeley Boot Loader (BBL)") == (
        "Implementation ID Name: 0 Berkeley Boot Loader (BBL)"
    )
    assert read_row(None, "ARES  Accuracy 79.3%") == "ARES Accuracy 79.3%"


def test_a_table_question_is_answered_by_its_row_under_the_header():
    q = best_quote("How many hermit crabs did the volunteers count in the 2021 survey?", [_hit(SURVEY)])
    assert q.text == "Hermit crab 405 389 421 436" and SURVEY[q.start : q.end] == q.text  # the page's own text
    assert q.shown == "Hermit crab — 2021: 389"  # what the answer says: the column asked about
    q = best_quote("How many hermit crabs did the volunteers count?", [_hit(SURVEY)])
    assert q.shown == "Hermit crab — 2020: 405, 2021: 389, 2022: 421, 2023: 436"  # no column named: all
    # Asked about an animal the table has no row for, no row (nor the whole table) is quoted.
    ranked = rank_quotes("How many sea otters did the volunteers count in the 2022 survey?", [_hit(SURVEY)])
    assert ranked and not any(q.shown or "405" in q.text or "212" in q.text for q in ranked)


def test_quotes_come_from_the_top_passages_only():
    filler = [_hit("The orchard barn is painted red and has two doors.", n) for n in range(1, 5)]
    answer = _hit("The cider press can process 500 kilograms of apples per hour.", 5)
    question = "How many kilograms of apples can the cider press process per hour?"
    assert best_quote(question, [*filler, answer], max_passages=5).n == 5
    assert best_quote(question, [*filler, answer], max_passages=4).n != 5
    ranked = rank_quotes(question, [*filler, answer], max_passages=5)
    assert ranked[0].n == 5 and [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)


def test_a_quote_that_names_the_questions_identifier_whole_ranks_first():
    assert code_terms("Was sbi_hart_suspend in PR.DS-1, FLAN-T5 or RS.MI of EO 12958?") == {
        "sbi_hart_suspend",
        "pr.ds-1",
        "flan-t5",
        "rs.mi",
    }
    spaced = "The sbi hart suspend call was added in a later release of the extension."
    named = "The sbi_hart_suspend call was added in a later release of the extension."
    q = best_quote("When was the sbi_hart_suspend call added?", [_hit(spaced, 1), _hit(named, 2)])
    assert q.text == named and q.n == 2  # over the higher-ranked passage


def test_a_number_of_the_file_name_counts_only_where_the_question_names_the_file_by_it():
    assert naming_numbers("When was FIPS Publication 199 issued?", "fips-199-security-categorization.pdf") == {"199"}
    assert naming_numbers("What does NIST SP 800-145 cover?", "nist-sp-800-145-cloud.pdf") == {"800", "145"}
    doc = "riscv-sbi-specification-v1-0.pdf"
    assert naming_numbers("Which SBI implementation is assigned implementation ID 0?", doc) == set()
    passages = [
        "In OpenSBI, every SBI implementation is assigned its own implementation ID.",
        "Implementation ID Name 0 Berkeley Boot Loader (BBL) 1 OpenSBI 2 Xvisor",
    ]
    hits = [Hit(chunk_id=i, doc=doc, page=i, text=t, score=1.0, rank=i, end=len(t)) for i, t in enumerate(passages, 1)]
    q = best_quote("Which SBI implementation is assigned implementation ID 0?", hits)
    assert q.n == 2  # the "0" asked about, though the file name has a 0 too


def test_answer_types_come_from_the_question_wording():
    assert answer_type("How many moons does Jupiter have?").search("it has 95 moons")
    assert answer_type("When was FIPS 199 issued?").search("issued in February 2004")
    assert not answer_type("When was FIPS 199 issued?").search("it was issued by NIST")
    assert answer_type("Why did the Queen shout?") is None


def test_specific_terms_are_names_and_identifiers():
    assert specific_terms("What outcome does Framework Core subcategory DE.CM-9 describe?") >= {"de.cm-9"}
    assert "triviaqa" in specific_terms("What tau did ARES achieve on the TriviaQA dataset?")
    assert specific_terms("how long should coffee brew?") == set()


def test_missing_specifics_name_what_no_passage_mentions():
    texts = ["Tier 1: Partial. Tier 2: Risk Informed. Tier 3: Repeatable. Tier 4: Adaptive."]
    assert missing_specifics("What is the name of Tier 5?", texts) == ["5"]
    assert missing_specifics("What is the name of Tier 3?", texts) == []
    assert "de.cm-9" in missing_specifics("What does subcategory DE.CM-9 describe?", texts)


def test_missing_specifics_accepts_spelled_out_acronyms_and_numbers_with_units():
    law = ["These standards apply to information classified under Executive Order 12958, as amended."]
    assert missing_specifics("Which order amended EO 12958?", law) == []
    assert missing_specifics("Which order amended EO 12958?", [law[0].lower()]) == ["eo"]  # not spelled as a name
    assert missing_specifics("Which order amended EO 13000?", law) == ["13000"]
    person = ["Matt Schumer, 24, a developer in New York, runs the startup HyperRight."]
    assert missing_specifics("What startup does 24-year-old developer Matt Schumer run?", person) == []
    assert missing_specifics("What startup does 31-year-old developer Matt Schumer run?", person) == ["31"]
    # A capitalised word that opens a quotation is not a name the passages must contain.
    assert specific_terms("The subcategory 'Remote access is managed' belongs to which Category?") == {"category"}


def test_an_acronym_is_spelled_out_by_a_title_whose_word_gives_two_letters():
    assert missing_specifics("How does the CSF glossary define taxonomy?", ["The Cybersecurity Framework"]) == []
    assert missing_specifics("How does the CSF glossary define taxonomy?", ["The Cyber Framework"]) == ["csf"]
    assert missing_specifics("What does the EO say?", ["the Executive Office"]) == []
    assert missing_specifics("What does the EO say?", ["the Economy"]) == ["eo"]  # two letters: one word each


def test_an_acronym_is_quoted_from_a_list_too_long_to_read_as_a_sentence():
    rows = [f"AB{chr(65 + i)} Alpha Beta {chr(65 + i)}word Entry" for i in range(20)]
    rows[12] = "ISAO Information Sharing and Analysis Organization"
    text = "\n".join(rows)
    q = best_quote("In the acronym list, what does ISAO stand for?", [_hit(text)])
    assert q.text == "ISAO Information Sharing and Analysis Organization" and q.defines


def test_plain_text_drops_markdown_marks_but_not_arithmetic_or_identifiers():
    md = "### fips-199.pdf\n- Title: *FIPS PUB 199: Standards* (February 2004)\n- sha256: `340c`"
    assert plain_text(md) == "fips-199.pdf Title: FIPS PUB 199: Standards (February 2004) sha256: 340c"
    assert plain_text("• SBI **hart** state") == "SBI hart state"
    assert plain_text("2*3*4 = 24 and __init__ or #hashtag") == "2*3*4 = 24 and __init__ or #hashtag"


def test_definition_questions_name_their_term():
    assert focus_term("What does PPI stand for in the ARES paper?") == "PPI"
    assert focus_term("Which category does RS.MI stand for?") == "RS.MI"
    assert focus_term("How does FIPS 199 define an 'information type'?") == "information type"
    assert focus_term("What does the Framework's glossary say a taxonomy is?") == "taxonomy"
    assert focus_term("In NIST's definition, what is a cloud infrastructure?") == "cloud infrastructure"
    assert focus_term("What is meant by resource pooling?") == "resource pooling"
    assert focus_term("What is the name of Implementation Tier 3?") is None
    assert focus_term("How many deployment models are there?") is None


def test_a_definition_starts_with_its_term_or_expands_it_in_brackets():
    assert defines("ARES uses prediction-powered inference (PPI; Angelopoulos et al.", "PPI")
    assert defines("4 SI-5, PM-15 Mitigation (RS.MI): Activities are performed", "RS.MI")
    assert defines("Taxonomy A scheme of classification.", "taxonomy")
    assert defines("2 A cloud infrastructure is the collection of hardware and software", "cloud infrastructure")
    assert defines("3542] A loss of availability is the disruption of access", "loss of availability")
    assert defines(
        "CONFIDENTIALITY [44 U.S.C., SEC. 3542] A loss of confidentiality is the disclosure", "loss of confidentiality"
    )
    assert defines("The Framework Profile (“Profile”) is the alignment of the Functions", "Profile")
    assert not defines("the impact from a loss of confidentiality is high", "loss of confidentiality")
    # "The X is ..." describes one X; a mention is no definition; "stand for" wants the expansion.
    assert not defines("The cloud infrastructure is a composition of two or more clouds", "cloud infrastructure")
    assert not defines("Each taxonomy was reviewed by the board.", "taxonomy")
    assert not defines("PPI is a recent statistical method.", "PPI", expansion_only=True)
    assert defines("PPI is a recent statistical method.", "PPI")


def test_the_definition_is_quoted_though_it_repeats_few_question_words():
    glossary = (
        "Appendix B: Glossary. This appendix defines selected terms used in the Framework glossary. "
        "Subcategory The subdivision of a Category into specific outcomes. "
        "Taxonomy A scheme of classification."
    )
    q = best_quote("What does the Framework's glossary say a taxonomy is?", [_hit(glossary)])
    assert q is not None and q.text == "Taxonomy A scheme of classification." and q.defines
    paper = [
        _hit("PPI is a recent statistical method that gives tighter confidence intervals.", 1),
        _hit("To boost precision, ARES uses prediction-powered inference (PPI; Angelopoulos et al., 2023).", 2),
    ]
    q = best_quote("What does PPI stand for in the ARES paper?", paper)
    assert q is not None and "prediction-powered inference" in q.text


CORE_TABLE = (
    "4 CM-3, CM-4, SA-10\n"
    "PR.IP-4: Backups of information are\n"
    "conducted, maintained, and tested\n"
    "CIS CSC 10\n"
    "COBIT 5 APO13.01, DSS01.01, DSS04.07\n"
    "ISA 62443-2-1:2009 4.3.4.3.9\n"
)


def test_an_identifiers_entry_is_found_and_cut_from_its_table():
    assert labels(CORE_TABLE, "pr.ip-4") and labels("Mitigation (RS.MI): Activities are performed", "rs.mi")
    assert not labels("See PR.IP-4 and PR.IP-5 for backups.", "pr.ip-4")
    s, e = entry_span(CORE_TABLE, "pr.ip-4")
    assert CORE_TABLE[s:e] == "PR.IP-4: Backups of information are\nconducted, maintained, and tested"


def test_a_question_naming_an_identifier_quotes_its_entry_from_a_wall_of_references():
    other = _hit("The Framework Core subcategories are mapped to informative references in the appendix.", 1)
    q = best_quote("What does Framework Core subcategory PR.IP-4 require?", [other, _hit(CORE_TABLE, 2)])
    assert q is not None and q.n == 2 and q.defines
    assert q.text == "PR.IP-4: Backups of information are\nconducted, maintained, and tested"


def test_an_acronym_is_expanded_by_its_capitalised_words():
    intro = "This specification describes the RISC-V Supervisor Binary Interface, known from here on as SBI."
    assert defines(intro, "SBI", expansion_only=True)
    assert defines("the National Institute of Standards and Technology (NIST)", "NIST")
    assert defines("Term Meaning PMU Performance Monitoring Unit SBI Supervisor Binary Interface", "PMU")
    assert not defines("the supervisor binary interface", "SBI")  # not written as a name


def test_a_label_sentence_is_quoted_with_its_definition_and_never_alone():
    text = (
        "Private cloud. The cloud infrastructure is provisioned for exclusive use by a single organization. "
        "Hybrid cloud. The cloud infrastructure is a composition of two or more distinct cloud infrastructures."
    )
    q = best_quote("What is a hybrid cloud?", [_hit(text)])
    assert q is not None and q.defines
    assert (
        q.text
        == "Hybrid cloud. The cloud infrastructure is a composition of two or more distinct cloud infrastructures."
    )
    # A sentence of nothing but the question's words is no answer.
    assert all(c.text != "Hybrid cloud." for c in rank_quotes("What is a hybrid cloud?", [_hit(text)]))


def test_an_acronym_is_quoted_from_its_line_in_a_table_of_terms():
    terms = (
        "Chapter 2. Terms and Abbreviations\n"
        "This specification uses the following terms and abbreviations:\n"
        "Term Meaning\n"
        "SBI Supervisor Binary Interface\n"
        "PMU Performance Monitoring Unit\n"
        "HSM Hart State Management\n"
    )
    story = _hit("'You see, she came rather late,' said the Hatter, 'and that is what the mark stands for.'", 1)
    q = best_quote("What does PMU stand for?", [story, _hit(terms, 2)])
    assert q is not None and q.n == 2 and q.text == "PMU Performance Monitoring Unit"
    # Without an expansion, a "stand for" question gets no quote good enough to answer.
    q = best_quote("What does SEE stand for?", [story])
    assert q is None or q.score < 0.45


TIERS = (
    "This publication is available free of charge 9\n"
    "Tier 2: Risk Informed\n"
    "• Risk Management Process – Risk management practices are approved by management.\n"
    "Tier 3: Repeatable\n"
    "• Risk Management Process – The organization's practices are formally approved as policy.\n"
)


def test_a_numbered_label_asked_about_is_quoted_from_its_entry():
    overview = _hit("Implementation Tiers describe how an organization views risk; the name of each tier follows.", 1)
    q = best_quote("What is the name of Implementation Tier 3?", [overview, _hit(TIERS, 2)])
    assert q is not None and q.n == 2 and q.defines and q.text == "Tier 3: Repeatable"
    # "Partial (Tier 1)" names the tier in brackets, as an acronym is expanded.
    q = best_quote("What is the name of Tier 1?", [overview, _hit("Tiers range from Partial (Tier 1) onwards.", 2)])
    assert q is not None and q.n == 2 and q.defines


def test_captions_and_versions_are_no_entries():
    table = _hit("TABLE 1: POTENTIAL IMPACT DEFINITIONS\nHIGH The loss could have a severe adverse effect.", 1)
    q = best_quote("In Table 1, what adverse effect does a HIGH impact have?", [table])
    assert q is not None and not q.defines and "severe adverse effect" in q.text
    assert not labels("ISO/IEC 27001:2013 A.6.1.5, A.14.1.1", "iec 27001")


def test_a_definition_run_into_its_heading_starts_after_it():
    text = "Information Security A security incident is any event that could expose company or customer data."
    q = best_quote("How does the handbook define a security incident?", [_hit(text)])
    assert q is not None and q.defines
    assert q.text == "A security incident is any event that could expose company or customer data."


def test_an_identifier_question_quotes_the_name_asked_about_with_its_code_in_brackets():
    history = _hit("Finally, a Supply Chain Risk Management Category has been added to the Framework Core.", 1)
    core = _hit("4 SA-14, PM-8 Supply Chain Risk Management (ID.SC): The organization's priorities are set.", 2)
    q = best_quote("What is the unique identifier of the Supply Chain Risk Management category?", [history, core])
    assert q is not None and q.n == 2 and q.defines
    assert q.text == "Supply Chain Risk Management (ID.SC): The organization's priorities are set."
    # A code beside other words is not the identifier of the name asked about.
    other = _hit("4 SA-14, PM-8 Risk Assessment (ID.RA): The organization understands the risk.", 2)
    q = best_quote("What is the unique identifier of the Supply Chain Risk Management category?", [history, other])
    assert q is not None and not q.defines


def test_a_time_question_prefers_the_sentence_with_a_time_of_day():
    text = (
        "'Yes, that's it,' said the Hatter with a sigh, 'it's always tea-time with Time.' "
        "'He won't do a thing I ask! It's always six o'clock now.'"
    )
    assert answer_type("What time is it always at the tea-party?").search("six o\u2019clock")
    q = best_quote("Since the quarrel with Time, what time is it always at the tea-party?", [_hit(text)])
    assert q is not None and "six o'clock" in q.text


def test_a_which_question_about_a_named_kind_prefers_a_sentence_naming_one():
    assert answer_type("Which retriever performed best?") is not None
    assert answer_type("Which value cannot be assigned?") is None  # values are seldom names
    text = (
        "Our system can use another high-quality model for generating synthetic queries and answers. "
        "It is discussed in the next section of this paper. "
        "To generate synthetic queries, the system primarily uses FLAN-T5 XXL."
    )
    question = "Which language model does the system use to generate its synthetic queries and answers?"
    q = best_quote(question, [_hit(text)])
    assert q is not None and "FLAN-T5 XXL" in q.text


def test_stems_join_plurals_in_elves():
    assert content_words("the jar on one of the shelves") >= content_words("a shelf jar")


PROTECT_TABLE = (
    "Data Security (PR.DS): Information and records are managed.\n"
    "PR.DS-1: Data-at-rest is protected CIS CSC 13, 14\n"
    "COBIT 5 APO01.06, BAI02.01\n"
    "PR.DS-2: Data-in-transit is protected CIS CSC 13, 14\n"
    "COBIT 5 APO01.06, DSS05.02\n"
)


def test_an_identifier_question_quotes_the_entry_that_describes_what_it_asks():
    glossary = _hit("Examples of Subcategories include “Data-at-rest is protected” and others.", 1)
    question = "Which Framework Core subcategory ID covers protecting data at rest?"
    q = best_quote(question, [glossary, _hit(PROTECT_TABLE, 2)])
    assert q is not None and q.n == 2 and q.defines
    assert q.text == "PR.DS-1: Data-at-rest is protected CIS CSC 13, 14"
    # An entry that shares one word with the question describes something else.
    assert not any(c.defines for c in rank_quotes("Which subcategory ID covers data backups?", [_hit(PROTECT_TABLE)]))


def test_an_author_question_prefers_the_byline_over_the_title():
    text = (
        "### cloud-definition.pdf\n"
        "- Title: *Special Publication 800-145: The Definition of Cloud Computing* (September 2011)\n"
        "- Author/publisher: Peter Mell and Timothy Grance\n"
        "- Licence: public domain.\n"
    )
    for question in (
        "Who wrote The Definition of Cloud Computing?",
        "Who are the authors of The Definition of Cloud Computing?",
    ):
        q = best_quote(question, [_hit(text, doc="SOURCES.md")])
        assert q is not None and "Peter Mell and Timothy Grance" in q.text, question
    # Without asking for an author, the title line that repeats the question's words wins.
    q = best_quote("When was The Definition of Cloud Computing published?", [_hit(text, doc="SOURCES.md")])
    assert q is not None and "Peter Mell" not in q.text


def test_lengths_durations_and_times_are_narrow_answer_types():
    from rag.quotes import narrow_answer

    assert narrow_answer("How tall was the Caterpillar?", "'three inches is such a wretched height to be'") is True
    assert narrow_answer("How tall was the Queen?", "The Queen walked in, smiling at everything.") is False
    assert narrow_answer("How tall was the Queen?", "She stayed for a minute.") is False  # a time, not a length
    assert narrow_answer("How long does light take to reach Earth?", "about 8 minutes and 20 seconds") is True
    assert narrow_answer("How long does light take to reach Earth?", "winds of 2,000 kilometers per hour") is False
    assert narrow_answer("How long is the tunnel?", "The tunnel is 3.5 km long.") is True
    assert narrow_answer("What time is it always?", "It's always six o'clock now.") is True
    assert narrow_answer("How wide is the reset_type parameter?", "It is 32 bits wide.") is True
    assert narrow_answer("How many moons does Jupiter have?", "Jupiter has 95 moons.") is None  # not narrow
    assert narrow_answer("Who wrote it?", "Lewis Carroll") is None


def test_a_list_of_sources_does_not_answer_for_the_document_it_names():
    sources = Hit(
        chunk_id=1,
        doc="SOURCES.md",
        page=1,
        text="### nist-sp-800-145-cloud.pdf - Title: *NIST Special Publication 800-145: The NIST Definition of Cloud Computing*",
        score=1.0,
        rank=1,
        end=110,
    )
    answer = "Community cloud. The cloud infrastructure is provisioned for exclusive use by a specific community."
    page = Hit(chunk_id=2, doc="nist-sp-800-145-cloud.pdf", page=7, text=answer, score=1.0, rank=2, end=len(answer))
    q = best_quote("Who is a community cloud provisioned for, according to NIST SP 800-145?", [sources, page])
    assert q.n == 2
    assert q.lexical >= 0.6  # "according to NIST SP 800-145" is not asked of the sentence
    # A question about the document itself is answered by the list that names it.
    dated = sources.text + " (September 2011)"
    q = best_quote("When was NIST SP 800-145 published?", [replace(sources, text=dated, end=len(dated)), page])
    assert q.n == 1


def test_when_asks_for_a_date_only_as_a_question_word():
    assert answer_type("When was FIPS 199 issued?") is answer_type("In what year was it issued?") is not None
    assert answer_type("When categorizing an information type under FIPS 199, which values are allowed?") is None


def test_a_sentence_that_points_to_its_content_elsewhere_is_not_the_answer():
    text = (
        "The five Functions of the Framework Core are listed below. More is said about them in this part. "
        "The Framework Core consists of five Functions: Identify, Protect, Detect, Respond, Recover."
    )
    q = best_quote("Name the five Functions of the Framework Core.", [_hit(text)])
    assert "Identify" in q.text


def test_what_something_is_called_asks_for_its_name_under_its_label():
    question = "What is Implementation Tier 3 called in the Cybersecurity Framework?"
    assert focus_term(question) is None and answer_type(question) is answer_type("Who is it?")
    text = (
        "Organizations may use this process to align their program with the desired Implementation Tier. "
        "Tiers 1 and 2 are for beginners. Tier 3: Repeatable"
    )
    q = best_quote(question, [_hit(text)])
    assert "Repeatable" in q.text


def test_a_sentence_need_not_repeat_the_document_named_in_the_question():
    doc = "nist-sp-800-145-cloud.pdf"
    text = "Hybrid cloud. It is bound together by technology that enables portability (e.g., cloud bursting)."
    hit = Hit(chunk_id=1, doc=doc, page=7, text=text, score=1.0, rank=1, end=len(text))
    q = best_quote("What example of portability does SP 800-145 give for a hybrid cloud?", [hit])
    assert "bursting" in q.text and q.lexical >= 0.6  # "SP 800-145" not counted against it
    said = "As SP 800-145 says, a hybrid cloud has portability (e.g., cloud bursting)."
    q = best_quote("What example of portability does SP 800-145 give for a hybrid cloud?", [_hit(said)])
    assert round(q.lexical, 3) == 0.75  # a sentence that names it counts it: 6 of the 8 words


def test_describe_and_the_term_ask_for_a_definition_but_define_for_does_not():
    assert focus_term("How does FIPS 199 describe a loss of integrity?") == "loss of integrity"
    assert focus_term("What does the glossary list under the term security objective?") == "security objective"
    assert focus_term("How many levels of impact does FIPS 199 define for a breach?") is None


def test_a_count_is_quoted_from_the_sentence_that_announces_a_list():
    text = (
        "The Framework Core Functions are five, listed below. Nothing else is said in this sentence at all. "
        "Each Function of the Framework Core does have many outcomes."
    )
    q = best_quote("How many Functions does the Framework Core have?", [_hit(text)])
    assert "five" in q.text


def test_questions_typed_casually_ask_what_their_full_form_asks():
    from rag.prompts import plain_question

    assert plain_question("whats a cybersecurity incident?") == "what is a cybersecurity incident?"
    assert plain_question("What's the DOI?") == "What is the DOI?"
    assert plain_question("whatsoever remains") == "whatsoever remains"  # a word, not a contraction
    assert focus_term("ISAO stands for?") == "ISAO"
    assert focus_term("SEE in the SBI spec - what does it stand for?") == "SEE"
    assert focus_term(plain_question("whats a cybersecurity incident according to the CSF glossary")) == (
        "cybersecurity incident"
    )
    assert focus_term("In the cloud definition, what is meant by a 'cloud infrastructure'?") == "cloud infrastructure"


def test_short_forms_and_british_spellings_are_the_words_documents_spell_out():
    assert content_words("which github repo") == content_words("which GitHub repository")
    assert content_words("the licence of the organisation") == content_words("the license of the organization")
    assert content_words("categorised") == content_words("categorized")


def test_a_narrow_question_quotes_the_close_sentence_that_holds_what_it_asks():
    text = (
        "'Yes, that's it,' said the Hatter with a sigh, 'it's always tea-time and we've no time to wash "
        "the things at the tea party.' "
        "'He won't do a thing I ask! It's always six o'clock now at the party.' A bright idea came into Alice's head."
    )
    q = best_quote("what time is it always at the Hatter's tea party", [_hit(text)])
    assert q is not None and "six o'clock" in q.text
    # Far below the best, a sentence with a time does not answer in its place.
    far = "The Hatter's tea party is always at tea-time. " + " ".join(["Nothing more happened."] * 3) + " At noon."
    q = best_quote("what time is the Hatter's tea party", [_hit(far)])
    assert q is not None and "noon" not in q.text


def test_ages_and_amounts_of_money_are_narrow_answer_types():
    from rag.quotes import narrow_answer

    assert narrow_answer("how old is Alice?", "She came to see him once a week.") is False
    assert narrow_answer("how old is Alice?", "Alice was seven and a half years old.") is True
    assert narrow_answer("How much did Zuckerberg pay to acquire Parse?", "In 2013 he bought Parse.") is False
    assert narrow_answer("How much did he pay for Parse?", "He paid $85 million for it.") is True
    assert narrow_answer("How many dollars did the run cost?", "It cost 12 dollars.") is True
    assert narrow_answer("How much is the entrance fee?", "Entrance is free for students.") is False


def test_a_sentence_cut_off_before_its_bullet_is_quoted_with_it():
    text = (
        "Any function that uses a range of addresses must abide by the constraints below.\n"
        "The remote fence function acts as a full TLB flush if\n"
        "• start_addr and size are both 0\n"
        "• size is equal to 2^XLEN-1\n"
    )
    q = best_quote("When does a remote fence call act as a full TLB flush?", [_hit(text)])
    assert q is not None and q.text.rstrip().endswith("start_addr and size are both 0")


def test_what_pretrained_model_and_which_llm_ask_for_a_name():
    assert answer_type("what pretrained model are the judges fine-tuned from") is answer_type("Who wrote it?")
    assert answer_type("which LLM does ARES use?") is answer_type("Who wrote it?")
    assert answer_type("What does the framework say about tiers?") is None
    assert answer_type("what deployment model is provisioned for open use?") is None


def test_a_label_that_names_a_document_is_no_entry_to_quote():
    sources = _hit("- Title: *FIPS PUB 199: Standards for Security Categorization* (February 2004)\n", doc="SOURCES.md")
    fips = _hit("FIPS PUB 199 is issued by the National Institute of Standards.", 2, doc="fips-199-categorization.pdf")
    ranked = rank_quotes("What is the DOI of FIPS PUB 199?", [sources, fips])
    assert ranked and not any(q.defines for q in ranked)


def test_a_glossary_entry_after_the_previous_entrys_reference_defines_its_term():
    text = (
        "EXECUTIVE AGENCY: An executive department specified in 5 U.S.C., SEC. 101; a military department "
        "specified in 5 U.S.C., SEC. 102. [44 U.S.C., SEC. 3542] INFORMATION SYSTEM: A discrete set of "
        "information resources organized for the collection, processing, maintenance, use, sharing, "
        "dissemination, or disposition of information."
    )
    q = best_quote("How does FIPS 199 define an information system?", [_hit(text, doc="fips-199.pdf")])
    assert q is not None and q.defines
    assert q.text.startswith("INFORMATION SYSTEM: A discrete set")


def test_an_age_between_commas_answers_how_old_and_a_dash_between_words_reads_spaced():
    from rag.quotes import narrow_answer

    assert narrow_answer("How old is the founder?", "said Jeffrey Emanuel, 42, the founder") is True
    assert narrow_answer("How old is the founder?", "In 2013, 42 people came") is False
    assert narrow_answer("How old is the billionaire?", "the 40-year-old billionaire") is True
    assert plain_text("five Functions\u2014Identify, Protect") == "five Functions \u2014 Identify, Protect"


def test_an_identifier_asked_for_in_keywords_is_quoted_from_its_entry():
    assert answer_type("subcategory ID for running vulnerability scans") is answer_type("Which register holds the ID?")
    assert answer_type("unique identifier of the supply chain risk management category") is not None
    table = (
        "DE.CM-7: Monitoring for unauthorized personnel is performed CIS CSC 1, 2\n"
        "COBIT 5 DSS05.02\n"
        "DE.CM-8: Vulnerability scans are performed CIS CSC 4, 20\n"
        "COBIT 5 BAI03.10\n"
    )
    q = best_quote("subcategory ID for running vulnerability scans", [_hit(table)])
    assert q is not None and q.defines and q.text.startswith("DE.CM-8")


def test_a_quote_about_another_numbered_name_does_not_answer():
    from rag.quotes import names_another

    assert names_another("How many times has LLaMA 3 been downloaded?", "LLaMA 2 was downloaded 180 million times.")
    assert not names_another("How many times has LLaMA 2 been downloaded?", "LLaMA 2 was downloaded 180 million times.")
    assert names_another("What is Tier 3 called?", "Tier 2: Risk Informed")
    assert not names_another("What does PR.IP-4 require?", "PR.IP-4: Backups of information are conducted")
    # A number that names a document ("SP 800-145") is not what the question asks about.
    assert not names_another("What does SP 800-145 say?", "See SP 800-53 for controls.", ignore={"800", "145"})


def test_short_words_stem_like_their_inflections():
    # "fine-tuned" is what "fine-tune" asks about; "days" what "a day" does
    assert content_words("the fine-tuned judge") >= content_words("fine-tune a judge")
    for short, inflected in [
        ("take", "taking"),
        ("name", "named"),
        ("use", "used"),
        ("day", "days"),
        ("time", "timed"),
    ]:
        assert content_words(short) == content_words(inflected), (short, inflected)
    # ... but a word that only ends like an inflection keeps its ending
    for word, other in [("embed", "emb"), ("speed", "spe"), ("string", "str"), ("thus", "thu")]:
        assert content_words(word) != content_words(other), word
    assert content_words("issued") == content_words("issue")


def test_a_count_question_is_not_answered_by_naming_what_it_counts():
    from rag.quotes import uncounted

    question = "How many GPUs were used to fine-tune the judges?"
    assert uncounted(question, "The judges run as deployable models on commercial GPUs.")
    assert not uncounted(question, "We fine-tuned the judges on 8 GPUs for two days.")
    assert not uncounted(question, "Fine-tuning took four A100 GPUs.")
    # What the sentence calls it otherwise may still be counted ("attendees" for "people")
    assert not uncounted("How many people attended the workshop?", "Input from over 1,200 attendees.")
    assert not uncounted("What did the judges cost?", "The judges run on commercial GPUs.")


def test_the_term_asked_about_is_read_after_mean_by_and_past_an_adverb():
    assert focus_term("What does FIPS 199 mean by an 'executive agency'?") == "executive agency"
    assert focus_term("In the NIST cloud definition, what does 'resource pooling' actually mean?") == "resource pooling"
    assert focus_term("What does PPI really stand for?") == "PPI"


def test_snake_case_names_are_specific_terms():
    # a function the passages never mention is not answered by its neighbours' entries
    assert "sbi_pmu_counter_fw_read_hi" in specific_terms("What is the FID of sbi_pmu_counter_fw_read_hi?")
    texts = ["Function: Read a firmware counter (FID #5) struct sbiret sbi_pmu_counter_fw_read(...)"]
    assert missing_specifics("What is the FID of sbi_pmu_counter_fw_read_hi?", texts) == ["sbi_pmu_counter_fw_read_hi"]
    assert missing_specifics("What is the FID of sbi_pmu_counter_fw_read?", texts) == []


def test_a_number_question_wants_a_number_beyond_its_own_and_the_years():
    from rag.quotes import lacks_number

    question = "Which NIST Special Publication number gives the reference architecture that goes with SP 800-145?"
    assert answer_type(question) is answer_type("How many pages?")
    assert lacks_number(question, "Title: NIST Special Publication 800-145: The NIST Definition (September 2011)")
    assert not lacks_number(question, "The reference architecture is given in NIST SP 500-292.")
    assert not lacks_number("How many people attended the 2016 workshop?", "Over 1,200 attendees at the 2016 workshop.")
    assert not lacks_number("How many Functions are there?", "The five Functions are Identify, Protect, ...")
    assert lacks_number("How many Functions are there?", "The Functions are Identify, Protect, ...")
    assert not lacks_number("Who wrote it?", "Alice wrote it.")
    assert not lacks_number("How often does the tide rise?", "The tide rises twice daily.")


def test_a_pointer_to_a_section_table_or_reference_is_no_number_of_the_answer():
    from rag.quotes import lacks_number

    question = "How many parameters does the model that generates the queries have?"
    assert lacks_number(question, "ARES works well with this model (see section 5) but can use another [3].")
    assert lacks_number(question, "Table 2 and Fig. 4 compare it with the judges [12, 14].")
    assert not lacks_number(question, "FLAN-T5 XXL has 11.3B parameters (Table 2).")
    assert not lacks_number("How many tables does section 3 hold?", "Section 3 holds 4 tables.")


def test_a_measure_asked_for_by_name_is_answered_by_a_sentence_that_names_it():
    from rag.quotes import unnamed_measure

    question = "What learning rate was used when fine-tuning the judges?"
    assert unnamed_measure(question, "The judges were fine-tuned on commercial GPUs with gpt-3.5-turbo-16k.")
    assert not unnamed_measure(question, "We fine-tune the judges with a learning rate of 5e-6.")
    assert not unnamed_measure("What batch sizes were tried?", "The batch size was 32.")
    # A bare measure is answered without its name ("93 degrees Celsius" for a temperature)
    assert not unnamed_measure("What temperature should the coffee be brewed at?", "Brew it at 93 degrees.")
    assert not unnamed_measure("What is the rate of decay?", "It decays by 4% a year.")
    # Of two sentences, the one that names the measure is the only candidate, however many
    # more of the question's words the other repeats.
    hits = [
        _hit("The judges were fine-tuned for the ARES runs with 16 examples, at version 10/23."),
        _hit("The ARES judges used a learning rate of 5e-6.", n=2),
    ]
    ranked = rank_quotes("What learning rate did the fine-tuned ARES judges use for the runs?", hits)
    assert "5e-6" in ranked[0].text and not any("16 examples" in q.text for q in ranked)
    # When no sentence names it, the others stay candidates (and the answer gate refuses them).
    assert rank_quotes("What learning rate did the fine-tuned ARES judges use for the runs?", hits[:1])
    quote = best_quote("What learning rate did the fine-tuned ARES judges use for the runs?", hits)
    assert "5e-6" in quote.text and "16 examples" not in quote.text


def test_a_numbered_part_asked_for_as_typed_is_answered_by_its_entry():
    text = (
        "3.2 Establishing or Improving a Cybersecurity Program. The following steps illustrate how an "
        "organization could use the Framework to create a new cybersecurity program or improve an existing "
        "program. Step 1: Prioritize and Scope. The organization identifies its business objectives. "
        "Step 2: Orient. The organization identifies related systems and assets."
    )
    for question in (
        "In the steps for establishing or improving a cybersecurity program, what is step 2?",
        "wat is step 2 when establishing or improving a cybersecurity program?",
    ):
        assert best_quote(question, [_hit(text)]).text.startswith("Step 2: Orient"), question
    # A numbered part named as the place to look is no entry to quote
    from rag.quotes import _asks_for_label

    assert not _asks_for_label("In Table 1, what answer relevance accuracy did ARES reach?", "table 1")
    assert _asks_for_label("What does Table 5 show?", "table 5")


def test_a_space_the_pdf_put_before_a_hyphen_is_not_quoted():
    assert plain_text("pooled using a multi -tenant model") == "pooled using a multi-tenant model"
    assert plain_text("warm - or cold") == "warm - or cold"


def test_a_number_beside_the_question_words_ranks_higher(monkeypatch):
    import rag.quotes as quotes

    question = "How many bits wide is the PMU event_idx?"
    near = "The PMU event_idx is 20 bits wide."
    far = "In the PMU, 64 counters can be read, and event_idx says how many bits wide the event is."
    want, words = answer_type(question), content_words(question)
    assert quotes._near_answer(want, near, question, words) > quotes._near_answer(want, far, question, words)

    def gap() -> float:
        score = {q.text: q.score for q in rank_quotes(question, [_hit(f"{far} {near}")])}
        return score[near] - score[far]

    with_it = gap()
    monkeypatch.setattr(quotes, "PROXIMITY_WEIGHT", 0.0)
    assert with_it > gap() + 0.01


COVER = (
    "FIPS PUB 199\n\nFEDERAL INFORMATION PROCESSING STANDARDS PUBLICATION\n\n"
    "Standards for Security Categorization of Federal Information Systems\n\n"
    "Computer Security Division\nGaithersburg, MD 20899-8900\n\nFebruary 2004\n\n"
    "U.S. DEPARTMENT OF COMMERCE\nDonald L. Evans, Secretary\n"
)
BODY = (
    "Federal Information Processing Standards Publications are issued by the National Institute "
    "of Standards and Technology after approval under the Reform Act of 1996."
)


def test_when_a_document_was_issued_is_read_off_its_title_page():
    doc = "fips-199-security-categorization.pdf"
    cover = Hit(chunk_id=1, doc=doc, page=1, text=COVER, score=1.0, rank=2, end=len(COVER))
    body = Hit(chunk_id=2, doc=doc, page=3, text=BODY, score=1.0, rank=1, end=len(BODY))
    q = best_quote("When was FIPS Publication 199 issued?", [body, cover])
    assert q.n == 2 and q.text == "February 2004" and COVER[q.start : q.end] == q.text
    assert q.shown == "FIPS PUB 199: February 2004" and q.defines
    # Not where the question asks about another version than the cover's, nor about the text.
    assert best_quote("When was version 1.0 of FIPS Publication 199 issued?", [body, cover]).text != "February 2004"
    assert best_quote("When was the Reform Act passed?", [body, cover]).text != "February 2004"
    other = Hit(chunk_id=3, doc=doc, page=4, text=COVER, score=1.0, rank=2, end=len(COVER))
    assert best_quote("When was FIPS Publication 199 issued?", [body, other]).text != "February 2004"


def test_a_question_for_a_version_or_a_rate_wants_a_number():
    log = "Changes: Added suspend function to the hart state management extension."
    row = "Function Name SBI Version FID\nsbi_hart_start 0.2 0\nsbi_hart_suspend 0.3 3\n"
    q = best_quote(
        "In which SBI version was sbi_hart_suspend added to the HSM extension?", [_hit(log, 1), _hit(row, 2)]
    )
    assert q.n == 2 and "0.3" in (q.shown or q.text)
    assert answer_type("What learning rate was used for the judges?").search("a learning rate of 5e-6")
    assert answer_type("What version of RAGAS was compared?").search("RAGAS (version 0.0.18)")
    assert answer_type("What version 1.1 change was made?") is None  # the version is given
    assert answer_type("What dollar amount of loss is HIGH?").search("$75") and not answer_type(
        "What dollar amount of loss is HIGH?"
    ).search("75 systems")


def test_a_time_of_day_is_a_number_of_oclock():
    want = answer_type("What time is it always at the tea party?")
    assert want.search("It's always six o\u2019clock now.") and want.search("at 4:30 pm")
    assert not want.search("It doesn\u2019t tell what o\u2019clock it is!")
