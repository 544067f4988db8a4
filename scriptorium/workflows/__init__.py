"""Declarative workflows: the spec, the async runner, checkpoints and the run folder."""

from .checkpoint import Checkpoint
from .inputs import InputError, resolve_inputs
from .loader import LIBRARY_DIR, LoadedWorkflow, find_workflow, load_workflow
from .runner import StepError, WorkflowResult, WorkflowRunner
from .session import ResumeRefused, RunOutcome, new_run_dir, run_workflow
from .spec import InputSpec, LoopSpec, StepSpec, WorkflowSpec

__all__ = [
    "LIBRARY_DIR",
    "Checkpoint",
    "InputError",
    "InputSpec",
    "LoadedWorkflow",
    "LoopSpec",
    "ResumeRefused",
    "RunOutcome",
    "StepError",
    "StepSpec",
    "WorkflowResult",
    "WorkflowRunner",
    "WorkflowSpec",
    "find_workflow",
    "load_workflow",
    "new_run_dir",
    "resolve_inputs",
    "run_workflow",
]
