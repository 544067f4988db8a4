"""Structured output: the JSON schema a reply is guided to, its bounds, and what broke it."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import jsonschema
from pydantic import BaseModel, ValidationError

__all__ = [
    "json_schema_format",
    "plain_strings",
    "room_for_answer",
    "schema_max_chars",
    "strict_schema",
    "validation_problem",
]

log = logging.getLogger(__name__)


def room_for_answer(response_format: Mapping[str, Any], max_tokens: int | None, caller: str) -> int | None:
    """`max_tokens` raised to the longest answer the format's schema admits, so guided JSON is
    never cut off."""
    schema = response_format.get("json_schema", {}).get("schema")
    bound = schema_max_chars(schema) if isinstance(schema, Mapping) else None
    if bound is not None and max_tokens is not None and max_tokens < bound:
        name = response_format.get("json_schema", {}).get("name", "the answer")
        log.debug(
            "%s: max_tokens %d raised to %d, the longest answer %s admits", caller, max_tokens, bound, name
        )
        return bound
    return max_tokens


def json_schema_format(output: type[BaseModel]) -> dict[str, Any]:
    """The `response_format` asking vLLM to guide decoding to `output`'s JSON schema."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": output.__name__,
            "schema": plain_strings(strict_schema(output.model_json_schema())),
            "strict": True,
        },
    }


# No control characters, backslashes or double quotes: nothing in a string needs a JSON escape.
_PLAIN = '^[^\\x00-\\x1f\\x7f\\\\"]*$'


def plain_strings(schema: Any) -> Any:
    """Strings limited to text that needs no JSON escape.

    A degenerate small model can fill a string with `\\u007f` escapes: six characters a token, so the
    reply overruns any max_tokens the schema's lengths suggest (seen with the reviewer). Our output
    models carry prose and keys, which never need those characters."""
    if isinstance(schema, dict):
        out = {key: plain_strings(value) for key, value in schema.items()}
        if out.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(out):
            out["pattern"] = _PLAIN
        return out
    if isinstance(schema, list):
        return [plain_strings(item) for item in schema]
    return schema


def schema_max_chars(schema: Mapping[str, Any]) -> int | None:
    """The longest compact JSON text `schema` admits, or None when it is unbounded.

    With guided decoding a token is at least one character, so this also bounds the tokens a
    reply can need: asking for fewer would cut valid JSON short (a degenerate small model does
    write one character a token)."""
    defs = schema.get("$defs", {})

    def size(node: Any, depth: int = 0) -> int | None:
        if not isinstance(node, dict) or depth > 20:
            return None
        if "$ref" in node:
            return size(defs.get(str(node["$ref"]).removeprefix("#/$defs/"), {}), depth + 1)
        if "const" in node:
            return len(json.dumps(node["const"]))
        if "enum" in node:
            return max(len(json.dumps(v)) for v in node["enum"])
        for key in ("anyOf", "oneOf"):
            if key in node:
                sizes = [size(option, depth + 1) for option in node[key]]
                return None if any(s is None for s in sizes) else max(s for s in sizes if s is not None)
        kind = node.get("type")
        if kind == "string":
            return int(node["maxLength"]) + 2 if "maxLength" in node else None
        if kind in ("integer", "number"):
            return 24
        if kind == "boolean":
            return 5
        if kind == "null":
            return 4
        if kind == "array":
            item = size(node.get("items", {}), depth + 1)
            if item is None or "maxItems" not in node:
                return None
            return 2 + int(node["maxItems"]) * (item + 1)
        if kind == "object":
            total = 2
            for name, value in node.get("properties", {}).items():
                inner = size(value, depth + 1)
                if inner is None:
                    return None
                total += len(json.dumps(name)) + 2 + inner
            return total
        return None

    return size(schema)


def strict_schema(schema: Any) -> Any:
    """`schema` with `additionalProperties: false` on every object that does not say otherwise.

    JSON Schema allows unknown properties by default, and a guided decoder follows the letter of it:
    a small model then invents keys until max_tokens (seen: "description_type_type_type…"). Pydantic
    models that ignore extra fields leave the keyword out, so it is added here, everywhere."""
    if isinstance(schema, dict):
        out = {key: strict_schema(value) for key, value in schema.items()}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    return schema


def validation_problem(exc: Exception) -> str:
    """The first validation problem, short enough to show the model."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        return f"{where}: {first['msg']}"
    if isinstance(exc, jsonschema.ValidationError):
        where = "/".join(str(part) for part in exc.absolute_path) or "top level"
        return f"{where}: {exc.message[:200]}"
    return str(exc)[:200]
