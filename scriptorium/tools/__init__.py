"""The typed tool registry: a name, a pydantic arguments model and an async function per tool."""
