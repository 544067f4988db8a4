"""Valid data for a JSON schema: what a test model answers when a step asks for structured output.

Covers what pydantic and our output factories emit: `$ref`/`$defs`, `anyOf`/`oneOf`, `enum`,
`const`, objects with `required` and `additionalProperties: false`, arrays with `minItems`,
`maxItems` and `uniqueItems`, strings with length bounds (and the "no JSON escapes" pattern of
`serving.client.plain_strings`), integers and numbers with bounds, booleans and null. The answer is
deterministic for a given seed: the same schema and the same words give the same data, so a test
that asserts on it does not flake.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ScriptoriumError

__all__ = ["SchemaDataError", "schema_data"]

_FALLBACK_WORDS = ("the", "evidence", "shows", "a", "clear", "pattern", "over", "time")


class SchemaDataError(ScriptoriumError):
    """The schema asks for something no generated value can be (a pattern we cannot satisfy)."""


def schema_data(schema: Mapping[str, Any], *, words: Sequence[str] = (), seed: int = 0) -> Any:
    """A value `schema` accepts. Strings are made of `words` (e.g. the prompt's), in order from a
    seeded start, so they read as being about the request."""
    pool = [w for w in words if re.fullmatch(r"[\w'-]+", w)] or list(_FALLBACK_WORDS)
    return _Generator(schema.get("$defs", {}), pool, random.Random(seed)).value(schema)


class _Generator:
    def __init__(self, defs: Mapping[str, Any], words: list[str], rng: random.Random) -> None:
        self.defs = defs
        self.words = words
        self.rng = rng

    def value(self, node: Mapping[str, Any], depth: int = 0) -> Any:
        if depth > 32:
            raise SchemaDataError("the schema nests deeper than 32 levels (a recursive $ref?)")
        if "$ref" in node:
            name = str(node["$ref"]).rsplit("/", 1)[-1]
            if name not in self.defs:
                raise SchemaDataError(f"the schema refers to {node['$ref']!r}, which it does not define")
            return self.value(self.defs[name], depth + 1)
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return self.rng.choice(list(node["enum"]))
        for key in ("anyOf", "oneOf"):
            if key in node:
                # The first non-null branch: an optional field gets a value, not a silent null.
                options = [o for o in node[key] if o.get("type") != "null"] or list(node[key])
                return self.value(options[0], depth + 1)
        if "allOf" in node:
            merged: dict[str, Any] = {}
            for part in node["allOf"]:
                merged.update(part)
            return self.value(merged, depth + 1)
        kind = node.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object" or (kind is None and "properties" in node):
            return self._object(node, depth)
        if kind == "array":
            return self._array(node, depth)
        if kind == "string":
            return self._string(node)
        if kind == "integer":
            return int(self._number(node, integer=True))
        if kind == "number":
            return self._number(node, integer=False)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self._string({})  # an unconstrained schema ({}) accepts anything; text reads best

    def _object(self, node: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = node.get("properties", {})
        required = node.get("required", list(properties))
        return {name: self.value(properties[name], depth + 1) for name in properties if name in required}

    def _array(self, node: Mapping[str, Any], depth: int) -> list[Any]:
        low = int(node.get("minItems", 0))
        high = int(node.get("maxItems", max(low, 2)))
        count = min(high, max(low, 1))
        item: Mapping[str, Any] = node.get("items", {})
        if not node.get("uniqueItems") and "enum" not in item:
            return [self.value(item, depth + 1) for _ in range(count)]
        if "enum" in item:  # distinct choices, as a citation list of enum keys must often be
            choices = list(dict.fromkeys(item["enum"]))
            self.rng.shuffle(choices)
            return choices[: max(low, min(count, len(choices)))]
        out: list[Any] = []
        for _ in range(count * 4):
            candidate = self.value(item, depth + 1)
            if candidate not in out:
                out.append(candidate)
            if len(out) == count:
                break
        return out

    def _string(self, node: Mapping[str, Any]) -> str:
        low = int(node.get("minLength", 0))
        high = int(node.get("maxLength", max(low, 80)))
        target = min(high, max(low, min(60, high)))
        start = self.rng.randrange(len(self.words))
        parts: list[str] = []
        n = start
        while len(" ".join(parts)) < target:
            parts.append(self.words[n % len(self.words)])
            n += 1
        text = " ".join(parts)[: max(high - 1, 1)].rstrip()  # room left for the full stop
        text = text[:1].upper() + text[1:]
        if len(text) < high:
            text += "."
        text += "x" * (low - len(text))
        pattern = node.get("pattern")
        if pattern is not None and not re.search(str(pattern), text):
            raise SchemaDataError(f"cannot make a string that matches the pattern {pattern!r}")
        return text

    def _number(self, node: Mapping[str, Any], *, integer: bool) -> float:
        low = node.get("minimum", node.get("exclusiveMinimum"))
        high = node.get("maximum", node.get("exclusiveMaximum"))
        if low is not None and "exclusiveMinimum" in node and "minimum" not in node:
            low = low + (1 if integer else 1e-6)
        if high is not None and "exclusiveMaximum" in node and "maximum" not in node:
            high = high - (1 if integer else 1e-6)
        value = float(low if low is not None else (min(1, high) if high is not None else 1))
        return float(int(value)) if integer else value
