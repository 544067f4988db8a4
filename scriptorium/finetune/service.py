"""One fine-tune from start to registry: resolve the base, gather the rows, check, train, record.

Everything that can be known wrong (an unknown base, a taken name, no usable rows, not enough
memory) is raised before the first training step.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..errors import FineTuneError, UnknownModel
from ..serving.models import bundled_model, prepare_model
from .dataset import ROLES, Dataset, Role, TrainingExample, load_examples, seed_path
from .registry import NAME_PATTERN, ModelRecord, ModelRegistry
from .train import LoraRecipe, StepCallback, TrainingOutcome, TrainingRun, check_memory, train

__all__ = ["BUNDLED", "FineTunePlan", "plan_finetune", "resolve_base", "run_finetune"]

BUNDLED = "bundled"


def resolve_base(base: str, settings: Settings) -> Path:
    """`bundled`, a registered fine-tune (its merged folder), or a Hugging Face folder."""
    if base == BUNDLED:
        return prepare_model(bundled_model(), settings.cache_dir)
    registry = ModelRegistry.of(settings)
    if base in registry:
        record = registry.get(base)
        if record.merged_path is None:
            raise UnknownModel(f"fine-tune '{base}' has no merged folder to train on")
        return Path(record.merged_path)
    folder = Path(base).expanduser()
    if (folder / "config.json").is_file():
        return folder.resolve()
    raise UnknownModel(f"unknown base model '{base}': not '{BUNDLED}', not registered, not a model folder")


@dataclass(frozen=True)
class FineTunePlan:
    name: str
    base: str
    base_path: Path
    roles: tuple[Role, ...]
    data: Dataset
    recipe: LoraRecipe
    out_dir: Path


def plan_finetune(
    settings: Settings,
    *,
    name: str,
    roles: Sequence[Role] = ROLES,
    base: str = BUNDLED,
    data_files: Sequence[Path] = (),
    examples: Sequence[TrainingExample] = (),
    use_seed: bool = True,
    recipe: LoraRecipe | None = None,
    replace: bool = False,
) -> FineTunePlan:
    if not re.match(NAME_PATTERN, name):
        raise FineTuneError(
            f"'{name}' cannot name a model: use lower-case letters, digits, '.', '_' or '-' (max 63)"
        )
    registry = ModelRegistry.of(settings)
    if name in registry and not replace:
        raise FineTuneError(
            f"a fine-tune named '{name}' is registered already", hint="pass --force to replace it"
        )
    recipe = recipe or LoraRecipe()
    base_path = resolve_base(base, settings)
    files = [seed_path(role, "train") for role in roles] if use_seed else []
    data = load_examples([*files, *data_files], tuple(roles), examples)
    check_memory(base_path, recipe)
    return FineTunePlan(name, base, base_path, tuple(roles), data, recipe, registry.folder(name))


def run_finetune(
    settings: Settings, plan: FineTunePlan, on_step: StepCallback | None = None, *, merge: bool = True
) -> tuple[ModelRecord, TrainingOutcome]:
    outcome = train(
        TrainingRun(plan.base_path, plan.data.examples, plan.recipe, plan.out_dir, merge=merge),
        on_step,
    )
    record = ModelRecord(
        name=plan.name,
        base=plan.base,
        base_path=str(plan.base_path),
        roles=list(plan.roles),
        data_hash=outcome.data_hash,
        examples=outcome.trained_examples,
        recipe=plan.recipe.model_dump(),
        adapter_path=str(outcome.adapter_path),
        merged_path=str(outcome.merged_path) if outcome.merged_path else None,
        lora_rank=plan.recipe.r,
        metrics={
            "train_loss": outcome.final_loss,
            "steps": outcome.steps,
            "train_seconds": round(outcome.seconds, 1),
            "skipped_rows": len(plan.data.problems),
            "skipped_too_long": outcome.skipped_too_long,
        },
    )
    ModelRegistry.of(settings).put(record)
    return record, outcome
