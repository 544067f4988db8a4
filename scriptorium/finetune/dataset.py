"""Role datasets: chat examples in JSONL, read leniently (a bad row is reported and skipped, never fatal
alone), hashed so a fine-tune records exactly what it was trained on.

One row per line:
`{"role": "writer", "messages": [{"role": "system", ...}, {"role": "user", ...},
{"role": "assistant", ...}], "source": "seed:black-death", "meta": {"keys": [...]}}`.
The last message is the answer that is trained on; `meta` holds what evaluation needs to score an
answer (the citation keys a writer was given, the verdict a reviewer should reach).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from ..errors import TrainingDataError

__all__ = [
    "ROLES",
    "ChatMessage",
    "Dataset",
    "RowProblem",
    "Role",
    "Split",
    "TrainingExample",
    "dataset_hash",
    "load_examples",
    "read_jsonl",
    "seed_dataset",
    "seed_path",
    "write_jsonl",
]

Role = Literal["planner", "writer", "reviewer"]
ROLES: tuple[Role, ...] = ("planner", "writer", "reviewer")
Split = Literal["train", "heldout"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1)


class TrainingExample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    messages: list[ChatMessage] = Field(min_length=2)
    source: str = "unknown"
    """Where the row came from: `seed:<topic>` or `run:<run id>/<step>`."""
    meta: dict[str, JsonValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _chat_shape(self) -> TrainingExample:
        roles = [message.role for message in self.messages]
        if roles[-1] != "assistant":
            raise ValueError("the last message must be the assistant's answer")
        if "user" not in roles:
            raise ValueError("there must be a user message")
        if "system" in roles[1:]:
            raise ValueError("a system message may only come first")
        return self

    @property
    def prompt(self) -> list[ChatMessage]:
        return self.messages[:-1]

    @property
    def answer(self) -> str:
        return self.messages[-1].content


@dataclass(frozen=True)
class RowProblem:
    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass
class Dataset:
    examples: list[TrainingExample] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    def by_role(self, role: Role) -> list[TrainingExample]:
        return [example for example in self.examples if example.role == role]

    def counts(self) -> dict[str, int]:
        return dict(Counter(example.role for example in self.examples))

    def extend(self, other: Dataset) -> None:
        self.examples.extend(other.examples)
        self.problems.extend(other.problems)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def read_jsonl(path: Path, roles: Sequence[Role] = ROLES) -> Dataset:
    """Every valid row of `path` whose role is in `roles`; each invalid row becomes a `RowProblem`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainingDataError(f"{path}: cannot read: {exc}") from exc
    dataset = Dataset()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            dataset.problems.append(RowProblem(path, number, f"not JSON ({exc.msg})"))
            continue
        if not isinstance(row, dict):
            dataset.problems.append(RowProblem(path, number, "not a JSON object"))
            continue
        try:
            example = TrainingExample.model_validate(row)
        except ValidationError as exc:
            dataset.problems.append(RowProblem(path, number, _first_error(exc)))
            continue
        if example.role in roles:
            dataset.examples.append(example)
    return dataset


def load_examples(
    paths: Iterable[Path], roles: Sequence[Role] = ROLES, examples: Sequence[TrainingExample] = ()
) -> Dataset:
    """Rows of several files, then `examples` built in memory (both kept to `roles`); an error only
    when none is usable."""
    dataset = Dataset()
    paths = list(paths)
    for path in paths:
        dataset.extend(read_jsonl(path, roles))
    dataset.examples.extend(example for example in examples if example.role in roles)
    if not dataset.examples:
        shown = ", ".join(str(path) for path in paths) or "(no files)"
        detail = (
            f"; {len(dataset.problems)} malformed rows, first: {dataset.problems[0]}"
            if dataset.problems
            else ""
        )
        raise TrainingDataError(f"no usable {'/'.join(roles)} rows in {shown}{detail}")
    return dataset


def write_jsonl(path: Path, examples: Iterable[TrainingExample]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(example.model_dump_json(exclude_defaults=False) + "\n")
            count += 1
    return count


def dataset_hash(examples: Iterable[TrainingExample]) -> str:
    """Order-sensitive hash of the rows (order changes batches, so it changes the result)."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(json.dumps(example.model_dump(mode="json"), sort_keys=True).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def seed_path(role: Role, split: Split) -> Path:
    """The shipped seed file of a role and split."""
    return Path(str(resources.files(__package__).joinpath("data", "seed", f"{role}.{split}.jsonl")))


def seed_dataset(roles: Sequence[Role], split: Split) -> Dataset:
    return load_examples([seed_path(role, split) for role in roles], roles)
