"""Themes of a topic's evidence: its passages clustered by meaning, each named and ordered.

The outline comes from what the sources say, not from their titles: the topic's passages are
clustered (Ward's method on centred sentence embeddings: deterministic, so the same corpus gives the
same outline), a cluster too thin to carry a section joins its nearest neighbour, and each theme
gets the general heading (`headings.py`) or informative source title closest to what it says.
Themes are ordered as their passages come in the corpus (numbered notes and split articles keep
their order). Pure functions over vectors: no store, no model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["Passage", "Theme", "cluster", "name_themes", "order_key"]

Vectors = NDArray[np.float32]


@dataclass(frozen=True)
class Passage:
    """One sentence of the evidence, where it comes from, and where it sits in its document."""

    key: str
    """Citation key of its chunk."""
    source: str
    text: str
    position: tuple[str, int, int]
    """(natural sort key of the document, chunk index, sentence index)."""


@dataclass
class Theme:
    members: list[int]
    """Indexes of its passages."""
    centroid: Vectors
    heading: str = ""
    candidates: list[str] = field(default_factory=list)


def cluster(vectors: Vectors, groups: Sequence[int], k: int, min_size: int = 4) -> list[Theme]:
    """At most `k` themes over passages `vectors` (unit rows). Passages of one group (a chunk) stay
    together, so a theme is a set of passages read in context; a theme of fewer than `min_size`
    passages joins its nearest one.

    Passages on one topic all resemble the topic more than they differ, so clustering raw vectors
    gives one theme holding most of them; the vectors are centred on their mean first, which
    leaves what tells the passages apart. Ward's criterion then merges the pair of groups whose
    union grows the spread least, which keeps themes of even size.
    """
    group_ids = sorted(set(groups))
    members = {g: [i for i, x in enumerate(groups) if x == g] for g in group_ids}
    centred = _unit(vectors - vectors.mean(axis=0))
    points = _unit(np.stack([centred[members[g]].mean(axis=0) for g in group_ids]))
    merged = _ward(points, max(1, min(k, len(group_ids))))
    themes = [sorted(i for gi in part for i in members[group_ids[gi]]) for part in merged]
    while len(themes) > 1:
        smallest = min(range(len(themes)), key=lambda t: len(themes[t]))
        if len(themes[smallest]) >= min_size:
            break
        centroids = _unit(np.stack([vectors[t].mean(axis=0) for t in themes]))
        near = centroids @ centroids[smallest]
        near[smallest] = -2
        themes[int(np.argmax(near))] += themes.pop(smallest)
    return [Theme(members=sorted(t), centroid=_unit(vectors[t].mean(axis=0))) for t in themes]


def _ward(points: Vectors, k: int) -> list[list[int]]:
    """Agglomerative clustering with Ward's criterion, down to `k` clusters of point indexes."""
    parts: list[list[int]] = [[i] for i in range(len(points))]
    centres = points.astype(np.float64).copy()
    sizes = np.ones(len(points))
    while len(parts) > k:
        gaps = ((centres[:, None, :] - centres[None, :, :]) ** 2).sum(axis=-1)
        cost = sizes[:, None] * sizes[None, :] / (sizes[:, None] + sizes[None, :]) * gaps
        cost[np.diag_indices(len(parts))] = np.inf
        a, b = divmod(int(np.argmin(cost)), len(parts))
        a, b = min(a, b), max(a, b)
        centres[a] = (centres[a] * sizes[a] + centres[b] * sizes[b]) / (sizes[a] + sizes[b])
        sizes[a] += sizes[b]
        parts[a] += parts.pop(b)
        centres = np.delete(centres, b, axis=0)
        sizes = np.delete(sizes, b)
    return parts


def name_themes(
    themes: list[Theme],
    headings: Sequence[str],
    heading_vectors: Vectors,
    extra: Sequence[Sequence[tuple[str, Vectors]]] = (),
    distinct: float = 0.75,
) -> None:
    """Give each theme the heading closest to what it says, best fits first; no heading twice, nor
    two that say nearly the same (cosine >= `distinct`). `extra`: per theme, more candidates of its
    own (informative titles and headings of its documents) with their vectors."""
    options: list[list[tuple[float, str, Vectors]]] = []
    for n, theme in enumerate(themes):
        fit = heading_vectors @ theme.centroid
        own = [(float(v @ theme.centroid), h, v) for h, v in (extra[n] if n < len(extra) else ())]
        ranked = sorted(
            [(float(fit[j]), headings[j], heading_vectors[j]) for j in range(len(headings))] + own,
            key=lambda o: -o[0],
        )
        options.append(ranked)
        theme.candidates = [h for _, h, _ in ranked[:5]]
    taken: list[Vectors] = []
    pending = set(range(len(themes)))
    while pending:  # the theme whose best free heading fits best is named first
        best: tuple[float, int, str, Vectors] | None = None
        for n in pending:
            for score, heading, vector in options[n]:
                if all(float(vector @ t) < distinct for t in taken):
                    if best is None or score > best[0]:
                        best = (score, n, heading, vector)
                    break
        if best is None:
            for n in pending:
                themes[n].heading = themes[n].candidates[0]
            break
        _, n, heading, vector = best
        themes[n].heading = heading
        taken.append(vector)
        pending.discard(n)


def order_key(source: str) -> str:
    """A natural sort key: `notes 10` after `notes 9`."""
    return re.sub(r"\d+", lambda m: m.group(0).zfill(8), source.lower())


def _unit(x: Vectors) -> Vectors:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    unit: Vectors = (x / np.maximum(norm, 1e-9)).astype(np.float32)
    return unit
