"""The `scriptorium` command line. Library code raises `ScriptoriumError`s; only this layer renders them."""

from ._app import app, main

__all__ = ["app", "main"]
