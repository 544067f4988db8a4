"""Plain-text checks of a written sentence: copied from the corpus, facts absent from its evidence.

Both are rules a reader can apply by hand, shared by the paper workflow (which drops or replaces a
sentence that fails them) and by `scriptorium eval` (which reports them), so the two never disagree.

- **Copied** (`CopyIndex.copied`): a sentence of 6+ words counts as copied when at least 80% of its
  word 6-grams occur in the corpus, or when it shares a run of 12+ consecutive words with it. Words
  are compared lowercased without punctuation, so trimming or re-punctuating a source sentence is
  still copying it. Limits: a restatement that keeps a long proper name or a quoted title may trip
  the 12-word rule; a sentence that reorders clauses of one source sentence passes it.
- **Facts** (`missing_facts`): every name (a capitalised word that is not a common word), number and
  date in a sentence must appear in the evidence it cites, and a name may not occur more often than
  there (a name repeated in another's place is a swapped fact). Names are compared case-insensitively as
  whole words, numbers after dropping thousands separators; a scale word ("million", "billion")
  counts as part of the number. A synonym of a name, or a number spelt
  out in words in one and in digits in the other, counts as missing: the rule is strict on purpose.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "COPY_MIN_WORDS",
    "CopyIndex",
    "Facts",
    "english_words",
    "facts",
    "missing_facts",
    "names_topic",
    "word_tokens",
]

COPY_MIN_WORDS = 6
_NGRAM = 6
_COPY_SHARE = 0.8
_LONG_RUN = 12

_WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z]+)?(?:[.,][0-9]+)*")


def word_tokens(text: str) -> list[str]:
    """Lowercased words, punctuation dropped (numbers keep their inner separators, then lose commas)."""
    return [w.lower().replace(",", "").replace("\u2019", "'") for w in _WORD.findall(text)]


@functools.cache
def english_words(vocab_dir: Path | None = None) -> frozenset[str]:
    """English words a reader would not call misspelt: pyspellchecker's list (160,000 words, from
    subtitles and Wiktionary, bundled in its wheel) and the whole-word entries of the embedding
    model's WordPiece vocabulary in `vocab_dir`. Empty when neither can be read (the garbled check
    then only knows the corpus's words)."""
    words: set[str] = set()
    try:
        resource = importlib.resources.files("spellchecker") / "resources" / "en.json.gz"
        with resource.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as text:
            words.update(w for w in json.load(text) if w.isalpha())
    except (ModuleNotFoundError, OSError, ValueError):
        pass
    if vocab_dir is not None:
        try:
            lines = (vocab_dir / "vocab.txt").read_text(encoding="utf-8").split()
        except OSError:
            lines = []
        words.update(w for w in lines if w.isalpha() and w.islower())
    return frozenset(words)


class CopyIndex:
    """The word 6-grams and 12-grams of a corpus, to tell a copied sentence from a written one."""

    def __init__(self, texts: Iterable[str], dictionary: frozenset[str] = frozenset()) -> None:
        self._short: set[tuple[str, ...]] = set()
        self._long: set[tuple[str, ...]] = set()
        self._words: set[str] = set(dictionary)
        for text in texts:
            self.add(text)

    def add(self, text: str) -> None:
        tokens = word_tokens(text)
        self._words.update(tokens)
        self._short.update(_grams(tokens, _NGRAM))
        self._long.update(_grams(tokens, _LONG_RUN))

    def copied_share(self, sentence: str) -> float:
        """Share of the sentence's 6-grams found in the corpus (0 for a sentence under 6 words)."""
        grams = _grams(word_tokens(sentence), _NGRAM)
        return sum(g in self._short for g in grams) / len(grams) if grams else 0.0

    def unknown_words(self, sentence: str) -> list[str]:
        """Words in neither the corpus nor the dictionary given (a tiny model barred from a word
        sometimes misspells it instead: "multidudrug"). Empty without a dictionary."""
        if len(self._words) < 1000:
            return []
        unknown = []
        for word in word_tokens(sentence):
            base = word.removesuffix("'s")
            known = base in self._words or base.rstrip("s") in self._words
            derived = any(base.endswith(end) and base[: -len(end)] in self._words for end in _ENDINGS)
            if base.isalpha() and not known and not derived:
                unknown.append(word)
        return unknown

    def copied(self, sentence: str) -> bool:
        tokens = word_tokens(sentence)
        if len(tokens) < COPY_MIN_WORDS:
            return False
        if any(g in self._long for g in _grams(tokens, _LONG_RUN)):
            return True
        return self.copied_share(sentence) >= _COPY_SHARE


_ENDINGS = ("ed", "d", "ing", "ly", "er", "est", "es", "ment", "ness", "al", "ally", "ity", "ation")


def _grams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


@dataclass(frozen=True)
class Facts:
    names: tuple[str, ...]
    numbers: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.names or self.numbers)


_NUMBER = re.compile(r"(?<![A-Za-z0-9])\d+(?:[.,]\d+)*")
_NAME = re.compile(r"\b[A-Z][A-Za-z0-9'\u2019\-]*[A-Za-z0-9]|\b[A-Z]\b")


_SCALE = re.compile(r"\b(hundred|thousand|million|billion|trillion)s?\b", re.I)


def _numbers(text: str) -> list[str]:
    """Numbers as written in digits (thousands separators dropped), and the scale words that
    multiply them ("1.1 million" is not "1.1 billion")."""
    digits = [n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)]
    return digits + [w.lower() for w in _SCALE.findall(text)]


def facts(sentence: str) -> Facts:
    """The names, numbers and dates a sentence states (months count as names)."""
    numbers = tuple(dict.fromkeys(_numbers(sentence)))
    names = []
    for match in _NAME.finditer(sentence):
        word = match.group(0).replace("\u2019", "'")
        base = word.lower().removesuffix("'s")
        if base in COMMON_WORDS or len(base) < 2:
            continue
        names.append(word.removesuffix("'s"))
    return Facts(names=tuple(dict.fromkeys(names)), numbers=numbers)


def missing_facts(sentence: str, evidence: str) -> list[str]:
    """The names, numbers and dates of `sentence` that `evidence` does not contain."""
    found = facts(sentence)
    if not found:
        return []
    vocabulary = set(word_tokens(evidence))
    vocabulary |= {w.removesuffix("'s") for w in vocabulary}
    vocabulary |= {part for w in vocabulary for part in w.split("'")}  # d'Iberville, O'Neill
    numbers = set(_numbers(evidence))
    missing = [n for n in found.numbers if n not in numbers]
    said = word_tokens(sentence)
    given = word_tokens(evidence)
    for name in found.names:
        parts = [p for p in re.split(r"[-'\u2019]", name.lower()) if p]
        if not all(p in vocabulary or p.rstrip("s") in vocabulary for p in parts):
            missing.append(name)
        elif len(parts) == 1 and said.count(parts[0]) > max(1, given.count(parts[0])):
            # Named more often than the evidence names it: a name put in another's place
            # ("awarded Edison the Edison Medal" from "awarded Tesla the Edison Medal").
            missing.append(f"{name} (again)")
    return missing


_TITLE_FILLER = frozenset(["the", "a", "an", "of", "and"])


def names_topic(title: str, topic: str) -> bool:
    """A title names its topic when it holds every word of it but "the", "a", "an", "of", "and"
    (case and punctuation aside): "The Sinking of the Titanic" names "sinking of the Titanic"."""

    def content(text: str) -> set[str]:
        return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _TITLE_FILLER}

    return content(topic) <= content(title)


# Capitalised at the start of a sentence or in a heading without being a name. Kept short and
# general on purpose: a missing entry only makes the fact check stricter.
COMMON_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "according",
        "across",
        "after",
        "afterwards",
        "again",
        "against",
        "all",
        "almost",
        "along",
        "also",
        "although",
        "always",
        "among",
        "an",
        "and",
        "another",
        "any",
        "anyone",
        "around",
        "as",
        "at",
        "although",
        "because",
        "before",
        "behind",
        "being",
        "below",
        "besides",
        "between",
        "beyond",
        "both",
        "but",
        "by",
        "can",
        "despite",
        "did",
        "do",
        "does",
        "during",
        "each",
        "early",
        "earlier",
        "either",
        "even",
        "eventually",
        "ever",
        "every",
        "first",
        "following",
        "for",
        "from",
        "further",
        "furthermore",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "however",
        "i",
        "if",
        "in",
        "including",
        "instead",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "last",
        "later",
        "late",
        "least",
        "less",
        "like",
        "many",
        "meanwhile",
        "more",
        "moreover",
        "most",
        "much",
        "my",
        "near",
        "nearly",
        "neither",
        "never",
        "nevertheless",
        "next",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "often",
        "on",
        "once",
        "one",
        "only",
        "or",
        "other",
        "others",
        "our",
        "out",
        "over",
        "overall",
        "perhaps",
        "rather",
        "several",
        "she",
        "since",
        "so",
        "some",
        "soon",
        "still",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "themselves",
        "then",
        "there",
        "thereafter",
        "therefore",
        "these",
        "they",
        "this",
        "those",
        "though",
        "through",
        "throughout",
        "thus",
        "to",
        "today",
        "together",
        "too",
        "toward",
        "towards",
        "under",
        "unlike",
        "until",
        "up",
        "upon",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "whereas",
        "where",
        "whether",
        "which",
        "while",
        "who",
        "whom",
        "whose",
        "why",
        "with",
        "within",
        "without",
        "yet",
        "you",
        "your",
        "according",
        "based",
        "born",
        "called",
        "known",
        "named",
        "made",
        "used",
        "became",
        "become",
        "began",
        "built",
        "found",
        "given",
        "held",
        "led",
        "located",
        "set",
        "today's",
        "unlike",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "many",
        "several",
        "most",
        "some",
        "few",
        "both",
    ]
)
