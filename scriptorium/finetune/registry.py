"""The local model registry: fine-tunes by name, with what they were made from and how they scored.

One JSON file (`registry.json` in `<data dir>/models/`, or `[finetune] registry`) written
atomically under a lock, and one folder per model beside it holding `adapter/` (the LoRA weights,
served through vLLM's LoRA support) and `merged/` (base and adapter folded into a plain Hugging Face
folder, served as a model of its own).
"""

from __future__ import annotations

import fcntl
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..config import Settings
from ..errors import FineTuneError, UnknownModel
from ..fileio import write_json_atomic
from .dataset import Role

__all__ = ["ModelRecord", "ModelRegistry", "NAME_PATTERN"]

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
"""Lower-case, no slashes or spaces: a name is also a folder and a vLLM `--lora-modules` entry."""
_FORMAT = 1


class ModelRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    base: str
    """What it was trained from: `bundled`, or another registered name."""
    base_path: str
    """The Hugging Face folder of the base, as served (vLLM loads the adapter over it)."""
    roles: list[Role]
    data_hash: str
    examples: int
    recipe: dict[str, Any]
    adapter_path: str
    merged_path: str | None = None
    lora_rank: int
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    metrics: dict[str, Any] = Field(default_factory=dict)


class _RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: int = _FORMAT
    models: dict[str, ModelRecord] = Field(default_factory=dict)


class ModelRegistry:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def of(cls, settings: Settings) -> ModelRegistry:
        return cls(settings.registry_dir)

    @property
    def path(self) -> Path:
        return self.root / "registry.json"

    def folder(self, name: str) -> Path:
        return self.root / name

    def _read(self) -> _RegistryFile:
        if not self.path.is_file():
            return _RegistryFile()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            registry = _RegistryFile.model_validate(data)
        except (OSError, ValueError, ValidationError) as exc:
            raise FineTuneError(
                f"the model registry {self.path} is damaged: {exc}",
                hint="restore it from a backup, or move it away to start an empty one",
            ) from exc
        if registry.format > _FORMAT:
            raise FineTuneError(f"{self.path} was written by a newer Scriptorium (format {registry.format})")
        return registry

    @contextmanager
    def _locked(self) -> Iterator[_RegistryFile]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".registry.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                registry = self._read()
                yield registry
                write_json_atomic(self.path, registry.model_dump(mode="json"))
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def list(self) -> list[ModelRecord]:
        return sorted(self._read().models.values(), key=lambda record: record.created_at)

    def get(self, name: str) -> ModelRecord:
        record = self._read().models.get(name)
        if record is None:
            raise UnknownModel(
                f"no fine-tune named '{name}' in {self.path}",
                hint="`scriptorium models list` shows the shipped models (base, default) and the fine-tunes",
            )
        return record

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._read().models

    def put(self, record: ModelRecord) -> None:
        with self._locked() as registry:
            registry.models[record.name] = record

    def update_metrics(self, name: str, metrics: dict[str, Any]) -> ModelRecord:
        with self._locked() as registry:
            record = registry.models.get(name)
            if record is None:
                raise UnknownModel(f"no fine-tune named '{name}' in {self.path}")
            record.metrics.update(metrics)
            return record

    def remove(self, name: str) -> ModelRecord:
        """Forget a model and delete its folder (only a folder inside the registry is deleted)."""
        with self._locked() as registry:
            record = registry.models.pop(name, None)
            if record is None:
                raise UnknownModel(f"no fine-tune named '{name}' in {self.path}")
        folder = self.folder(name)
        if folder.is_dir() and folder.resolve().is_relative_to(self.root.resolve()):
            shutil.rmtree(folder)
        return record
