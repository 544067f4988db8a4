"""`eval restater`: how well the served model does the paper workflow's writing, on topics it never saw.

The paper adapter has one role, the restater (one evidence sentence in new words, facts kept), so
this is its role evaluation. The paper workflow's first writing round (`restater.yaml`: the plan
from the evidence, every item restated with the workflow's own prompt, sampling and barred words,
every answer judged by the workflow's own checks) runs on the seed corpus's held-out topics, which
no training row of the shipped adapter or the seed set comes from (`tests/paper/test_dev_set.py`).
Measured from the verdicts:

- items restated: the share of evidence items with at least one answer the checks keep (what
  decides how much of a paper is written rather than quoted or dropped);
- answers kept: the share of distinct answers that pass every check;
- why answers fail: each check's share of the distinct answers (copied, facts not in the evidence,
  strays from it, ...);
- closeness: the mean cosine of a kept sentence to its evidence sentence;
- completion tokens per restated item (what a paper costs in writing).

The answers are sampled (temperature 0.8, as the workflow asks), so two runs differ by a few points;
the report carries the counts so a reader can judge the noise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ..finetune.seed import HELDOUT_TOPICS
from ..paper.compose import Judged
from ..project import Project
from ..workflows.batch import BatchTask
from .paper import EvaluationError

__all__ = [
    "HELDOUT_CORPUS",
    "RESTATER_WORKFLOW",
    "RestaterEvalError",
    "RestaterScores",
    "TopicVerdicts",
    "evaluate_restater",
    "heldout_topics",
    "score_verdicts",
]

HELDOUT_CORPUS = Path(__file__).parents[1] / "finetune" / "data" / "corpus"
RESTATER_WORKFLOW = Path(__file__).with_name("restater.yaml")


class RestaterEvalError(EvaluationError):
    """The restater evaluation cannot run as asked (a topic that is not held out, a failed run)."""


class TopicVerdicts(BaseModel):
    """One topic's writing round: every item's verdict and what the round cost."""

    model_config = ConfigDict(extra="forbid")

    topic: str
    verdicts: dict[str, Judged]
    completion_tokens: int


class RestaterScores(BaseModel):
    """The served model's restater on the held-out topics (`score_verdicts`)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    topics: list[str]
    items: int
    answers: int
    """Distinct answers judged (identical answers to one item count once)."""
    items_restated: float
    answers_kept: float
    failures: dict[str, float]
    """Check -> share of the distinct answers it refused, most frequent first."""
    closeness: float | None
    tokens_per_restated_item: float | None
    completion_tokens: int


def score_verdicts(model: str, rounds: Sequence[TopicVerdicts]) -> RestaterScores:
    """The scores of one model's writing rounds (pure: from the verdicts the checks gave)."""
    verdicts = [judged for round_ in rounds for judged in round_.verdicts.values()]
    failed: Counter[str] = Counter()
    for judged in verdicts:
        failed.update(judged.rejected)
    passed = sum(judged.passed for judged in verdicts)
    answers = passed + sum(failed.values())
    restated = [judged for judged in verdicts if judged.sentence is not None]
    closeness = [judged.closeness for judged in restated if judged.closeness is not None]
    tokens = sum(round_.completion_tokens for round_ in rounds)
    return RestaterScores(
        model=model,
        topics=[round_.topic for round_ in rounds],
        items=len(verdicts),
        answers=answers,
        items_restated=round(len(restated) / len(verdicts), 4) if verdicts else 0.0,
        answers_kept=round(passed / answers, 4) if answers else 0.0,
        failures={reason: round(count / answers, 4) for reason, count in failed.most_common()},
        closeness=round(sum(closeness) / len(closeness), 4) if closeness else None,
        tokens_per_restated_item=round(tokens / len(restated), 1) if restated else None,
        completion_tokens=tokens,
    )


def heldout_topics(names: Sequence[str] | None = None) -> list[Path]:
    """The held-out seed topics' folders (all of them, or the ones named): a name that is not
    held out is refused, since the shipped adapter and the seed fine-tunes trained on the others."""
    chosen = list(names) if names else list(HELDOUT_TOPICS)
    trained = [name for name in chosen if name not in HELDOUT_TOPICS]
    if trained:
        raise RestaterEvalError(
            f"not a held-out topic: {', '.join(trained)} (fine-tunes may have trained on it)",
            hint=f"choose among {', '.join(HELDOUT_TOPICS)}",
        )
    return [HELDOUT_CORPUS / name for name in chosen]


async def evaluate_restater(
    project: Project,
    work: Path,
    topics: Sequence[str] | None = None,
    *,
    sections: int = 4,
) -> RestaterScores:
    """Run the writing round on each held-out topic against `project`'s endpoint, with a memory
    of its own in `work` (the project's memory is not touched), and score the verdicts."""
    folders = heldout_topics(topics)
    settings = project.settings.model_copy(
        update={
            "project_dir": work,
            "memory": project.settings.memory.model_copy(
                update={"path": work / "memory", "url": None, "collection": "restater-eval"}
            ),
        }
    )
    scratch = Project(
        settings, endpoint=project.endpoint(), catalog=project.catalog, embedder=project.embedder
    )
    tasks = [
        BatchTask(folder.name, {"topic": _topic_name(folder), "sections": sections}, None)
        for folder in folders
    ]
    outcomes = await scratch.batch(
        RESTATER_WORKFLOW,
        tasks,
        work / "batch",
        concurrency=len(tasks),
        corpus=[folder / "sources" for folder in folders],
    )
    rounds = []
    for outcome in outcomes:
        if outcome.status != "succeeded":
            raise RestaterEvalError(
                f"the writing round on {outcome.id} {outcome.status}: {outcome.error}",
                hint=f"its run folder is {outcome.run_dir}",
            )
        rounds.append(_round(outcome.id, outcome.outputs, outcome.completion_tokens))
    return score_verdicts(scratch.endpoint().model, rounds)


def _topic_name(folder: Path) -> str:
    return str(yaml.safe_load((folder / "topic.yaml").read_text(encoding="utf-8"))["topic"])


def _round(topic: str, outputs: Mapping[str, Any], tokens: int) -> TopicVerdicts:
    try:
        return TopicVerdicts(topic=topic, verdicts=outputs.get("verdicts") or {}, completion_tokens=tokens)
    except ValidationError as exc:
        raise RestaterEvalError(
            f"the writing round on {topic} returned verdicts of another shape: {exc}"
        ) from exc
