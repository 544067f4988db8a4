"""`config_edit.set_table_key`: one key of scriptorium.toml changes, the rest stays as written."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from scriptorium.config_edit import set_table_key
from scriptorium.errors import ConfigError

WRITTEN = """# my project
[memory]
chunk_size = 900  # smaller chunks for my notes

[server]
# the model I trust
model = "old"
port = 8800
"""


def test_the_key_changes_and_every_comment_and_other_key_stays(tmp_path: Path) -> None:
    path = tmp_path / "scriptorium.toml"
    path.write_text(WRITTEN)
    set_table_key(path, "server", "model", "paper-mine")
    assert path.read_text() == WRITTEN.replace('model = "old"', 'model = "paper-mine"')


def test_a_missing_key_goes_under_its_table_and_a_missing_table_is_added(tmp_path: Path) -> None:
    path = tmp_path / "scriptorium.toml"
    path.write_text("[server]\nport = 8800\n\n[memory]\nchunk_size = 900\n")
    set_table_key(path, "server", "model", "a")
    assert tomllib.loads(path.read_text()) == {
        "server": {"model": "a", "port": 8800},
        "memory": {"chunk_size": 900},
    }
    fresh = tmp_path / "new" / "scriptorium.toml"
    set_table_key(fresh, "server", "model", "b")
    assert tomllib.loads(fresh.read_text()) == {"server": {"model": "b"}}


def test_none_removes_the_key(tmp_path: Path) -> None:
    path = tmp_path / "scriptorium.toml"
    path.write_text(WRITTEN)
    set_table_key(path, "server", "model", None)
    assert tomllib.loads(path.read_text())["server"] == {"port": 8800}
    assert "# the model I trust" in path.read_text()


@pytest.mark.parametrize(
    "text",
    ['server = { model = "old" }\n', 'server.model = "old"\n', "[server\nmodel = 1\n"],
    ids=["inline table", "dotted key", "not TOML"],
)
def test_a_file_it_cannot_edit_line_by_line_is_refused_and_left_alone(tmp_path: Path, text: str) -> None:
    path = tmp_path / "scriptorium.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        set_table_key(path, "server", "model", "new")
    assert str(path) in caught.value.message
    assert path.read_text() == text
