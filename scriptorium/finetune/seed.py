"""Build the shipped seed set from the sample corpus (`data/corpus/<topic>/`: topic.yaml, outline.md,
sources/*.md), deterministically: the same corpus and seed give byte-identical files.

Answers are made from the sources themselves, never by a model: the planner's outline uses the
topic's reference headings with a summary taken from the best-matching source sentence; the writer
restates evidence sentences, each ending with its passage's key; the reviewer judges drafts whose
faults (an uncited sentence, a key that was not given, a sentence the cited passage does not
support, a repeat) were put there on purpose, so its verdict is known. Whole topics are held out, so
the held-out split shares no source text with training.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from numpy.typing import NDArray

from ..errors import TrainingDataError
from ..text import split_sentences
from .dataset import ROLES, ChatMessage, Role, TrainingExample, write_jsonl
from .prompts import Passage, as_json, planner_prompt, reviewer_prompt, writer_prompt

__all__ = ["HELDOUT_TOPICS", "SeedTopic", "build_seed", "load_corpus"]

HELDOUT_TOPICS = ("isaac-newton", "radiocarbon-dating", "kyoto", "world-health-organization")
"""One topic of each kind, never trained on."""

Embed = Callable[[list[str]], NDArray[np.float32]]


@dataclass(frozen=True)
class SourceDoc:
    key: str
    title: str
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class SeedTopic:
    slug: str
    topic: str
    headings: tuple[str, ...]
    sources: tuple[SourceDoc, ...]


def _read_source(path: Path) -> SourceDoc:
    lines = path.read_text(encoding="utf-8").strip().splitlines()
    if not lines or not lines[0].startswith("# "):
        raise TrainingDataError(f"{path}: a source starts with a '# Title' line")
    body = " ".join(line.strip() for line in lines[1:] if line.strip())
    stem = re.sub(r"^\d+-", "", path.stem)
    return SourceDoc(key=f"{stem}:1", title=lines[0][2:].strip(), sentences=tuple(split_sentences(body)))


def load_corpus(root: Path) -> list[SeedTopic]:
    topics = []
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        meta = yaml.safe_load((folder / "topic.yaml").read_text(encoding="utf-8"))
        headings = tuple(
            line[3:].strip()
            for line in (folder / "outline.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("## ")
        )
        sources = tuple(_read_source(path) for path in sorted((folder / "sources").glob("*.md")))
        if len(headings) < 3 or len(sources) < 3:
            raise TrainingDataError(f"{folder}: a seed topic needs 3+ outline headings and 3+ sources")
        topics.append(SeedTopic(folder.name, str(meta["topic"]), headings, sources))
    if not topics:
        raise TrainingDataError(f"{root}: no topic folders")
    return topics


@dataclass(frozen=True)
class _Ranked:
    """A topic's sentences ranked for each heading."""

    topic: SeedTopic
    order: list[list[tuple[int, int]]]
    """Per heading, (source index, sentence index) from best to worst match."""

    def summary(self, heading: int, longest: int = 120) -> str:
        """The best-matching sentence short enough for an outline summary (short answers train
        faster and fit the row limit)."""
        for source, sentence in self.order[heading][:12]:
            text = self.topic.sources[source].sentences[sentence]
            if len(text) <= longest:
                return text
        source, sentence = self.order[heading][0]
        text = self.topic.sources[source].sentences[sentence]
        return text[: longest - 3].rsplit(" ", 1)[0] + "..."

    def passages(self, heading: int, count: int) -> list[tuple[int, int]]:
        """The best sentence of each of the `count` best-matching sources."""
        chosen: list[tuple[int, int]] = []
        for source, sentence in self.order[heading]:
            if all(source != taken for taken, _ in chosen):
                chosen.append((source, sentence))
            if len(chosen) == count:
                break
        return chosen


def _rank(topic: SeedTopic, embed: Embed) -> _Ranked:
    where = [(s, i) for s, doc in enumerate(topic.sources) for i in range(len(doc.sentences))]
    texts = [topic.sources[s].sentences[i] for s, i in where]
    sentence_vectors = embed(texts)
    heading_vectors = embed([f"{topic.topic}: {heading}" for heading in topic.headings])
    scores = heading_vectors @ sentence_vectors.T
    order = [[where[int(j)] for j in np.argsort(-row, kind="stable")] for row in scores]
    return _Ranked(topic, order)


def _cite(sentence: str, key: str) -> str:
    body = sentence.rstrip()
    end = body[-1] if body[-1] in ".!?" else "."
    return f"{body.rstrip('.!?')} [{key}]{end}"


def _passage(doc: SourceDoc, sentence: int, key: str) -> Passage:
    """The chosen sentence with the one after it (or before it, at the end): evidence reads as a
    passage, and the writer has to pick the sentence that fits the heading."""
    other = sentence + 1 if sentence + 1 < len(doc.sentences) else sentence - 1
    first, second = sorted((sentence, max(other, 0)))
    text = " ".join(dict.fromkeys((doc.sentences[first], doc.sentences[second])))
    return Passage(key=key, text=text)


def _question(heading: str, topic: str, variant: int) -> str:
    h = heading[0].lower() + heading[1:]
    forms = (
        f"What do the sources say about {h}?",
        f"Which facts about {h} matter most for {topic}?",
        f"How is {h} described in the sources?",
    )
    return forms[variant % len(forms)][:100]


def _planner_examples(ranked: _Ranked, rng: random.Random) -> list[TrainingExample]:
    topic = ranked.topic
    examples = []
    titles = [doc.title for doc in topic.sources]
    plain = topic.topic if len(topic.topic) >= 5 else f"{topic.topic}: an overview"  # titles are 5+
    title_forms = (plain, f"{topic.topic}: an overview", f"A short survey of {topic.topic}")
    for variant in range(8):
        count = min(len(topic.headings), 3 + variant % 4)
        picked = sorted(rng.sample(range(len(topic.headings)), count))
        shown = titles[:]
        rng.shuffle(shown)
        shown = shown[: max(3, len(shown) - variant % 3)]
        sections = []
        for n, h in enumerate(picked):
            summary = ranked.summary(h)
            questions = [_question(topic.headings[h], topic.topic, variant + n)]
            if (variant + n) % 2:
                questions.append(_question(topic.headings[h], topic.topic, variant + n + 1))
            sections.append({"heading": topic.headings[h], "summary": summary, "questions": questions})
        answer = {"title": title_forms[variant % len(title_forms)], "sections": sections}
        # Five of eight give the headings, as the paper workflow does; the rest leave them open.
        headings = [topic.headings[h] for h in picked] if variant % 8 < 5 else []
        examples.append(
            _example(
                "planner",
                planner_prompt(topic.topic, shown, count, headings),
                as_json(answer),
                topic,
                {"sections": count, "headings": headings},
            )
        )
    return examples


def _keys(topic: SeedTopic, picks: Sequence[tuple[int, int]], numbered: bool) -> list[str]:
    if numbered:  # short keys too, so the lesson is "use the given keys", not "use slugs"
        return [f"s{source + 1}" for source, _ in picks]
    return [topic.sources[source].key for source, _ in picks]


def _writer_case(
    ranked: _Ranked, heading: int, rng: random.Random, variant: int
) -> tuple[list[Passage], list[str]]:
    """Evidence passages for a heading and the cited sentences a good section makes of them."""
    topic = ranked.topic
    picks = ranked.passages(heading, 3 if variant == 0 else 2 + rng.randrange(2))
    keys = _keys(topic, picks, numbered=variant == 1)
    passages = [_passage(topic.sources[s], i, key) for (s, i), key in zip(picks, keys, strict=True)]
    sentences = [_cite(topic.sources[s].sentences[i], key) for (s, i), key in zip(picks, keys, strict=True)]
    if variant == 1:
        order = list(range(len(passages)))
        rng.shuffle(order)
        passages = [passages[n] for n in order]
    return passages, sentences


def _writer_examples(ranked: _Ranked, rng: random.Random) -> list[TrainingExample]:
    topic = ranked.topic
    examples = []
    for heading in range(len(topic.headings)):
        for variant in range(2):
            passages, sentences = _writer_case(ranked, heading, rng, variant)
            examples.append(
                _example(
                    "writer",
                    writer_prompt(topic.topic, topic.headings[heading], passages),
                    " ".join(sentences),
                    topic,
                    {"keys": [passage.key for passage in passages]},
                )
            )
    return examples


_FAULTS = ("uncited", "foreign_key", "unsupported", "repeat")


def _faulty(
    sentences: list[str], keys: list[str], fault: str, stranger: str, rng: random.Random
) -> tuple[list[str], dict[str, object]]:
    """A draft with one fault of the given kind, and the review it deserves."""
    draft = sentences[:]
    n = rng.randrange(len(draft))
    cited = re.search(r"\[([^\]]+)\]", draft[n])
    key = cited.group(1) if cited else keys[0]
    unsupported: list[str] = []
    if fault == "uncited":
        draft[n] = re.sub(r"\s*\[[^\]]+\]", "", draft[n])
        fix = {
            "problem": f"Sentence {n + 1} has no citation.",
            "suggestion": f"End it with the key it restates, like [{key}].",
        }
    elif fault == "foreign_key":
        wrong = "ref:9" if key != "ref:9" else "ref:8"
        draft[n] = draft[n].replace(f"[{key}]", f"[{wrong}]")
        fix = {
            "problem": f"Sentence {n + 1} cites [{wrong}], which is not in the evidence.",
            "suggestion": "Cite only these keys: " + ", ".join(keys) + ".",
        }
    elif fault == "unsupported":
        draft[n] = _cite(stranger, key)
        unsupported = [key]
        fix = {
            "problem": f"Sentence {n + 1} is not supported by [{key}].",
            "suggestion": f"Restate what [{key}] says, or remove the sentence.",
        }
    else:
        draft.append(draft[n])
        fix = {
            "problem": f"Sentence {len(draft)} repeats sentence {n + 1}.",
            "suggestion": "Remove the repeated sentence.",
        }
    return draft, {"verdict": "revise", "fixes": [fix], "unsupported_citations": unsupported}


def _reviewer_examples(
    ranked: _Ranked, strangers: Sequence[str], rng: random.Random, start: int
) -> list[TrainingExample]:
    topic = ranked.topic
    examples = []
    for heading in range(len(topic.headings)):
        passages, sentences = _writer_case(ranked, heading, rng, heading % 2)
        keys = [passage.key for passage in passages]
        cases: list[tuple[list[str], dict[str, object]]] = [
            (sentences, {"verdict": "approve", "fixes": [], "unsupported_citations": []})
        ]
        fault = _FAULTS[(start + heading) % len(_FAULTS)]
        cases.append(_faulty(sentences, keys, fault, rng.choice(strangers), rng))
        for draft, review in cases:
            prompt = reviewer_prompt(topic.topic, topic.headings[heading], passages, " ".join(draft))
            examples.append(
                _example("reviewer", prompt, as_json(review), topic, {"verdict": review["verdict"]})
            )
    return examples


def _example(
    role: Role, prompt: list[ChatMessage], answer: str, topic: SeedTopic, meta: dict[str, object]
) -> TrainingExample:
    return TrainingExample.model_validate(
        {
            "role": role,
            "messages": [*prompt, ChatMessage(role="assistant", content=answer)],
            "source": f"seed:{topic.slug}",
            "meta": meta,
        }
    )


def build_seed(
    corpus: Path, out: Path, embed: Embed, *, seed: int = 13, heldout: Sequence[str] = HELDOUT_TOPICS
) -> dict[str, int]:
    """Write `<role>.train.jsonl` and `<role>.heldout.jsonl` under `out`; returns rows per file."""
    topics = load_corpus(corpus)
    missing = set(heldout) - {topic.slug for topic in topics}
    if missing:
        raise TrainingDataError(f"held-out topics not in {corpus}: {', '.join(sorted(missing))}")
    rows: dict[tuple[Role, str], list[TrainingExample]] = {
        (role, split): [] for role in ROLES for split in ("train", "heldout")
    }
    for index, topic in enumerate(topics):
        rng = random.Random(f"{seed}:{topic.slug}")
        ranked = _rank(topic, embed)
        # Unsupported sentences come from other topics: plainly off the passage they cite. A
        # training row never borrows from a held-out topic (its sentences would leak into training).
        split = "heldout" if topic.slug in heldout else "train"
        strangers = [
            s
            for other in topics
            if other is not topic and (split == "heldout" or other.slug not in heldout)
            for doc in other.sources
            for s in doc.sentences
        ]
        rows["planner", split] += _planner_examples(ranked, rng)
        rows["writer", split] += _writer_examples(ranked, rng)
        rows["reviewer", split] += _reviewer_examples(ranked, strangers, rng, index)
    return {
        f"{role}.{split}": write_jsonl(out / f"{role}.{split}.jsonl", examples)
        for (role, split), examples in rows.items()
    }
