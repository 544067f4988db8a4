"""Agents defined in YAML (role, goal, backstory, tools, memory, output schema) and their runtime."""
