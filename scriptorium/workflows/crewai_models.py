"""Output models between CrewAI's Python and Scriptorium's JSON schemas.

A CrewAI task names a pydantic class (`output_pydantic=JobPosting`); a Scriptorium agent gives a
JSON schema (or a registered model, which has one). Import reads the classes of a project with
`ast`, without running its code, into JSON schemas; export writes JSON schemas back as pydantic
classes. The two directions cover the same part of both languages (scalars, enums and literals,
lists, string-keyed dicts, optional fields, nested models, descriptions, defaults and the usual
bounds), so a schema written as a class and read back is the schema the class was written from,
and export -> import -> export gives the same file.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ModelClasses", "attribute_name", "class_name", "models_source", "read_model_classes"]

_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}
_PYTHON_SCALARS = {v: k for k, v in _SCALARS.items()}
# JSON schema keyword -> pydantic Field keyword, per JSON type.
_BOUNDS = {
    "string": {"minLength": "min_length", "maxLength": "max_length", "pattern": "pattern"},
    "array": {"minItems": "min_length", "maxItems": "max_length"},
    "integer": {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"},
    "number": {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"},
}
_FIELD_TYPES: dict[str, tuple[str, ...]] = {}  # pydantic Field keyword -> the JSON types it bounds
for _type, _keys in _BOUNDS.items():
    for _kw in _keys.values():
        _FIELD_TYPES[_kw] = (*_FIELD_TYPES.get(_kw, ()), _type)


# -- JSON schema -> pydantic source --------------------------------------------------------------


def models_source(models: Mapping[str, Mapping[str, Any]], *, header: str = "") -> str:
    """A Python module defining one pydantic class per entry (class name -> JSON object schema),
    with the classes their fields need before them."""
    writer = _SourceWriter()
    for name, schema in models.items():
        writer.add(name, schema, dict(schema.get("$defs") or {}))
    body = "\n\n\n".join(writer.classes.values())
    typing_names = [n for n, used in (("Any", writer.uses_any), ("Literal", writer.uses_literal)) if used]
    imports = ["from pydantic import BaseModel" + (", Field" if "= Field(" in body else "")]
    if typing_names:
        imports.insert(0, f"from typing import {', '.join(typing_names)}\n")
    return (
        f'{header}"""Output models of the tasks (pydantic classes; CrewAI validates each answer)."""\n\n'
        + ("\n".join(imports) + "\n\n\n" + body + "\n")
    )


@dataclass
class _SourceWriter:
    classes: dict[str, str] = field(default_factory=dict)
    """Class name -> its source, in definition order (dependencies first)."""
    schemas: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    uses_any: bool = False
    uses_literal: bool = False

    def add(self, name: str, schema: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
        name = class_name(name)
        if name in self.schemas:
            if _same(self.schemas[name], schema):
                return name
            name = next(f"{name}{i}" for i in range(2, 1000) if f"{name}{i}" not in self.schemas)
        self.schemas[name] = schema
        required = set(schema.get("required") or [])
        lines = [f"class {name}(BaseModel):"]
        if schema.get("description"):
            lines.append(f"    {_docstring(str(schema['description']))}")
        fields = []
        for prop, sub in (schema.get("properties") or {}).items():
            annotation = self.annotation(sub, defs, hint=f"{name}{class_name(prop)}")
            kwargs = _field_kwargs(sub)
            if prop not in required:
                if "default" in sub:
                    kwargs.insert(0, f"default={sub['default']!r}")
                else:
                    if not _nullable(annotation):
                        annotation += " | None"
                    kwargs.insert(0, "default=None")
            attribute = prop if prop.isidentifier() and not keyword.iskeyword(prop) else None
            if attribute is None:
                attribute = re.sub(r"\W", "_", prop).strip("_") or "field"
                if attribute[0].isdigit():
                    attribute = "f_" + attribute  # a name may not begin with a digit
                if keyword.iskeyword(attribute):
                    attribute += "_"
                kwargs.append(f"alias={prop!r}")
            if kwargs == ["default=None"]:
                fields.append(f"    {attribute}: {annotation} = None")
            elif kwargs:
                fields.append(f"    {attribute}: {annotation} = Field({', '.join(kwargs)})")
            else:
                fields.append(f"    {attribute}: {annotation}")
        lines += fields or ["    pass"]
        self.classes[name] = "\n".join(lines)
        return name

    def annotation(self, schema: Mapping[str, Any], defs: Mapping[str, Any], *, hint: str) -> str:
        if "$ref" in schema:
            target = str(schema["$ref"]).rsplit("/", 1)[-1]
            resolved = defs.get(target)
            if resolved is None:
                self.uses_any = True
                return "Any"
            if _is_model(resolved):
                return self.add(target, resolved, defs)
            return self.annotation(resolved, defs, hint=target)
        if "enum" in schema or "const" in schema:
            self.uses_literal = True
            values = schema["enum"] if "enum" in schema else [schema["const"]]
            return f"Literal[{', '.join(repr(v) for v in values)}]"
        for union in ("anyOf", "oneOf"):
            if union in schema:
                parts = [self.annotation(s, defs, hint=hint) for s in schema[union]]
                return " | ".join(dict.fromkeys(parts))
        kind = schema.get("type")
        if isinstance(kind, list):
            return " | ".join(self.annotation({**schema, "type": k}, defs, hint=hint) for k in kind)
        if kind in _SCALARS:
            return _SCALARS[kind]
        if kind == "array":
            items = schema.get("items")
            if not isinstance(items, Mapping) or not items:
                self.uses_any = True
                return "list[Any]"
            return f"list[{self.annotation(items, defs, hint=hint)}]"
        if kind == "object" or "properties" in schema:
            if _is_model(schema):
                return self.add(str(schema.get("title") or hint), schema, defs)
            extra = schema.get("additionalProperties")
            if isinstance(extra, Mapping) and extra:
                return f"dict[str, {self.annotation(extra, defs, hint=hint)}]"
            self.uses_any = True
            return "dict[str, Any]"
        self.uses_any = True
        return "Any"


def _field_kwargs(schema: Mapping[str, Any]) -> list[str]:
    kwargs = []
    if schema.get("description"):
        kwargs.append(f"description={str(schema['description'])!r}")
    for member in [schema, *schema.get("anyOf", [])]:  # Optional[str] keeps its bounds in anyOf
        for key, keyword_name in _BOUNDS.get(str(member.get("type")), {}).items():
            if key in member:
                kwargs.append(f"{keyword_name}={member[key]!r}")
    return kwargs


def _is_model(schema: Mapping[str, Any]) -> bool:
    return bool(schema.get("properties")) and schema.get("type", "object") == "object"


def _nullable(annotation: str) -> bool:
    return annotation == "None" or annotation.endswith(" | None") or " | None | " in annotation


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = ("properties", "required")
    return all(a.get(k) == b.get(k) for k in keys)


def class_name(text: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", text)
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Output"
    return name if name[0].isalpha() else "M" + name


def _docstring(text: str) -> str:
    clean = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'"""{clean}"""'


# -- pydantic source -> JSON schema ----------------------------------------------------------------


@dataclass
class ModelClasses:
    """The pydantic classes a project's Python defines, as JSON schemas."""

    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    """Class name -> `file:line`."""

    def schema(self, name: str, notes: list[str]) -> dict[str, Any] | None:
        """The JSON schema of class `name` (its nested models under `$defs`), or None when the
        project does not define it; what cannot be read is appended to `notes`."""
        if name not in self.classes:
            return None
        defs: dict[str, dict[str, Any]] = {}
        top = self._object(name, defs, notes)
        defs.pop(name, None)
        if defs:
            top["$defs"] = defs
        return top

    def _object(self, name: str, defs: dict[str, dict[str, Any]], notes: list[str]) -> dict[str, Any]:
        node = self.classes[name]
        schema: dict[str, Any] = {"type": "object", "title": name}
        doc = ast.get_docstring(node)
        if doc:
            schema["description"] = doc
        defs[name] = schema  # before the fields: a model that refers to itself ends here
        properties: dict[str, Any] = {}
        required: list[str] = []
        for statement in node.body:
            if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
                continue
            prop = statement.target.id
            where = f"{self.where[name]}: {name}.{prop}"
            sub = self._annotation(statement.annotation, defs, notes, where)
            key, has_default = prop, False
            value = statement.value
            if isinstance(value, ast.Call) and attribute_name(value.func) == "Field":
                has_default = self._field_call(value, sub, notes, where)
                alias = next((k.value for k in value.keywords if k.arg == "alias"), None)
                if isinstance(alias, ast.Constant) and isinstance(alias.value, str):
                    key = alias.value
            elif value is not None:
                has_default = _read_default(value, sub)
            properties[key] = sub
            if not has_default:
                required.append(key)
        schema["properties"] = properties
        if required:
            schema["required"] = required
        return schema

    def _field_call(self, call: ast.Call, sub: dict[str, Any], notes: list[str], where: str) -> bool:
        given = (
            call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "default"), None)
        )
        has_default = given is not None and _read_default(given, sub)
        for kw in call.keywords:
            literal = _literal(kw.value)
            if kw.arg == "default_factory":
                has_default = True
            elif kw.arg == "description" and isinstance(literal, str):
                sub["description"] = literal
            elif kw.arg in _FIELD_TYPES and literal is not _NOT_LITERAL:
                bounded = [s for s in [sub, *sub.get("anyOf", [])] if s.get("type") in _FIELD_TYPES[kw.arg]]
                if bounded:
                    kind = str(bounded[0]["type"])
                    key = next(k for k, v in _BOUNDS[kind].items() if v == kw.arg)
                    bounded[0][key] = literal
            elif kw.arg not in ("default", "alias", "title", "examples"):
                notes.append(f"{where}: Field({kw.arg}=...) is not translated")
        return has_default

    def _annotation(
        self, node: ast.expr, defs: dict[str, dict[str, Any]], notes: list[str], where: str
    ) -> dict[str, Any]:
        if isinstance(node, ast.Constant) and node.value is None:
            return {"type": "null"}
        if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted annotation
            try:
                return self._annotation(ast.parse(node.value, mode="eval").body, defs, notes, where)
            except SyntaxError:
                pass
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return _union([self._annotation(n, defs, notes, where) for n in _or_parts(node)])
        name = attribute_name(node.value if isinstance(node, ast.Subscript) else node)
        if isinstance(node, ast.Subscript):
            args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
            if name in ("list", "List", "Sequence", "set", "Set", "tuple", "Tuple") and args:
                return {"type": "array", "items": self._annotation(args[0], defs, notes, where)}
            if name in ("dict", "Dict", "Mapping") and len(args) == 2:
                return {
                    "type": "object",
                    "additionalProperties": self._annotation(args[1], defs, notes, where),
                }
            if name == "Optional" and args:
                return _union([self._annotation(args[0], defs, notes, where), {"type": "null"}])
            if name == "Union":
                return _union([self._annotation(a, defs, notes, where) for a in args])
            if name == "Literal":
                values = [_literal(a) for a in args]
                if all(v is not _NOT_LITERAL for v in values):
                    return {"enum": values}
            if name == "Annotated" and args:
                return self._annotation(args[0], defs, notes, where)
        elif name in _PYTHON_SCALARS:
            return {"type": _PYTHON_SCALARS[name]}
        elif name in ("list", "List"):
            return {"type": "array"}
        elif name in ("dict", "Dict"):
            return {"type": "object"}
        elif name == "Any":
            return {}
        elif name in self.classes:
            if name not in defs:
                self._object(name, defs, notes)
            return {"$ref": f"#/$defs/{name}"}
        notes.append(f"{where}: type '{ast.unparse(node)}' is not translated; read as text")
        return {"type": "string"}


_NOT_LITERAL = object()


def _read_default(node: ast.expr, sub: dict[str, Any]) -> bool:
    """Whether `node` gives the field a default (`...` does not); a literal one goes into `sub`."""
    if isinstance(node, ast.Constant) and node.value is Ellipsis:
        return False
    literal = _literal(node)
    if literal is not _NOT_LITERAL and literal is not None:
        sub["default"] = literal
    return True


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return _NOT_LITERAL


def _union(parts: list[dict[str, Any]]) -> dict[str, Any]:
    flat: list[dict[str, Any]] = []
    for part in parts:
        flat += part["anyOf"] if set(part) == {"anyOf"} else [part]
    return flat[0] if len(flat) == 1 else {"anyOf": flat}


def _or_parts(node: ast.expr) -> Iterable[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        yield from _or_parts(node.left)
        yield from _or_parts(node.right)
    else:
        yield node


def attribute_name(node: ast.expr) -> str | None:
    """ "x" from `x` or `a.b.x` (how a class, function or decorator is named in the code)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def read_model_classes(files: Iterable[Path]) -> ModelClasses:
    """The `BaseModel` subclasses defined at module level in `files` (a later file's class of the
    same name wins, as the last import would)."""
    found = ModelClasses()
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue  # the crew reader reports unreadable files
        models = {"BaseModel"}
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and any(attribute_name(b) in models for b in node.bases):
                models.add(node.name)
                found.classes[node.name] = node
                found.where[node.name] = f"{path}:{node.lineno}"
    return found
