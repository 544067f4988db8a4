"""LoRA fine-tuning on CPU with peft and transformers' Trainer, then the adapter and a merged folder.

Only the assistant's answer is trained on (the prompt's labels are masked): the model learns to
answer, not to recite prompts. A run works in `<registry>/<name>/`; checkpoints land in
`checkpoints/` every `save_every` steps and a rerun with the same data and recipe resumes from the
newest one. The default recipe is sized from a measurement on 2 cores (see `LoraRecipe`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import FineTuneError, NotEnoughMemory
from .dataset import TrainingExample, dataset_hash

__all__ = [
    "encode_example",
    "pad_batch",
    "LoraRecipe",
    "TrainingOutcome",
    "TrainingRun",
    "estimate_peak_bytes",
    "train",
]

log = logging.getLogger(__name__)

StepCallback = Callable[[int, int, float | None], None]
"""Called after each optimizer step with (step, max_steps, latest loss or None)."""


class LoraRecipe(BaseModel):
    """How a fine-tune is trained. The defaults finish `--role all` in under 15 minutes on 2 cores."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=16, ge=1, le=64)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    top_layers: int | None = Field(default=10, ge=1)
    """Adapt only the last N decoder layers (None: all). Backward then stops there: measured on 2
    cores, a batch of 8 takes 13 s with the top 10 of 30 layers and 25 s with all of them."""
    learning_rate: float = Field(default=5e-4, gt=0)
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int = Field(default=64, ge=1)
    """A cap on optimizer steps whatever `epochs` asks (64 x 8 rows: most of one pass over `all`)."""
    batch_size: int = Field(default=8, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    max_length: int = Field(default=640, ge=32)
    """Rows longer than this (in tokens) are skipped, and counted."""
    warmup_steps: int = Field(default=3, ge=0)
    save_every: int = Field(default=10, ge=1)
    seed: int = 13

    def steps_for(self, rows: int) -> int:
        per_step = self.batch_size * self.grad_accum
        return max(1, min(self.max_steps, math.ceil(self.epochs * rows / per_step)))


@dataclass(frozen=True)
class TrainingRun:
    base_path: Path
    examples: Sequence[TrainingExample]
    recipe: LoraRecipe
    out_dir: Path
    merge: bool = True


@dataclass(frozen=True)
class TrainingOutcome:
    adapter_path: Path
    merged_path: Path | None
    data_hash: str
    trained_examples: int
    skipped_too_long: int
    steps: int
    resumed_from: int | None
    final_loss: float | None
    seconds: float


def estimate_peak_bytes(base_path: Path, recipe: LoraRecipe) -> int:
    """A rough upper bound of training's resident memory: fp32 weights, and activations kept for the
    backward pass (a few dozen values per token, layer and hidden unit, plus the logits)."""
    config = json.loads((base_path / "config.json").read_text())
    hidden = int(config["hidden_size"])
    layers = int(config["num_hidden_layers"])
    vocab = int(config["vocab_size"])
    inter = int(config.get("intermediate_size", 4 * hidden))
    params = vocab * hidden + layers * (4 * hidden * hidden + 3 * hidden * inter)
    tokens = recipe.batch_size * recipe.max_length
    activations = tokens * layers * (16 * hidden + 4 * inter) * 4 + tokens * vocab * 4 * 3
    return params * 4 * 2 + activations + (1 << 30)  # the Python, torch and tokenizer baseline


def _available_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_memory(base_path: Path, recipe: LoraRecipe) -> None:
    need = estimate_peak_bytes(base_path, recipe)
    have = _available_bytes()
    if have is not None and need > have:
        raise NotEnoughMemory(
            f"training {base_path.name} with batch {recipe.batch_size} x {recipe.max_length} tokens needs "
            f"about {need / 2**30:.1f} GiB; {have / 2**30:.1f} GiB is available",
            hint="lower --batch-size or --max-length (raise --grad-accum to keep the effective batch)",
        )


def encode_example(
    tokenizer: Any, example: TrainingExample, max_length: int | None
) -> dict[str, list[int]] | None:
    """Token ids of the whole chat, and labels that are the answer's ids (the prompt's masked with
    -100); None when longer than `max_length`."""
    messages = [message.model_dump() for message in example.messages]
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise FineTuneError("the chat template does not render the prompt as a prefix of the whole chat")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    # The answer ends at its end-of-turn token: the model must learn to stop.
    answer_ids = tokenizer(full[len(prompt) :].rstrip("\n"), add_special_tokens=False)["input_ids"]
    if max_length is not None and len(prompt_ids) + len(answer_ids) > max_length:
        return None
    return {
        "input_ids": prompt_ids + answer_ids,
        "labels": [-100] * len(prompt_ids) + answer_ids,
    }


def pad_batch(batch: Sequence[dict[str, list[int]]], pad: int) -> dict[str, Any]:
    """Encoded rows as right-padded tensors: ids, labels (-100 on padding) and the attention mask."""
    import torch

    width = max(len(row["input_ids"]) for row in batch)
    return {
        "input_ids": torch.tensor(
            [row["input_ids"] + [pad] * (width - len(row["input_ids"])) for row in batch]
        ),
        "labels": torch.tensor([row["labels"] + [-100] * (width - len(row["labels"])) for row in batch]),
        "attention_mask": torch.tensor(
            [[1] * len(row["input_ids"]) + [0] * (width - len(row["input_ids"])) for row in batch]
        ),
    }


def _fingerprint(run: TrainingRun, data_hash: str) -> dict[str, Any]:
    return {"base": str(run.base_path), "data_hash": data_hash, "recipe": run.recipe.model_dump()}


def _resume_point(run: TrainingRun, fingerprint: dict[str, Any]) -> Path | None:
    """The newest checkpoint of an interrupted run with the same base, data and recipe; a folder left
    by a different run is cleared, since its checkpoints would train something else."""
    marker = run.out_dir / "run.json"
    checkpoints = run.out_dir / "checkpoints"
    if marker.is_file() and json.loads(marker.read_text()) == fingerprint:
        done = sorted(checkpoints.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
        complete = [path for path in done if (path / "trainer_state.json").is_file()]
        return complete[-1] if complete else None
    if run.out_dir.exists():
        shutil.rmtree(run.out_dir)
    run.out_dir.mkdir(parents=True)
    marker.write_text(json.dumps(fingerprint, indent=2))
    return None


def quiet_transformers() -> None:
    """No tqdm bars or deprecation chatter from the libraries: the CLI draws its own progress."""
    import warnings

    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft)\.")


def train(run: TrainingRun, on_step: StepCallback | None = None) -> TrainingOutcome:
    """Train (or resume) the LoRA adapter of `run`, save it, and merge it into a full folder."""
    import time

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        PrinterCallback,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    quiet_transformers()
    started = time.monotonic()
    recipe = run.recipe
    check_memory(run.base_path, recipe)
    data_hash = dataset_hash(run.examples)
    resume = _resume_point(run, _fingerprint(run, data_hash))
    torch.manual_seed(recipe.seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    tokenizer = AutoTokenizer.from_pretrained(str(run.base_path))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows = [encode_example(tokenizer, example, recipe.max_length) for example in run.examples]
    encoded = [row for row in rows if row is not None]
    skipped = len(rows) - len(encoded)
    if not encoded:
        raise FineTuneError(f"every training row is longer than max_length={recipe.max_length} tokens")
    if skipped:
        log.warning("%d rows longer than %d tokens were skipped", skipped, recipe.max_length)

    model = AutoModelForCausalLM.from_pretrained(str(run.base_path), dtype=torch.float32)
    layers = int(model.config.num_hidden_layers)
    lora = LoraConfig(
        r=recipe.r,
        lora_alpha=recipe.alpha,
        lora_dropout=recipe.dropout,
        target_modules=recipe.target_modules,
        layers_to_transform=(list(range(layers - recipe.top_layers, layers)) if recipe.top_layers else None),
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, lora)

    pad = int(tokenizer.pad_token_id)

    def collate(batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        return pad_batch(batch, pad)

    losses: list[float] = []

    class _Progress(TrainerCallback):
        # Trainer logs every step (logging_steps=1), after the step ends: the loss is the step's own.
        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **_: Any
        ) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))
                if on_step is not None:
                    on_step(int(state.global_step), int(state.max_steps), losses[-1])

    args = TrainingArguments(
        output_dir=str(run.out_dir / "checkpoints"),
        per_device_train_batch_size=recipe.batch_size,
        gradient_accumulation_steps=recipe.grad_accum,
        learning_rate=recipe.learning_rate,
        max_steps=recipe.steps_for(len(encoded)),
        warmup_steps=recipe.warmup_steps,
        lr_scheduler_type="cosine",
        logging_steps=1,
        save_strategy="steps",
        save_steps=recipe.save_every,
        save_total_limit=2,
        seed=recipe.seed,
        data_seed=recipe.seed,
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        # Batches of similar lengths pad less: about a fifth of the tokens of random batches here.
        train_sampling_strategy="group_by_length",
    )
    trainer = Trainer(
        model=peft_model,
        args=args,
        train_dataset=encoded,
        data_collator=collate,
        callbacks=[_Progress()],
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log dict; the CLI draws a bar instead
    resumed_from = int(resume.name.split("-")[1]) if resume else None
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)

    adapter_path = run.out_dir / "adapter"
    peft_model.save_pretrained(str(adapter_path))
    merged_path = None
    if run.merge:
        merged_path = run.out_dir / "merged"
        merged: Any = peft_model.merge_and_unload()
        merged.to(torch.bfloat16).save_pretrained(str(merged_path))
        tokenizer.save_pretrained(str(merged_path))
    shutil.rmtree(run.out_dir / "checkpoints", ignore_errors=True)
    return TrainingOutcome(
        adapter_path=adapter_path,
        merged_path=merged_path,
        data_hash=data_hash,
        trained_examples=len(encoded),
        skipped_too_long=skipped,
        steps=int(trainer.state.global_step),
        resumed_from=resumed_from,
        final_loss=losses[-1] if losses else None,
        seconds=time.monotonic() - started,
    )
