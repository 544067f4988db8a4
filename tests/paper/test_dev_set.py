"""The neutral dev set does not leak its reference outlines through titles or headings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from scriptorium.finetune.seed import HELDOUT_TOPICS
from scriptorium.paper.checks import COMMON_WORDS
from scriptorium.serving.shipped import shipped_provenance

NEUTRAL = Path(__file__).parents[2] / "bench" / "quality" / "neutral"
TOPICS = sorted(p for p in NEUTRAL.iterdir() if p.is_dir())
_STOP = COMMON_WORDS | {"and", "of", "the", "a", "an", "in", "on", "to", "for"}


def _content(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP}


def test_the_neutral_set_has_at_least_twelve_topics_of_ten_to_thirty_sources() -> None:
    assert len(TOPICS) >= 12
    kinds = {yaml.safe_load((t / "topic.yaml").read_text())["kind"] for t in TOPICS}
    assert {"event", "person", "organisation", "science", "place", "technique"} <= kinds
    for topic in TOPICS:
        assert 10 <= len(list((topic / "sources").glob("*.md"))) <= 30, topic.name


@pytest.mark.parametrize("topic", TOPICS, ids=[t.name for t in TOPICS])
def test_no_source_title_or_heading_echoes_a_reference_heading(topic: Path) -> None:
    references = [
        _content(line[3:])
        for line in (topic / "outline.md").read_text().splitlines()
        if line.startswith("## ")
    ]
    for source in sorted((topic / "sources").glob("*.md")):
        labels = [source.stem] + [
            line.lstrip("#").strip() for line in source.read_text().splitlines() if line.startswith("#")
        ]
        for label in labels:
            words = _content(label)
            for heading in references:
                shared = words & heading
                assert len(shared) <= len(words) / 2 or not words, (
                    f"{source.name}: '{label}' echoes {heading}"
                )


def test_the_shipped_adapter_never_saw_a_topic_or_a_sentence_quality_is_reported_on() -> None:
    pairs_file = Path(__file__).parents[2] / shipped_provenance().data.split()[0]
    pairs = [json.loads(line) for line in pairs_file.read_text().splitlines() if line.strip()]
    reported = [p for p in (NEUTRAL.parent).glob("*/*") if p.is_dir() and (p / "topic.yaml").is_file()]
    topics = {p.name for p in reported} | {
        yaml.safe_load((p / "topic.yaml").read_text())["topic"] for p in reported
    }
    trained = {pair["topic"] for pair in pairs}
    assert len(reported) >= 20 and not {t.lower() for t in trained} & {t.lower() for t in topics}
    assert not trained & set(HELDOUT_TOPICS)
    text = " ".join(" ".join(s.read_text().split()) for p in reported for s in (p / "sources").glob("*.md"))
    assert not [pair["source"] for pair in pairs if pair["source"] in text]
