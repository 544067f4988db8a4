"""Templates in specs: sandboxed Jinja2, native values for lone expressions, and reference finding.

`"{{ steps.plan.output.sections }}"` (one expression and nothing else) evaluates to the list itself,
not its text, so map, citations and tool arguments get real values; anything else renders to a
string. Literal braces in prompts (JSON examples) are fine: only `{{ }}` and `{% %}` are template
syntax. The sandbox refuses attribute access to Python internals, and undefined names are errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import ScriptoriumError

__all__ = ["TemplateError", "evaluate", "has_template", "references", "render_value"]

_LONE = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.S)
_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


class TemplateError(ScriptoriumError):
    """A template that does not parse, or that failed while rendering."""


def _lone_expression(text: str) -> str | None:
    match = _LONE.match(text)
    if match and "{{" not in match.group("expr") and "}}" not in match.group("expr"):
        return match.group("expr")
    return None


@lru_cache(maxsize=1024)
def _compiled(text: str) -> Any:
    expression = _lone_expression(text)
    try:
        if expression is not None:
            return ("expr", _ENV.compile_expression(expression, undefined_to_none=False))
        return ("text", _ENV.from_string(text))
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error in {text!r}: {exc.message}") from exc


def evaluate(text: str, context: Mapping[str, Any]) -> Any:
    """A lone `{{ expr }}` gives its value; other text renders to a string."""
    kind, compiled = _compiled(text)
    try:
        value = compiled(**context) if kind == "expr" else compiled.render(**context)
    except (
        UndefinedError,
        SecurityError,
        TypeError,
        ValueError,
        AttributeError,
        KeyError,
        IndexError,
    ) as exc:
        raise TemplateError(f"template {text.strip()[:120]!r} failed: {exc}") from exc
    if kind == "expr" and hasattr(value, "_undefined_name"):
        raise TemplateError(f"template {text.strip()[:120]!r}: '{value._undefined_name}' is undefined")
    return value


def has_template(value: Any) -> bool:
    """Whether `value` (a string, or strings inside lists and mappings) holds template syntax."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list):
        return any(has_template(item) for item in value)
    if isinstance(value, dict):
        return any(has_template(item) for item in value.values())
    return False


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Templates inside strings, lists and mappings, evaluated; everything else as it is."""
    if isinstance(value, str):
        return evaluate(value, context) if has_template(value) else value
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    if isinstance(value, dict):
        return {key: render_value(item, context) for key, item in value.items()}
    return value


def references(text: str) -> list[tuple[str | int, ...]]:
    """Every attribute/item chain a template reads, from its root name: `("steps", "plan", "output")`."""
    if not has_template(text):
        return []
    expression = _lone_expression(text)
    try:
        tree = _ENV.parse(f"{{{{ {expression} }}}}" if expression is not None else text)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error in {text!r}: {exc.message}") from exc
    return list(_chains(tree))


def _chains(node: nodes.Node) -> Iterator[tuple[str | int, ...]]:
    if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name):
        chain: list[str | int] = []
        current: nodes.Node = node
        extra: list[nodes.Node] = []
        while True:
            if isinstance(current, nodes.Getattr):
                chain.append(current.attr)
                current = current.node
            elif isinstance(current, nodes.Getitem):
                if isinstance(current.arg, nodes.Const) and isinstance(current.arg.value, str | int):
                    chain.append(current.arg.value)
                else:
                    chain.clear()  # a computed index: keep only the part before it
                    extra.append(current.arg)
                current = current.node
            else:
                break
        if isinstance(current, nodes.Name):
            yield (current.name, *reversed(chain))
        else:
            yield from _chains(current)
        for other in extra:
            yield from _chains(other)
        return
    for child in node.iter_child_nodes():
        yield from _chains(child)
