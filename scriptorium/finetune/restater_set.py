"""The paper adapter's training rows: the shipped restater pairs that pass the paper's own checks.

Each pair of `data/restater/pairs.jsonl` (topic, source sentence, restatement) was written for this
project from the seed corpus's training topics (none held out, none of a quality dev set). A pair
is kept only when the restatement passes the checks the paper workflow applies (not copied, no
name, number or date the source lacks, close to the source); its row is the restater agent's exact
prompt (its system message and `Sentence: ...`) with the restatement as its JSON answer. The same
pairs give the same rows in the same order, so the same recipe gives the same adapter.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..agents import AgentCatalog, default_outputs
from ..agents.engine import system_message
from ..memory import LocalEmbedder
from ..paper.checks import CopyIndex, missing_facts
from ..tools import default_registry
from .dataset import ChatMessage, TrainingExample
from .seed import HELDOUT_TOPICS

__all__ = ["PAIRS", "RESTATER_RECIPE", "restater_rows"]

PAIRS = Path(__file__).parent / "data" / "restater" / "pairs.jsonl"
RESTATER_RECIPE = {"epochs": 2.0, "max_steps": 120}
"""What the shipped adapter was trained with beyond `LoraRecipe`'s defaults."""
MIN_CLOSENESS = 0.7


def restater_rows(
    embedder: LocalEmbedder | None = None, pairs: Path = PAIRS
) -> tuple[list[TrainingExample], int]:
    """The writer rows of the pairs that pass the checks, and how many pairs failed them."""
    catalog = AgentCatalog.load(default_registry(plugins=False), default_outputs())
    system = system_message(catalog.get("restater"), {})
    rows = [json.loads(line) for line in pairs.read_text(encoding="utf-8").splitlines() if line.strip()]
    vectors = (embedder or LocalEmbedder()).embed([r["source"] for r in rows] + [r["restated"] for r in rows])
    kept, dropped = [], 0
    for n, row in enumerate(rows):
        source, restated = row["source"], row["restated"]
        if (
            row["topic"] in HELDOUT_TOPICS
            or CopyIndex([source]).copied(restated)
            or missing_facts(restated, source)
            or float(vectors[n] @ vectors[len(rows) + n]) < MIN_CLOSENESS
        ):
            dropped += 1
            continue
        kept.append(
            TrainingExample(
                role="writer",
                messages=[
                    ChatMessage(role="system", content=system),
                    ChatMessage(role="user", content=f"Sentence: {source}\n"),
                    ChatMessage(role="assistant", content=json.dumps({"sentence": restated})),
                ],
                source=f"restater:{row['topic']}",
            )
        )
    return kept, dropped
