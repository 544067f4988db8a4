"""The shipped paper adapter: its provenance checked, and every way it can be broken said clearly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scriptorium.config import load_settings
from scriptorium.errors import ModelPreparationError
from scriptorium.serving.models import bundled_model
from scriptorium.serving.shipped import SHIPPED_DIR, prepare_shipped_model, shipped_provenance

SERVE_BASE = "scriptorium serve --model base"


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "paper"
    shutil.copytree(SHIPPED_DIR, folder)
    return folder


def test_the_shipped_adapter_was_trained_over_the_bundled_model_on_data_in_the_repository() -> None:
    provenance = shipped_provenance()
    assert provenance.base_sha256 == bundled_model().sha256
    assert (Path(__file__).parents[2] / provenance.data.split()[0]).is_file()
    assert provenance.rows > 100 and provenance.rebuild.startswith("scriptorium finetune")
    assert (SHIPPED_DIR / "adapter_model.safetensors").stat().st_size < 20 * 2**20  # a few MB


def test_a_corrupt_adapter_file_is_named_with_the_command_that_serves_the_base(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    cache = load_settings().cache_dir  # the converted base is shared; nothing is written for a failure
    with pytest.raises(ModelPreparationError) as caught:
        prepare_shipped_model(cache, folder)
    assert str(folder) in caught.value.message and SERVE_BASE in (caught.value.hint or "")
    assert not [p for p in cache.iterdir() if p.name.startswith(".") and "paper" in p.name and p.is_dir()]


def test_a_missing_adapter_file_is_named(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "adapter_config.json").unlink()
    with pytest.raises(ModelPreparationError) as caught:
        prepare_shipped_model(load_settings().cache_dir, folder)
    assert str(folder / "adapter_config.json") in caught.value.message
    assert SERVE_BASE in (caught.value.hint or "")


def test_an_adapter_trained_over_another_base_is_refused_with_both_names(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    provenance = json.loads((folder / "provenance.json").read_text())
    provenance["base_sha256"] = "0" * 64
    (folder / "provenance.json").write_text(json.dumps(provenance))
    with pytest.raises(ModelPreparationError) as caught:
        prepare_shipped_model(load_settings().cache_dir, folder)
    message = caught.value.message
    assert provenance["base_model"] in message and "000000000000" in message
    assert bundled_model().gguf.name in message and bundled_model().sha256[:12] in message
