"""LoRA training through the real code path on the real model: tiny runs (a few steps, a few rows)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from scriptorium.cli import app
from scriptorium.config import load_settings
from scriptorium.errors import FineTuneError, NotEnoughMemory, UnknownModel
from scriptorium.finetune.dataset import TrainingExample, seed_dataset
from scriptorium.finetune.registry import ModelRegistry
from scriptorium.finetune.service import plan_finetune, resolve_base
from scriptorium.finetune.train import LoraRecipe, TrainingRun, train

from ..helpers import kept_paper_run

TINY = LoraRecipe(r=4, alpha=8, top_layers=2, max_steps=3, batch_size=2, max_length=512, save_every=1)


def _rows(count: int = 6) -> list[TrainingExample]:
    return seed_dataset(("writer",), "train").examples[:count]


def _adapter_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "adapter_model.safetensors"))


def test_interrupted_training_resumes_from_its_checkpoint_to_the_same_adapter(tmp_path: Path) -> None:
    base = resolve_base("bundled", load_settings())
    straight = train(TrainingRun(base, _rows(), TINY, tmp_path / "a", merge=False))
    assert straight.steps == 3 and straight.resumed_from is None

    class Stop(Exception):
        pass

    def stop_after_two(step: int, total: int, loss: float | None) -> None:
        assert total == 3 and loss is not None
        if step == 2:
            raise Stop

    run = TrainingRun(base, _rows(), TINY, tmp_path / "b", merge=False)
    with pytest.raises(Stop):
        train(run, stop_after_two)
    # Step 2's loss is reported before its checkpoint is written: step 1's is the newest.
    assert (tmp_path / "b" / "checkpoints" / "checkpoint-1").is_dir()
    resumed = train(run)
    assert resumed.resumed_from == 1 and resumed.steps == 3
    first, second = _adapter_weights(straight.adapter_path), _adapter_weights(resumed.adapter_path)
    assert first.keys() == second.keys()
    for name in first:  # same seed, same data: the interruption changes nothing
        torch.testing.assert_close(first[name], second[name], rtol=1e-4, atol=1e-5)
    assert not (tmp_path / "b" / "checkpoints").exists()


def test_a_changed_recipe_does_not_resume_another_runs_checkpoints(tmp_path: Path) -> None:
    base = resolve_base("bundled", load_settings())
    run = TrainingRun(base, _rows(), TINY, tmp_path / "c", merge=False)

    def stop(step: int, total: int, loss: float | None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(run, stop)
    other = TrainingRun(base, _rows(), TINY.model_copy(update={"seed": 7}), tmp_path / "c", merge=False)
    assert train(other).resumed_from is None


def test_cli_trains_merges_and_registers_a_fine_tune(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    lines = [example.model_dump_json() for example in _rows(4)]
    rows.write_text("\n".join([lines[0], "{broken", *lines[1:]]) + "\n")
    args = ["finetune", "--role", "writer", "--out", "tiny", "--no-seed", "--data", str(rows)]
    args += ["--r", "4", "--top-layers", "2", "--steps", "2", "--batch-size", "2", "--seed", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "rows.jsonl:2: not JSON" in output and "1 malformed rows skipped" in output
    assert "registered tiny" in output
    record = ModelRegistry.of(load_settings()).get("tiny")
    assert record.roles == ["writer"] and record.examples == 4 and record.lora_rank == 4
    assert record.recipe["seed"] == 3 and record.metrics["steps"] == 2
    assert record.metrics["skipped_rows"] == 1
    assert (Path(record.adapter_path) / "adapter_config.json").is_file()
    merged = Path(record.merged_path or "")
    assert (merged / "config.json").is_file() and (merged / "tokenizer.json").is_file()

    listed = CliRunner().invoke(app, ["models", "list"])
    assert "tiny" in listed.output and "writer" in listed.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1
    assert "registered already" in again.output and "--force" in again.output


def test_the_paper_recipe_trains_the_shipped_pairs_with_a_kept_run_added(tmp_path: Path) -> None:
    """`finetune --paper --runs`: the shipped adapter's rows and recipe, plus the sentences a
    person's kept paper run wrote (a tiny run: the recipe's epochs kept, its steps cut to one)."""
    run = kept_paper_run(tmp_path / "kept")
    args = ["finetune", "--paper", "--out", "paper-mine", "--no-merge"]
    tiny = ["--r", "4", "--top-layers", "1", "--steps", "1"]
    result = CliRunner().invoke(app, [*args, *tiny, "--runs", str(run)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "452 restater rows from the shipped pairs (48 fail the checks)" in output
    assert "1 rows from your runs (1 writer)" in output and "scriptorium models use paper-mine" in output
    record = ModelRegistry.of(load_settings()).get("paper-mine")
    assert record.roles == ["writer"] and record.examples == 453
    assert record.recipe["epochs"] == 2.0 and record.recipe["max_steps"] == 1
    (tmp_path / "nothing").mkdir()
    empty = CliRunner().invoke(app, [*args, *tiny, "--force", "--runs", str(tmp_path / "nothing")])
    assert empty.exit_code != 0 and "no training rows in" in empty.output
    assert ModelRegistry.of(load_settings()).get("paper-mine") == record  # refused before training


def test_merged_folder_computes_what_base_plus_adapter_computes(tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = resolve_base("bundled", load_settings())
    recipe = TINY.model_copy(update={"learning_rate": 5e-3, "max_steps": 2})
    outcome = train(TrainingRun(base, _rows(4), recipe, tmp_path / "m"))
    assert outcome.merged_path is not None
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    ids = tokenizer("The Black Death reached Europe in", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        plain = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
        base_logits = plain(ids).logits
        adapted = PeftModel.from_pretrained(plain, str(outcome.adapter_path))(ids).logits
        merged = AutoModelForCausalLM.from_pretrained(str(outcome.merged_path), dtype=torch.float32)(
            ids
        ).logits
    assert not torch.allclose(base_logits, adapted, atol=1e-3)  # training changed the model
    # The merged folder is saved in bf16 like the served base: equal up to that rounding.
    assert torch.nn.functional.cosine_similarity(adapted.flatten(), merged.flatten(), dim=0) > 0.999


def test_unknown_base_taken_names_and_too_little_memory_fail_before_training(tmp_path: Path) -> None:
    settings = load_settings()
    with pytest.raises(UnknownModel, match="unknown base model 'nope'"):
        plan_finetune(settings, name="x", base="nope")
    with pytest.raises(FineTuneError, match="cannot name a model"):
        plan_finetune(settings, name="Bad/Name")
    with pytest.raises(NotEnoughMemory, match=r"needs about .* GiB; .* GiB is available"):
        plan_finetune(settings, name="x", recipe=LoraRecipe(batch_size=4096, max_length=4096))
    assert not ModelRegistry.of(settings).folder("x").exists()
