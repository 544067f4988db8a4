"""Declarative workflows: the spec, the async runner, checkpoints and batch mode."""
