"""Build the restater's training rows from `finetune/data/restater/pairs.jsonl`.

    .venv/bin/python scripts/build_restater_set.py [OUT.jsonl]

Each pair (topic, source sentence, restatement) was written for this project by the development
team's writing assistants from the seed corpus's sources (`data/corpus`, training topics only:
none of the held-out seed topics, none of the quality dev set's topics). A pair is kept only when
the restatement passes the checks the paper workflow applies (not copied, no name, number or date
the source lacks, polarity kept, close to the source); the row is the restater agent's exact
prompt (its system message and `Sentence: ...`) with the restatement as its JSON answer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from scriptorium.agents import AgentCatalog, default_outputs
from scriptorium.agents.engine import system_message
from scriptorium.finetune.dataset import ChatMessage, TrainingExample, write_jsonl
from scriptorium.finetune.seed import HELDOUT_TOPICS
from scriptorium.memory import LocalEmbedder
from scriptorium.paper.checks import CopyIndex, missing_facts
from scriptorium.tools import default_registry

PAIRS = Path(__file__).parents[1] / "scriptorium" / "finetune" / "data" / "restater" / "pairs.jsonl"


def main(out: Path) -> None:
    catalog = AgentCatalog.load(default_registry(plugins=False), default_outputs())
    spec = catalog.get("restater")
    system = system_message(spec, {})
    rows = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    embedder = LocalEmbedder()
    vectors = embedder.embed([r["source"] for r in rows] + [r["restated"] for r in rows])
    kept, dropped = [], 0
    for n, row in enumerate(rows):
        source, restated = row["source"], row["restated"]
        close = float(vectors[n] @ vectors[len(rows) + n])
        if (
            row["topic"] in HELDOUT_TOPICS
            or CopyIndex([source]).copied(restated)
            or missing_facts(restated, source)
            or close < 0.7
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
    write_jsonl(out, kept)
    print(f"{len(kept)} rows written to {out}, {dropped} pairs failed the checks")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("restater.train.jsonl"))
