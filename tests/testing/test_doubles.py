"""The model doubles of `scriptorium.testing`: valid answers to every output schema, through the
real client; and a user's own YAML workflow tested offline, as docs/testing.md shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel

from scriptorium import Project
from scriptorium.agents import OutputContext, default_outputs
from scriptorium.errors import StructuredOutputError
from scriptorium.serving.client import json_schema_format
from scriptorium.testing import FunctionModel, ModelCall, SchemaDataError, schema_data

CONTEXTS = [
    OutputContext(),
    OutputContext(
        citation_keys=("notes.md:0", "notes.md:1", "page-3.md:2"), choices=("Causes", "Effects", "Cost")
    ),
]


@pytest.mark.parametrize("ctx", CONTEXTS, ids=["plain", "with keys and choices"])
def test_generated_data_validates_against_every_output_schema(ctx: OutputContext) -> None:
    outputs = default_outputs()
    for name in outputs.names():
        model = outputs.resolve(name, ctx)
        schema = json_schema_format(model)["json_schema"]["schema"]
        for seed in range(5):
            value = schema_data(
                schema, words=["tides", "rise", "twice", "a", "day", "in", "the", "bay"], seed=seed
            )
            jsonschema.validate(value, schema)  # the strict schema the server would be given
            model.model_validate(value)  # and the pydantic model it is read into


def test_schema_data_covers_bounds_refs_and_unique_enums() -> None:
    schema: dict[str, Any] = {
        "$defs": {"Pick": {"type": "string", "enum": ["a", "b", "c"]}},
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 9, "maximum": 12},
            "x": {"type": "number", "exclusiveMinimum": 0.5},
            "picks": {"type": "array", "items": {"$ref": "#/$defs/Pick"}, "minItems": 3, "uniqueItems": True},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 30, "maxLength": 31}]},
        },
        "required": ["n", "x", "picks", "maybe"],
        "additionalProperties": False,
    }
    value = schema_data(schema)
    jsonschema.validate(value, schema)
    assert sorted(value["picks"]) == ["a", "b", "c"] and value["maybe"] is not None
    with pytest.raises(SchemaDataError, match="pattern"):
        schema_data({"type": "string", "pattern": "^[0-9]{4}$"})


class Verdict(BaseModel):
    verdict: str
    score: int


async def test_a_function_model_answers_through_the_real_client_which_validates_and_repairs() -> None:
    def answer(call: ModelCall) -> Any:
        if len(call.messages) == 1:  # the first try breaks the schema; the repair round gets it right
            return {"verdict": "approve"}
        assert "not valid JSON for the schema" in call.prompt
        return Verdict(verdict="approve", score=3)

    model = FunctionModel(answer)
    async with model.client() as client:
        reply = await client.structured([{"role": "user", "content": "Judge it."}], Verdict)
        assert reply.value == Verdict(verdict="approve", score=3)
        assert [c.schema_name for c in model.calls] == ["Verdict", "Verdict"]
        assert client.ledger.callers["default"].requests == 2

    stubborn = FunctionModel(lambda call: "not json")
    async with stubborn.client() as client:
        with pytest.raises(StructuredOutputError):
            await client.structured([{"role": "user", "content": "Judge it."}], Verdict)


AGENT = """\
name: digest_planner
role: Planner
goal: Plan a digest.
backstory: You plan digests.
instructions: Plan three sections.
output: outline
"""

WORKFLOW = """\
name: digest
inputs:
  topic: {type: string}
steps:
  plan:
    agent: digest_planner
    prompt: "Plan a digest on {{ inputs.topic }}."
  headings:
    gather:
      all: "{{ steps.plan.output.sections | map(attribute='heading') | list }}"
outputs:
  headings: "{{ steps.headings.output.all }}"
"""


async def test_a_users_own_yaml_workflow_runs_offline(tmp_path: Path) -> None:
    """The example of docs/testing.md, as a user would write it."""
    folder = tmp_path / "my-project"
    (folder / "agents").mkdir(parents=True)
    (folder / "workflows").mkdir()
    (folder / "agents" / "digest_planner.yaml").write_text(AGENT)
    (folder / "workflows" / "digest.yaml").write_text(WORKFLOW)

    def answer(call: ModelCall) -> dict[str, Any]:
        assert "tides" in call.prompt  # the prompt carries the topic
        section = {"summary": "What the section covers.", "questions": ["What and why?"]}
        return {
            "title": "Tides",
            "sections": [{"heading": h, **section} for h in ("Causes", "Records", "Forecasts")],
        }

    project = Project.open(folder, model=FunctionModel(answer))
    outcome = await project.run("digest", {"topic": "tides"}, run_dir=tmp_path / "run")
    assert outcome.result.status == "succeeded", outcome.result.error
    assert outcome.result.outputs["headings"] == ["Causes", "Records", "Forecasts"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "succeeded"
