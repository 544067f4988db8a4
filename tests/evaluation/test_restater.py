"""`eval restater`: the paper adapter's role evaluation on held-out topics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from scriptorium.cli import app
from scriptorium.config import Settings
from scriptorium.evaluation.restater import (
    RESTATER_WORKFLOW,
    RestaterEvalError,
    TopicVerdicts,
    heldout_topics,
    score_verdicts,
)
from scriptorium.finetune.seed import HELDOUT_TOPICS
from scriptorium.paper.compose import Judged
from scriptorium.serving import ServerState
from scriptorium.workflows import LIBRARY_DIR


def test_the_scores_count_answers_kept_items_restated_and_each_checks_refusals() -> None:
    rounds = [
        TopicVerdicts(
            topic="kyoto",
            verdicts={
                "e1": Judged(item="e1", sentence="Kept.", closeness=0.9, passed=2, rejected={"copied": 1}),
                "e2": Judged(item="e2", sentence=None, rejected={"copied": 2, "garbled": 1}),
            },
            completion_tokens=300,
        ),
        TopicVerdicts(
            topic="isaac-newton",
            verdicts={"e1": Judged(item="e1", sentence="Also.", closeness=0.8, passed=1, rejected={})},
            completion_tokens=100,
        ),
    ]
    scores = score_verdicts("m", rounds)
    assert (scores.items, scores.answers) == (3, 7)
    assert scores.items_restated == round(2 / 3, 4) and scores.answers_kept == round(3 / 7, 4)
    assert list(scores.failures) == ["copied", "garbled"]  # most frequent first
    assert scores.failures["copied"] == round(3 / 7, 4)
    assert scores.closeness == 0.85 and scores.tokens_per_restated_item == 200.0
    assert scores.topics == ["kyoto", "isaac-newton"]


def test_a_topic_that_is_not_held_out_is_refused_with_the_ones_that_are() -> None:
    with pytest.raises(RestaterEvalError) as caught:
        heldout_topics(["kyoto", "black-death"])
    assert "black-death" in caught.value.message and "kyoto" not in caught.value.message
    assert all(topic in (caught.value.hint or "") for topic in HELDOUT_TOPICS)
    assert [p.name for p in heldout_topics()] == list(HELDOUT_TOPICS)
    assert all((p / "sources").is_dir() for p in heldout_topics())


def test_the_evaluated_round_is_the_paper_workflows_own_first_round() -> None:
    """The measure is only worth its name while the prompt, sampling and checks are the paper's."""
    paper = yaml.safe_load((LIBRARY_DIR / "paper.yaml").read_text())["steps"]
    round_ = yaml.safe_load(RESTATER_WORKFLOW.read_text())["steps"]
    assert round_ == {name: paper[name] for name in ("survey", "write", "review")}


def test_eval_restater_refuses_a_trained_topic_before_starting_a_server(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "restater", "--topics", "black-death"])
    assert result.exit_code != 0
    assert "not a held-out topic: black-death" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "eval-restater.json").exists()


@pytest.mark.server
def test_eval_restater_measures_the_served_model_and_leaves_the_projects_memory_alone(
    managed_server: ServerState, session_env: Settings, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["eval", "restater", "--topics", "kyoto", "--sections", "2", "--out", "r.json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["model"] == managed_server.model and report["topics"] == ["kyoto"]
    assert 0 < report["items"] <= report["answers"] <= 4 * report["items"]
    assert report["items_restated"] > 0 and report["completion_tokens"] > 0
    assert not (tmp_path / ".scriptorium").exists()  # its memory was a scratch one
