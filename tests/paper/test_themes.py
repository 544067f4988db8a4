"""Themes from vectors: clusters of even size, named by the headings that fit them."""

from __future__ import annotations

import numpy as np

from scriptorium.paper.themes import cluster, name_themes, order_key


def _unit(x: np.ndarray) -> np.ndarray:
    unit: np.ndarray = (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)
    return unit


def _corpus(themes: int, per: int, seed: int = 0) -> tuple[np.ndarray, list[int], np.ndarray]:
    """`themes` directions sharing a strong common component (as passages on one topic do)."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=32)
    directions = rng.normal(size=(themes, 32))
    rows, groups = [], []
    for t in range(themes):
        for g in range(per):  # each group (chunk) holds 3 passages
            for _ in range(3):
                rows.append(3 * common + directions[t] + 0.3 * rng.normal(size=32))
                groups.append(t * per + g)
    return _unit(np.array(rows)), groups, _unit(directions)


def test_passages_on_one_topic_split_into_the_themes_they_hold() -> None:
    vectors, groups, _ = _corpus(themes=3, per=4)
    themes = cluster(vectors, groups, k=3)
    assert sorted(len(t.members) for t in themes) == [12, 12, 12]
    for theme in themes:  # no theme mixes passages of two true themes
        assert len({i // 12 for i in theme.members}) == 1


def test_a_theme_too_thin_for_a_section_joins_its_neighbour() -> None:
    vectors, groups, _ = _corpus(themes=2, per=3)
    themes = cluster(vectors, groups, k=4, min_size=9)
    assert len(themes) == 2 and sum(len(t.members) for t in themes) == len(groups)


def test_each_theme_gets_the_closest_heading_and_no_heading_twice() -> None:
    vectors, groups, directions = _corpus(themes=3, per=4)
    themes = cluster(vectors, groups, k=3)
    headings = ["History", "Climate", "Economy", "Unrelated"]
    rng = np.random.default_rng(1)
    heading_vectors = _unit(np.vstack([directions, rng.normal(size=(1, 32))]))
    name_themes(themes, headings, heading_vectors)
    named = {theme.members[0] // 12: theme.heading for theme in themes}
    assert named == {0: "History", 1: "Climate", 2: "Economy"}
    own = [[("Maritime trade", heading_vectors[0] * 1.0)], [], []]
    name_themes(themes, headings, heading_vectors, own)
    assert len({t.heading for t in themes}) == 3


def test_order_key_sorts_numbered_notes_naturally() -> None:
    names = ["notes 10.md", "notes 9.md", "notes 1.md"]
    assert sorted(names, key=order_key) == ["notes 1.md", "notes 9.md", "notes 10.md"]
