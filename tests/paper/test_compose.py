"""From judged tries to a paper: the best try kept, quotations rationed, nothing said twice."""

from __future__ import annotations

from pathlib import Path

from scriptorium.agents.outputs import Restatement
from scriptorium.memory import LocalEmbedder
from scriptorium.memory.store import Hit
from scriptorium.paper.checks import CopyIndex
from scriptorium.paper.compose import (
    RESTATEMENT_LIMIT,
    ComposedPaper,
    Judged,
    compose,
    first_sentence,
    judge_tries,
    paper_title,
    to_retry,
)
from scriptorium.paper.formats import markdown, references
from scriptorium.paper.plan import EvidenceItem, PaperPlan, PlannedSection

EVIDENCE = {
    "e1": "Venice is built on 118 small islands in a shallow lagoon of the Adriatic Sea.",
    "e2": "Glassmaking moved to the island of Murano in 1291 to protect the city from fires.",
    "e3": "The Republic of Venice was ruled by an elected Doge for more than a thousand years.",
    "e4": "Rising water, called acqua alta, floods the lower parts of the city every winter.",
    "e5": "The barrier system known as MOSE was first raised against a high tide in 2020.",
}
CHUNKS = {
    "a:0": EVIDENCE["e1"] + " " + EVIDENCE["e2"],
    "b:0": EVIDENCE["e3"],
    "c:0": EVIDENCE["e4"] + " " + EVIDENCE["e5"],
}
KEY = {"e1": "a:0", "e2": "a:0", "e3": "b:0", "e4": "c:0", "e5": "c:0"}


def _plan(sections_asked: int = 2) -> PaperPlan:
    part = {"e1": "lead", "e2": "body", "e3": "body", "e4": "body", "e5": "closing"}
    heading = {"e1": "Introduction", "e2": "Culture", "e3": "Government", "e4": "Climate", "e5": "Conclusion"}
    items = [
        EvidenceItem(
            id=i, part=part[i], heading=heading[i], key=KEY[i], source=f"/abs/{KEY[i][0]}.md", text=t
        )
        for i, t in EVIDENCE.items()
    ]
    return PaperPlan(
        topic="the city of Venice",
        sections_asked=sections_asked,
        themes_found=3,
        documents=3,
        lead=["e1"],
        sections=[
            PlannedSection(heading="Culture", items=["e2"]),
            PlannedSection(heading="Government", items=["e3"]),
            PlannedSection(heading="Climate", items=["e4"]),
        ],
        closing=PlannedSection(heading="Conclusion", items=["e5"]),
        items=items,
        attempts=[],
        headings=["Culture", "Government", "Climate"],
        sources=["/abs/a.md", "/abs/b.md", "/abs/c.md"],
    )


def test_the_best_try_that_passes_every_check_is_kept(embedder: LocalEmbedder) -> None:
    tries = [
        ("e1", EVIDENCE["e1"]),  # copied
        ("e1", "Venice rests on 118 little islands inside a shallow Adriatic lagoon."),
        ("e1", "Venice rests on 200 little islands inside a shallow Adriatic lagoon."),  # a number changed
        ("e2", "In 1291 glassmaking was moved to Murano so that the city would be safe from fires."),
        ("e3", "Venice was not ruled by a Doge."),  # too short, and turns the fact around
        ("e4", "the bananas are yellow fruit that grow in warm countries around the world."),  # strays
    ]
    verdicts = judge_tries(_plan(), tries, CopyIndex(CHUNKS.values()), CHUNKS, embedder.embed)
    assert verdicts["e1"].sentence == "Venice rests on 118 little islands inside a shallow Adriatic lagoon."
    assert verdicts["e1"].rejected == {"copied": 1, "facts not in its evidence": 1}
    assert verdicts["e1"].passed == 1 and verdicts["e4"].passed == 0
    assert verdicts["e2"].sentence is not None
    assert verdicts["e3"].sentence is None and verdicts["e4"].sentence is None
    assert verdicts["e4"].rejected == {"strays from its evidence": 1}
    assert verdicts["e5"].sentence is None and verdicts["e5"].rejected == {}


def test_the_paper_rations_quotations_drops_empty_sections_and_says_so(embedder: LocalEmbedder) -> None:
    plan = _plan(sections_asked=3)
    tries = [
        ("e1", "Venice rests on 118 little islands inside a shallow Adriatic lagoon."),
        ("e2", "In 1291 glassmaking was moved to Murano so that the city would be safe from fires."),
        ("e3", "For over a thousand years an elected Doge led the Republic of Venice."),
        ("e5", "In 2020 the MOSE barriers rose for the first time to hold back a high tide."),
    ]
    verdicts = judge_tries(plan, tries, CopyIndex(CHUNKS.values()), CHUNKS, embedder.embed)
    paper = compose(plan, "Venice", verdicts, embedder.embed)
    assert [s.heading for s in paper.sections] == ["Culture", "Government", "Climate", "Conclusion"]
    climate = paper.sections[2].sentences
    # e4 had no good try: it is quoted (4 restated sentences allow one quotation), marked as such.
    assert climate[0].quote and climate[0].text == f"\u201c{EVIDENCE['e4']}\u201d"
    assert paper.quotes == 1 and paper.lead[0].citations == ["a:0"]
    assert paper.sections[-1].role == "closing"
    # Without the restatement of e3, sections are left with nothing: dropped, and said so.
    verdicts["e3"] = verdicts["e3"].model_copy(update={"sentence": None})
    thin = compose(plan, "Venice", verdicts, embedder.embed, min_quotes=0)
    assert thin.dropped_sections == ["Government", "Climate"]  # three restated: no quotation left
    assert thin.notes and thin.notes[0].startswith("3 sections asked, 1 written")


def test_no_statement_is_made_twice(embedder: LocalEmbedder) -> None:
    plan = _plan()
    same = "Venice rests on 118 little islands inside a shallow Adriatic lagoon."
    verdicts = judge_tries(plan, [("e1", same)], CopyIndex(CHUNKS.values()), CHUNKS, embedder.embed)
    verdicts["e5"] = verdicts["e1"].model_copy(update={"item": "e5"})
    paper = compose(plan, "Venice", verdicts, embedder.embed)
    assert paper.repeated == [same]
    assert [s.text for s in paper.lead] == [same] and not any(s.role == "closing" for s in paper.sections)


def test_a_title_names_the_topic_and_is_no_section_heading() -> None:
    headings = ["History", "Economy"]
    assert paper_title("Venice: A City on the Water", "Venice", headings) == "Venice: A City on the Water"
    assert (
        paper_title("Rearrangement of the Human Brain", "the city of Venice", headings)
        == "The city of Venice"
    )
    assert paper_title("History", "history", headings) == "History"  # the topic itself is the fallback
    assert paper_title(None, "photosynthesis", headings) == "Photosynthesis"
    assert paper_title("Venice in 1492", "Venice", headings) == "Venice"  # a number the topic lacks
    assert paper_title("Venice: History, Economy", "Venice", headings) == "Venice"  # lists sections
    assert paper_title("100% 3D Printing", "3D printing", headings) == "3D printing"  # a new number
    assert (
        paper_title("3D Printing: Methods and Uses", "3D printing", headings)
        == "3D Printing: Methods and Uses"
    )
    assert paper_title("Venice (https://example.org)", "Venice", headings) == "Venice"
    assert paper_title("Venice and its History", "Venice", headings) == "Venice and its History"


def test_references_are_one_per_document_by_relative_location(embedder: LocalEmbedder) -> None:
    plan = _plan()
    tries = [
        ("e1", "Venice rests on 118 little islands inside a shallow Adriatic lagoon."),
        ("e2", "In 1291 glassmaking was moved to Murano so that the city would be safe from fires."),
        ("e3", "For over a thousand years an elected Doge led the Republic of Venice."),
    ]
    verdicts = judge_tries(plan, tries, CopyIndex(CHUNKS.values()), CHUNKS, embedder.embed)
    paper: ComposedPaper = compose(plan, "Venice", verdicts, embedder.embed)
    hits = {
        "a:0": Hit(
            "a:0",
            CHUNKS["a:0"],
            1.0,
            "/home/me/notes/a.md",
            "notes 1",
            "",
            {"location": "a.md", "start": 0, "end": 160},
        ),
        "b:0": Hit("b:0", CHUNKS["b:0"], 1.0, "/home/me/notes/b.md", "notes 2", "", {}),
    }
    refs = references(paper, hits)
    assert [(r.n, r.location, r.keys) for r in refs] == [(1, "a.md", ["a:0"]), (2, "b.md", ["b:0"])]
    text = markdown(paper, refs)
    assert "/home/me" not in text and text.count("[1]") == 3  # two sentences of a.md, one entry
    assert Path(refs[1].location).name == refs[1].location


def test_an_answer_that_stops_without_a_full_stop_is_finished_only_when_it_ends_a_clause() -> None:
    assert first_sentence("Glassmaking moved to Murano in 1291") == "Glassmaking moved to Murano in 1291."
    assert first_sentence("Venice floods every winter. It is old") == "Venice floods every winter."
    assert first_sentence("} : In 1849 Venice flooded again.") == "In 1849 Venice flooded again."
    for unfinished in (
        "Glassmaking moved to the island of",  # a preposition wants its object
        "Charles II granted a royal charter incorporating",  # so does an -ing form
        "The city lies in a lagoon,",
        "The city lies in a lagoon {",
    ):
        assert not first_sentence(unfinished).endswith(".")
    cut = "The city " + "lies in a shallow lagoon " * 20  # as long as the schema allows: cut off
    assert not first_sentence(cut[:RESTATEMENT_LIMIT]).endswith(".")


def test_a_template_label_or_stray_quote_before_the_sentence_is_not_part_of_it() -> None:
    sentence = "Glassmaking moved to Murano in 1291."
    for label in ("sentence}: ", "sentence}} ", "'", "{sentence}: ", "_ "):
        assert first_sentence(label + sentence) == sentence
    assert first_sentence("the glassmakers moved there.") == "The glassmakers moved there."
    assert first_sentence("p53 is defective in those cells.") == "p53 is defective in those cells."


def test_a_question_or_an_invented_attribution_is_not_a_restatement(embedder: LocalEmbedder) -> None:
    tries = [
        ("e2", "Glassmaking moved to Murano in 1291, but was it to protect the city from fires?"),
        ("e2", "According to its merchants, glassmaking was moved to Murano in 1291 to keep the city safe."),
        ("e3", "Who, for more than a thousand years, was an elected Doge ruling the Republic of Venice."),
    ]
    verdicts = judge_tries(_plan(), tries, CopyIndex(CHUNKS.values()), CHUNKS, embedder.embed)
    assert verdicts["e2"].sentence is None
    assert verdicts["e2"].rejected == {
        "asks instead of stating": 1,
        "attributes to a source its evidence does not quote": 1,
    }
    assert verdicts["e3"].rejected == {"asks instead of stating": 1}


def test_the_restatement_bound_is_the_writer_output_schema_bound() -> None:
    bound = next(
        m.max_length for m in Restatement.model_fields["sentence"].metadata if hasattr(m, "max_length")
    )
    assert bound == RESTATEMENT_LIMIT


def test_a_quotation_goes_first_to_a_section_that_would_otherwise_cite_one_document(
    embedder: LocalEmbedder,
) -> None:
    source = {"e1": "a", "e2": "a", "e3": "b", "e4": "c", "e5": "c"}
    part = {"e1": "lead", "e2": "body", "e3": "body", "e4": "body", "e5": "body"}
    heading = {"e1": "Introduction", "e2": "Culture", "e3": "Culture", "e4": "Climate", "e5": "Climate"}
    plan = _plan().model_copy(
        update={
            "items": [
                EvidenceItem(
                    id=i, part=part[i], heading=heading[i], key=f"{source[i]}:0", source=source[i], text=t
                )
                for i, t in EVIDENCE.items()
            ],
            "lead": ["e1"],
            "sections": [
                PlannedSection(heading="Climate", items=["e4", "e5"]),  # two documents... of one
                PlannedSection(heading="Culture", items=["e2", "e3"]),
            ],
            "closing": PlannedSection(heading="Conclusion", items=[]),
        }
    )
    restated = {
        "e1": "Venice rests on 118 little islands inside a shallow Adriatic lagoon.",
        "e2": "In 1291 glassmaking was moved to Murano so that the city would be safe from fires.",
        "e4": "Every winter high water, known as acqua alta, covers the low districts of the city.",
    }
    verdicts = {i: Judged(item=i, sentence=restated.get(i)) for i in EVIDENCE}
    paper = compose(plan, "Venice", verdicts, embedder.embed, min_quotes=1)
    quoted = [s.item for s in paper.sentences if s.quote]
    # Climate's second item is from the document it already cites; Culture's brings a second one.
    assert quoted == ["e3"]


def test_only_items_of_parts_still_thin_are_asked_for_again() -> None:
    plan = _plan()
    full = {"e2", "e3", "e4"}  # three body sections of one item each: Culture, Government, Climate
    plan = plan.model_copy(
        update={
            "items": [i.model_copy(update={"heading": "Culture"}) if i.id in full else i for i in plan.items],
            "sections": [PlannedSection(heading="Culture", items=sorted(full))],
        }
    )
    verdicts = {i.id: Judged(item=i.id, sentence=None) for i in plan.items}
    assert [i.id for i in to_retry(plan, verdicts)] == ["e1", "e2", "e3", "e4", "e5"]
    for item_id in ("e2", "e3"):
        verdicts[item_id] = Judged(item=item_id, sentence="A restated sentence that passed every check.")
    assert [i.id for i in to_retry(plan, verdicts, enough=2)] == ["e1", "e5"]  # Culture has two
    assert [i.id for i in to_retry(plan, verdicts, enough=3)] == ["e1", "e4", "e5"]


def test_a_lead_holds_at_most_four_sentences_restated_ones_first(embedder: LocalEmbedder) -> None:
    lead_texts = {
        "l1": "Venice is built on 118 small islands in a shallow lagoon of the Adriatic Sea.",
        "l2": "Glassmaking moved to the island of Murano in 1291 to protect the city from fires.",
        "l3": "The Republic of Venice was ruled by an elected Doge for more than a thousand years.",
        "l4": "Rising water, called acqua alta, floods the lower parts of the city every winter.",
        "l5": "The barrier system known as MOSE was first raised against a high tide in 2020.",
    }
    restated = {
        "l2": "In 1291 glassmaking was moved to Murano so that the city would be safe from fires.",
        "l3": "For over a thousand years an elected Doge led the Republic of Venice.",
        "l4": "Every winter high water, known as acqua alta, covers the low districts of the city.",
        "l5": "In 2020 the MOSE barriers rose for the first time to hold back a high tide.",
    }
    plan = _plan().model_copy(
        update={
            "items": [
                EvidenceItem(id=i, part="lead", heading="Introduction", key="a:0", source="a", text=t)
                for i, t in lead_texts.items()
            ],
            "lead": list(lead_texts),
            "sections": [],
            "closing": PlannedSection(heading="Conclusion", items=[]),
        }
    )
    verdicts = {i: Judged(item=i, sentence=restated.get(i)) for i in lead_texts}
    paper = compose(plan, "Venice", verdicts, embedder.embed)  # l1 may be quoted: 4 kept allow one
    assert [s.item for s in paper.lead] == ["l2", "l3", "l4", "l5"]


def test_a_thin_paper_still_quotes_two_evidence_sentences(embedder: LocalEmbedder) -> None:
    plan = _plan()
    verdicts = {i: Judged(item=i, sentence=None) for i in EVIDENCE}
    verdicts["e1"] = Judged(
        item="e1", sentence="Venice rests on 118 little islands inside a shallow Adriatic lagoon."
    )
    paper = compose(plan, "Venice", verdicts, embedder.embed)  # a fifth of one sentence is none
    assert paper.quotes == 2 and len(paper.sentences) == 3
    assert all(s.text.startswith("\u201c") for s in paper.sentences if s.quote)
