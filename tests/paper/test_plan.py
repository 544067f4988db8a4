"""The plan from a real memory (Chroma on disk, the bundled embedder): no model involved."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from scriptorium.memory import LocalEmbedder, MemoryStore
from scriptorium.paper.plan import NoEvidenceError, plan_paper

NEUTRAL = Path(__file__).parents[2] / "bench" / "quality" / "neutral"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, embedder: LocalEmbedder) -> Iterator[MemoryStore]:
    folder = tmp_path_factory.mktemp("memory")
    with MemoryStore(folder, "plan", embedder=embedder) as memory:
        memory.ingest([NEUTRAL / "sahara" / "sources", NEUTRAL / "nikola-tesla" / "sources"])
        yield memory


def test_an_untitled_corpus_gets_an_outline_from_its_content(store: MemoryStore) -> None:
    plan = plan_paper(store, "the Sahara", 4)
    assert plan.documents == 14 and all("sahara" in s for s in plan.sources)  # not Tesla's notes
    assert len(plan.sections) == 4 and len(set(plan.headings)) == 4
    assert not any(re.search(r"source \d", h) for h in plan.headings)  # never a file's title
    for section in plan.sections:  # evidence from several documents, as synthesis needs
        assert len({plan.item(i).source for i in section.items}) >= 2
    assert plan.lead and plan.closing.items
    texts = [i.text for i in plan.items]
    assert len(set(texts)) == len(texts)  # no evidence sentence used twice
    assert [a.id for a in plan.attempts] == [i.id for i in plan.items]
    assert all(w.islower() for a in plan.attempts for w in a.avoid)  # names stay writable


def test_more_sections_than_themes_gives_fewer_and_the_plan_says_so(
    store: MemoryStore, tmp_path: Path
) -> None:
    one = tmp_path / "one"
    one.mkdir()
    (one / "note.md").write_text(
        "# my note\n\nThe Okavango Delta floods every year when rain from the Angolan highlands arrives. "
        "The flood reaches the delta between March and June, months after the rain fell. "
        "Elephants, hippos and crocodiles gather along the channels while the water is high. "
        "Tourism in the delta is run mostly from lodges reached by light aircraft from Maun.\n"
    )
    with MemoryStore(tmp_path / "m", "one", embedder=store.embedder) as memory:
        memory.ingest([one])
        plan = plan_paper(memory, "the Okavango Delta", 5)
    assert plan.documents == 1 and plan.themes_found < 5 and len(plan.sections) == plan.themes_found


def test_a_topic_with_no_evidence_is_refused_before_any_model_call(store: MemoryStore) -> None:
    with pytest.raises(NoEvidenceError) as caught:
        plan_paper(store, "quantum chromodynamics lattice simulations", 4)
    assert "'quantum chromodynamics lattice simulations'" in caught.value.message
    assert "28 documents" in caught.value.message and "scriptorium ingest" in (caught.value.hint or "")
