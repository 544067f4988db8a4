"""Output models between pydantic classes in a CrewAI project and JSON schemas in Scriptorium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from scriptorium.agents import OutputContext, default_outputs
from scriptorium.workflows.crewai_models import class_name, models_source, read_model_classes

OUTPUTS = default_outputs()


def read_back(source: str, name: str, tmp_path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    file = tmp_path / "models.py"
    file.write_text(source)
    notes: list[str] = []
    return read_model_classes([file]).schema(name, notes), notes


@pytest.mark.parametrize("output", OUTPUTS.names())
def test_every_registered_output_model_survives_class_and_back(output: str, tmp_path: Path) -> None:
    schema = OUTPUTS.resolve(output, OutputContext()).model_json_schema()
    source = models_source({output: schema})
    namespace: dict[str, Any] = {}
    exec(
        compile(source, "models.py", "exec", dont_inherit=True), namespace
    )  # the written module imports and defines it
    model = namespace[class_name(output)]
    assert set(model.model_fields) == set(schema["properties"])
    assert set(model.model_json_schema().get("required", [])) == set(schema.get("required", []))
    again, notes = read_back(source, class_name(output), tmp_path)
    assert again is not None and not notes
    assert models_source({output: again}) == source  # export -> import -> export: the same file


def test_a_hand_written_class_is_read_with_its_types_bounds_and_nested_models(tmp_path: Path) -> None:
    source = '''
from typing import List, Literal, Optional
from pydantic import BaseModel, Field
from datetime import date

class Skill(BaseModel):
    """A skill and how sure we are of it."""
    name: str
    level: Literal["junior", "senior"] = "junior"

class Candidate(BaseModel):
    name: str = Field(..., description="Full name", max_length=80)
    years: int = Field(ge=0, le=60)
    skills: List[Skill]
    email: Optional[str] = None
    score: float | None = Field(default=None, ge=0, le=1)
    seen: date
    tags: dict[str, int] = Field(default_factory=dict)
'''
    schema, notes = read_back(source, "Candidate", tmp_path)
    assert schema is not None
    assert schema["required"] == ["name", "years", "skills", "seen"]
    props = schema["properties"]
    assert props["name"] == {"type": "string", "description": "Full name", "maxLength": 80}
    assert props["years"] == {"type": "integer", "minimum": 0, "maximum": 60}
    assert props["skills"] == {"type": "array", "items": {"$ref": "#/$defs/Skill"}}
    assert schema["$defs"]["Skill"]["properties"]["level"] == {
        "enum": ["junior", "senior"],
        "default": "junior",
    }
    assert props["score"]["anyOf"][0] == {"type": "number", "minimum": 0, "maximum": 1}
    assert props["tags"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert any("Candidate.seen" in n and "'date'" in n for n in notes)  # named, read as text
    jsonschema.Draft202012Validator.check_schema(schema)
    valid = {"name": "Ada", "years": 3, "skills": [{"name": "SQL"}], "seen": "2026-01-01"}
    jsonschema.validate(valid, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**valid, "years": -1}, schema)


def test_a_class_the_project_does_not_define_is_none(tmp_path: Path) -> None:
    schema, _ = read_back("from pydantic import BaseModel\nclass A(BaseModel):\n    x: int\n", "B", tmp_path)
    assert schema is None


def test_json_names_that_are_not_python_names_become_aliased_fields() -> None:
    schema = {
        "type": "object",
        "properties": {"1st": {"type": "string"}, "class": {"type": "integer"}},
        "required": ["1st"],
    }
    namespace: dict[str, Any] = {}
    exec(compile(models_source({"row": schema}), "models.py", "exec", dont_inherit=True), namespace)
    row = namespace["Row"].model_validate({"1st": "a", "class": 2})
    assert row.model_dump(by_alias=True) == {"1st": "a", "class": 2}
