"""Role datasets: the shipped seed set, row validation, the builder, collection from runs, scoring."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scriptorium.errors import FineTuneError, TrainingDataError, UnknownModel
from scriptorium.evaluation.roles import score_answer
from scriptorium.finetune.collect import collect_runs
from scriptorium.finetune.dataset import (
    ROLES,
    dataset_hash,
    load_examples,
    read_jsonl,
    seed_dataset,
    seed_path,
)
from scriptorium.finetune.registry import ModelRecord, ModelRegistry
from scriptorium.finetune.seed import HELDOUT_TOPICS, build_seed
from scriptorium.memory import LocalEmbedder

from ..helpers import KEPT_EVIDENCE, KEPT_SENTENCE, KEPT_SYSTEM, kept_paper_run

CORPUS = Path(seed_path("writer", "train")).parents[1] / "corpus"
RECORDED_RUN = Path(__file__).parents[1] / "data" / "runs" / "paper"


def test_the_shipped_seed_set_has_150_training_rows_per_role_and_topics_held_out() -> None:
    for role in ROLES:
        train = seed_dataset((role,), "train")
        heldout = seed_dataset((role,), "heldout")
        assert not train.problems and not heldout.problems
        assert len(train.examples) >= 150, role
        assert len(heldout.examples) >= 30, role
        train_topics = {example.source for example in train.examples}
        heldout_topics = {example.source for example in heldout.examples}
        assert heldout_topics == {f"seed:{slug}" for slug in HELDOUT_TOPICS}
        assert not train_topics & heldout_topics
        assert len(train_topics) >= 20  # varied topics


def test_held_out_rows_share_no_sentence_with_training_rows() -> None:
    train = " ".join(example.messages[1].content for example in seed_dataset(ROLES, "train").examples)
    for example in seed_dataset(("writer",), "heldout").examples:
        for sentence in example.answer.split(". "):
            body = sentence.split(" [")[0]
            assert body not in train


def test_writer_rows_cite_only_their_keys_and_planner_rows_are_outlines() -> None:
    for example in seed_dataset(("writer",), "train").examples:
        assert score_answer(example, example.answer) == {"cites": 1.0, "cites_only_given": 1.0}
    for example in seed_dataset(("planner",), "train").examples:
        assert score_answer(example, example.answer)["json_valid"] == 1.0
    verdicts = {json.loads(e.answer)["verdict"] for e in seed_dataset(("reviewer",), "train").examples}
    assert verdicts == {"approve", "revise"}


def test_the_shipped_seed_set_is_what_the_builder_makes_from_the_corpus(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    counts = build_seed(CORPUS, tmp_path, embedder.embed)
    assert counts["writer.train"] >= 150
    for role in ROLES:
        for split in ("train", "heldout"):
            built = (tmp_path / f"{role}.{split}.jsonl").read_text()
            assert built == seed_path(role, split).read_text(), f"{role}.{split} is stale: rebuild it"


def test_malformed_rows_are_reported_with_line_and_reason_and_skipped(tmp_path: Path) -> None:
    good = seed_path("writer", "train").read_text().splitlines()[0]
    rows = [
        good,
        "{not json",
        json.dumps(["a list"]),
        json.dumps({"role": "poet", "messages": json.loads(good)["messages"]}),
        json.dumps({"role": "writer", "messages": [{"role": "user", "content": "hi"}]}),
        json.dumps({"role": "writer", "messages": json.loads(good)["messages"][:2]}),
        "",
        good,
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(rows) + "\n")
    dataset = read_jsonl(path)
    assert len(dataset.examples) == 2
    reasons = {problem.line: problem.reason for problem in dataset.problems}
    assert sorted(reasons) == [2, 3, 4, 5, 6]
    assert "not JSON" in reasons[2]
    assert "not a JSON object" in reasons[3]
    assert reasons[4].startswith("role:")
    assert "messages" in reasons[5]
    assert "assistant" in reasons[6]
    assert str(dataset.problems[0]).startswith(f"{path}:2: ")


def test_a_file_without_one_usable_row_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{oops\n")
    with pytest.raises(TrainingDataError, match=r"bad\.jsonl.*1 malformed rows, first: .*:1: not JSON"):
        load_examples([path])


def test_the_data_hash_follows_content_and_order() -> None:
    rows = seed_dataset(("planner",), "heldout").examples
    assert dataset_hash(rows) == dataset_hash(list(rows))
    assert dataset_hash(rows) != dataset_hash(list(reversed(rows)))
    assert dataset_hash(rows) != dataset_hash(rows[1:])


def _trace_with_approved_loop(tmp_path: Path) -> Path:
    """The recorded run, with draft[0]'s loop ending approved in round 2 (as a passing check makes it)."""
    run = tmp_path / "paper"
    shutil.copytree(RECORDED_RUN, run)
    lines = []
    for line in (run / "trace.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["kind"] == "loop_ended" and event["step_id"] == "draft[0]":
            event["reason"] = "until"
        lines.append(json.dumps(event))
    (run / "trace.jsonl").write_text("\n".join(lines) + "\n")
    return run


def test_collect_keeps_the_plan_and_the_approved_draft_with_the_review_before_it(tmp_path: Path) -> None:
    run = _trace_with_approved_loop(tmp_path)
    report = collect_runs([run])
    by_step = {example.source.split("/", 1)[1]: example for example in report.examples}
    assert set(by_step) == {"plan", "draft[0].r2.write", "draft[0].r1.review"}
    assert by_step["plan"].role == "planner"
    assert by_step["draft[0].r2.write"].role == "writer"
    assert by_step["draft[0].r1.review"].role == "reviewer"
    writer = by_step["draft[0].r2.write"]
    assert writer.messages[0].role == "system" and writer.messages[-1].role == "assistant"
    assert json.loads(writer.answer)["sentences"]


def test_collect_skips_failed_runs_and_cut_messages_with_a_note(tmp_path: Path) -> None:
    failed = tmp_path / "failed"
    shutil.copytree(RECORDED_RUN, failed)
    summary = json.loads((failed / "summary.json").read_text())
    (failed / "summary.json").write_text(json.dumps({**summary, "status": "failed"}))
    cut = _trace_with_approved_loop(tmp_path / "cut")
    lines = []
    for line in (cut / "trace.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["kind"] == "model_request" and event["agent"] == "planner":
            event["messages"][1]["content"] = "x" * 16_000
        lines.append(json.dumps(event))
    (cut / "trace.jsonl").write_text("\n".join(lines) + "\n")
    report = collect_runs([failed, cut])
    assert any("failed" in note and "only succeeded runs" in note for note in report.notes)
    assert any("plan: the trace holds a cut message" in note for note in report.notes)
    assert report.counts() == {"writer": 1, "reviewer": 1}


def test_answers_are_scored_by_rules() -> None:
    writer = seed_dataset(("writer",), "heldout").examples[0]
    keys = [str(key) for key in writer.meta["keys"]]  # type: ignore[union-attr]
    assert score_answer(writer, f"A fact [{keys[0]}]. Another [{keys[1]}].")["cites_only_given"] == 1.0
    assert score_answer(writer, f"A fact [{keys[0]}]. Another [made:up].") == {
        "cites": 1.0,
        "cites_only_given": 0.0,
    }
    assert score_answer(writer, "No citation at all.") == {"cites": 0.0, "cites_only_given": 0.0}
    planner = seed_dataset(("planner",), "heldout").examples[0]
    fenced = f"```json\n{planner.answer}\n```"
    assert score_answer(planner, fenced)["json_valid"] == 1.0
    assert score_answer(planner, planner.answer[:-5])["json_valid"] == 0.0
    reviewer = seed_dataset(("reviewer",), "heldout").examples[0]
    assert score_answer(reviewer, reviewer.answer) == {"json_valid": 1.0, "verdict_right": 1.0}
    flipped = (
        reviewer.answer.replace('"approve"', '"X"')
        .replace('"revise"', '"approve"')
        .replace('"X"', '"revise"')
    )
    assert score_answer(reviewer, flipped)["verdict_right"] == 0.0


def _record(registry: ModelRegistry, name: str) -> ModelRecord:
    folder = registry.folder(name)
    (folder / "adapter").mkdir(parents=True)
    return ModelRecord(
        name=name,
        base="bundled",
        base_path="/models/base",
        roles=["writer"],
        data_hash="abc",
        examples=3,
        recipe={"r": 4},
        adapter_path=str(folder / "adapter"),
        lora_rank=4,
    )


def test_registry_round_trip(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    assert registry.list() == []
    first, second = _record(registry, "first"), _record(registry, "second")
    registry.put(first)
    registry.put(second)
    assert [record.name for record in registry.list()] == ["first", "second"]
    again = ModelRegistry(tmp_path / "models").get("first")  # read back from disk
    assert again == first and "first" in registry and "third" not in registry
    registry.update_metrics("first", {"eval_roles": {"writer": 0.8}})
    assert registry.get("first").metrics == {"eval_roles": {"writer": 0.8}}
    removed = registry.remove("first")
    assert removed.name == "first" and not registry.folder("first").exists()
    assert [record.name for record in registry.list()] == ["second"]
    with pytest.raises(UnknownModel, match="no fine-tune named 'first'"):
        registry.get("first")
    with pytest.raises(UnknownModel):
        registry.remove("first")


def test_a_damaged_or_newer_registry_is_a_clear_error(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    registry.path.write_text("{not json")
    with pytest.raises(FineTuneError, match=r"registry.*is damaged"):
        registry.list()
    registry.path.write_text(json.dumps({"format": 99, "models": {}}))
    with pytest.raises(FineTuneError, match="newer Scriptorium"):
        registry.list()


def test_collect_turns_the_kept_sentences_of_a_paper_run_into_restater_rows(tmp_path: Path) -> None:
    run = kept_paper_run(tmp_path / "paper-run")
    report = collect_runs([run])
    assert report.counts() == {"writer": 1}
    row = report.examples[0]
    assert [m.content for m in row.messages[:2]] == [KEPT_SYSTEM, f"Sentence: {KEPT_EVIDENCE}\n"]
    assert json.loads(row.answer) == {"sentence": KEPT_SENTENCE}
    assert any("1 kept sentences have no whole restater prompt" in note for note in report.notes)
