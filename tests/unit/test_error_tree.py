"""One error tree: every exception class Scriptorium defines is a `ScriptoriumError`, drawn in
`errors`' docstring, with the exit code its branch documents; a step's error keeps its cause."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import scriptorium
from scriptorium import errors
from scriptorium.errors import ConfigError, MemoryStoreError, ScriptoriumError, ServingError
from scriptorium.workflows.gates import GateParked
from scriptorium.workflows.runner import StepError

SKIP = {"scriptorium.__main__"}  # running it starts the CLI


def _defined_exceptions() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(scriptorium.__path__, "scriptorium."):
        if info.name in SKIP:
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == info.name:
                found.append(obj)
    return found


def test_every_error_scriptorium_defines_is_in_the_tree_and_drawn() -> None:
    defined = _defined_exceptions()
    assert len(defined) >= 40
    outside = [f"{e.__module__}.{e.__name__}" for e in defined if not issubclass(e, ScriptoriumError)]
    assert outside == []
    drawn = errors.__doc__ or ""
    missing = [e.__name__ for e in defined if not e.__name__.startswith("_") and e.__name__ not in drawn]
    assert missing == []


@pytest.mark.parametrize(
    ("error", "code"),
    [(ScriptoriumError, 1), (ConfigError, 2), (ServingError, 3), (MemoryStoreError, 4), (GateParked, 5)],
)
def test_each_branch_has_its_documented_exit_code(error: type[ScriptoriumError], code: int) -> None:
    assert error.exit_code == code
    assert f"exit {code}" in (errors.__doc__ or "")
    if error is ScriptoriumError:
        return
    for sub in (e for e in _defined_exceptions() if issubclass(e, error) and e is not error):
        assert sub.exit_code in (code, 2), sub  # a branch's errors keep its code, or say "bad input"


def test_a_step_error_keeps_its_cause() -> None:
    cause = ValueError("the tool's own failure")
    error = StepError("draft[2].write", str(cause), cause=cause)
    assert error.__cause__ is cause and "draft[2].write" in str(error)
