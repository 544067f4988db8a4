"""Reference outlines: the headings a good paper on the topic would have.

Markdown (`# Title`, then one `## Heading` per section) or YAML/JSON
(`{title: ..., sections: [heading, ...]}`, a section may also be `{heading: ...}`).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import plain_message
from .paper import EvaluationError

__all__ = ["ReferenceOutline", "load_reference"]


class ReferenceOutline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    sections: list[str] = Field(min_length=1)

    @field_validator("sections", mode="before")
    @classmethod
    def _headings(cls, value: object) -> object:
        if isinstance(value, list):
            return [v["heading"] if isinstance(v, dict) and "heading" in v else v for v in value]
        return value


def load_reference(path: Path) -> ReferenceOutline:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationError(f"cannot read the reference outline {path}: {exc}") from exc
    if path.suffix.lower() in (".md", ".markdown", ".txt"):
        return _from_markdown(path, text)
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise EvaluationError(f"the reference outline {path} does not parse: {exc}") from exc
    try:
        return ReferenceOutline.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: {plain_message(e)}" for e in exc.errors()
        )
        raise EvaluationError(
            f"the reference outline {path} is not valid: {problems}",
            hint="expected {title: ..., sections: [heading, ...]}, or Markdown with ## headings",
        ) from exc


def _from_markdown(path: Path, text: str) -> ReferenceOutline:
    title = None
    headings = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("## "):
            headings.append(stripped[3:].strip())
        elif stripped.startswith("# ") and title is None:
            title = stripped[2:].strip()
    if not headings:
        raise EvaluationError(
            f"the reference outline {path} has no section headings",
            hint="write one `## Heading` line per section",
        )
    return ReferenceOutline(title=title, sections=headings)
