"""The documented example configuration loads and matches the defaults it claims."""

from pathlib import Path

from scriptorium.config import load_settings

EXAMPLE = Path(__file__).parents[2] / "examples" / "scriptorium.toml"


def test_example_config_loads_and_equals_the_defaults() -> None:
    example = load_settings(EXAMPLE).model_dump(exclude={"project_dir"})
    assert example == load_settings().model_dump(exclude={"project_dir"})
