"""Scriptorium: multi-agent workflows on a locally served, fine-tuned model.

`Project` is the front door (`scriptorium.project`); `ScriptoriumError` the root of every error
it raises on purpose (`scriptorium.errors`); `scriptorium.testing` holds model doubles for tests.
"""

from typing import TYPE_CHECKING, Any

from .errors import ScriptoriumError

if TYPE_CHECKING:
    from .project import Project

__all__ = ["Project", "ScriptoriumError", "__version__"]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # `Project` pulls in every part (memory, agents, workflows); `import scriptorium.errors` should not.
    if name == "Project":
        from .project import Project

        return Project
    raise AttributeError(f"module 'scriptorium' has no attribute {name!r}")
