"""Scriptorium: multi-agent workflows on a locally served, fine-tuned model."""

from .errors import ScriptoriumError

__all__ = ["ScriptoriumError", "__version__"]

__version__ = "0.1.0"
