"""Bad input, as a new user gives it: each case gets a clear error with where it is (file and
line, or the variable's name), exit 2, no traceback, no pydantic phrasing, nothing accepted in
silence. The files are in tests/data/bad_input/."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scriptorium.cli import app

BAD = Path(__file__).parents[1] / "data" / "bad_input"
PYDANTIC_WORDS = ("Extra inputs are not permitted", "Value error,", "validation error for", "Traceback")


@dataclass(frozen=True)
class Case:
    name: str
    command: list[str]
    expected: list[str]
    """Every one of these is in the output (the place, then what is wrong)."""
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    """Bad files copied into the project folder: name there -> name in tests/data/bad_input."""
    exit_code: int = 2
    """2 (bad input); 0 where the good part is done and the bad part skipped with a warning."""


CASES = [
    Case(
        "csv row with more cells than the header",
        ["batch", "extra_cells.csv"],
        ["extra_cells.csv:2", "3 cells for 2 columns"],
    ),
    Case("task file not UTF-8", ["batch", "tasks_latin1.yaml"], ["tasks_latin1.yaml:1:11", "not UTF-8"]),
    Case(
        "empty topic in a task",
        ["batch", "empty_topic.jsonl"],
        ["empty_topic.jsonl:1", "empty_topic.jsonl:2", "input 'topic' is empty"],
    ),
    Case(
        "task that is not a mapping",
        ["batch", "task_not_mapping.yaml"],
        ["task_not_mapping.yaml:2:", "must be a mapping"],
    ),
    Case(
        "scriptorium.toml not UTF-8",
        ["config"],
        ["scriptorium.toml", "not UTF-8"],
        files={"scriptorium.toml": "latin1.toml"},
    ),
    Case(
        "list setting that is not JSON",
        ["config"],
        ["SCRIPTORIUM_SERVER__ADAPTERS", "not valid JSON"],
        env={"SCRIPTORIUM_SERVER__ADAPTERS": "[broken"},
    ),
    Case(
        "section setting that is not JSON",
        ["config"],
        ["SCRIPTORIUM_MEMORY", "not valid JSON", "SCRIPTORIUM_MEMORY__"],
        env={"SCRIPTORIUM_MEMORY": "big"},
    ),
    Case(
        "chunk overlap over the chunk size",
        ["config"],
        ["chunk_overlap (5000) must be less than chunk_size"],
        env={"SCRIPTORIUM_MEMORY__CHUNK_OVERLAP": "5000"},
    ),
    Case(
        "unknown SCRIPTORIUM_ variable",
        ["config"],
        ["SCRIPTORIUM_SERVR__PORT names no setting", "did you mean SCRIPTORIUM_SERVER__PORT"],
        env={"SCRIPTORIUM_SERVR__PORT": "9000"},
    ),
    Case(
        "base URL that is not a URL",
        ["config"],
        ["SCRIPTORIUM_BASE_URL", "'localhost:8000' is not an http(s) URL"],
        env={"SCRIPTORIUM_BASE_URL": "localhost:8000"},
    ),
    Case(
        "input defaults against their own type and bounds",
        ["workflows", "validate", "bad_defaults.yaml"],
        [
            "bad_defaults.yaml:4:3",
            "minimum (9) is above maximum (2)",
            "bad_defaults.yaml:5:3",
            "default 'c' does not fit",
        ],
    ),
    Case(
        "tool-step arguments of the wrong type",
        ["workflows", "validate", "bad_tool_args.yaml"],
        [
            "bad_tool_args.yaml:9:7",
            "'sections': input should be a valid integer",
            "bad_tool_args.yaml:13:7",
            "bad_tool_args.yaml:12:5",
            "needs the argument 'path'",
        ],
    ),
    Case(
        "random bytes named .md",
        ["ingest", "random.md", "good.md"],
        ["skipped random.md: binary: not text", "1 skipped"],
        exit_code=0,
    ),
    Case(
        "notes saved as Latin-1",
        ["ingest", "latin1_notes.md"],
        ["latin1_notes.md", "read as Windows Latin-1 (cp1252)", "1 with warnings"],
        exit_code=0,
    ),
    Case(
        "a missing path beside a good file",
        ["ingest", "no_such_folder", "good.md"],
        ["not read no_such_folder: does not exist", "2 files", "1 could not be read"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_with_its_place_and_no_traceback(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in {*case.command, *case.files.values()}:
        if (BAD / name).is_file():
            shutil.copy(BAD / name, tmp_path / name)
    for target, source in case.files.items():
        shutil.copy(BAD / source, tmp_path / target)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, case.command)
    output = " ".join(result.output.split())
    assert result.exit_code == case.exit_code, output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), output
    for expected in case.expected:
        assert expected in output, f"{expected!r} not in: {output}"
    assert not [w for w in PYDANTIC_WORDS if w in output], output
    assert ":None" not in output
