"""The built-in tools, registered through the same hook a plugin uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..base import Tool
from .memory_tools import memory_search, read_source
from .paper import assemble_paper, draft_paper, outline_paper, review_tries, survey_topic
from .web_search import web_search
from .write_file import write_file

__all__ = ["register_tools"]


def register_tools(register: Callable[[Tool[Any, Any]], None]) -> None:
    for item in (
        web_search,
        memory_search,
        read_source,
        write_file,
        survey_topic,
        review_tries,
        draft_paper,
        assemble_paper,
        outline_paper,
    ):
        register(item)
