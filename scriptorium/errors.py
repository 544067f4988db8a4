"""Every failure Scriptorium reports on purpose, as one tree.

```
ScriptoriumError                     exit 1: the work failed
├── ConfigError                      exit 2: a setting, scriptorium.toml or an input is wrong
│   ├── InputError                   workflows.inputs: a workflow input is missing or invalid
│   ├── ResumeRefused                workflows.session: the run's workflow or agents changed since
│   ├── UnknownAgent                 agents.loader: no agent of that name
│   ├── ModelNotServed               agents.engine: an agent names a model the endpoint lacks
│   ├── RunFolderError               workflows.run_folder: a summary.json is broken or too new
│   ├── RayUnavailable               workflows.ray_executor: the cluster or its workers are unfit
│   └── GateRefused                  workflows.gates: no gate waits, or an edit is not valid
├── GateParked                       exit 5, workflows.gates: the run waits for a person's review
├── SpecError, SpecErrors            exit 2, specfile: YAML problems with file:line:column and field
├── TemplateError                    workflows.templates: a template does not render
├── StepError                        workflows.runner: a step failed (its path; the cause chained)
├── AgentRunError                    agents.engine: an agent could not finish its task
├── NoEvidenceError                  paper.plan: memory holds nothing on the topic
├── TextMismatch                     paper.draft: a reviewed text does not fit the draft it came from
├── EvaluationError                  evaluation.paper: a run folder cannot be evaluated
│   └── RestaterEvalError            evaluation.restater: a topic not held out, a failed round
├── JudgeError                       evaluation.judge: the judge model failed
├── SchemaDataError                  testing.schema_data: no value can satisfy the schema
├── ToolError                        a tool could not be used as asked (the model may read these)
│   ├── UnknownTool                  no tool of that name is registered
│   ├── ToolNotAllowed               the tool exists but is not in the agent's allowlist
│   ├── ToolArgumentsInvalid         the arguments do not validate against the tool's model
│   ├── ToolTimeout                  the call ran past its time limit
│   ├── ToolUnavailable              the service behind it is out of reach (offline, rate-limited)
│   └── PathRefused                  a file path points outside the run folder
├── MemoryStoreError                 exit 4: the vector memory cannot be opened or used
│   ├── StoreLocked                  another process owns the store
│   ├── EmbeddingMismatch            the collection was built with another embedding model
│   └── UnreadableFile               memory.loaders: a file has no text to give (ingest skips it)
├── ServingError                     exit 3: the model, its server or its endpoint
│   ├── ModelPreparationError        the bundled model could not be found or converted
│   ├── ServerStartError             the managed vLLM server did not come up (carries its log tail)
│   ├── ServerNotRunning             --stop found no managed server
│   ├── StructuredOutputError        the model's answer did not validate (carries the raw text)
│   └── EndpointError                a request to an OpenAI-compatible endpoint failed (the URL)
│       ├── EndpointUnreachable      connection refused or timed out, after retries
│       │   └── AnswerCutOff         the server went away in the middle of a streamed answer
│       ├── AuthenticationFailed     401/403: wrong API key
│       ├── ContextLengthExceeded    400: the prompt does not fit the model's context
│       ├── RequestRejected          any other 4xx
│       └── ServerOverloaded         429/5xx still failing after retries
└── FineTuneError                    training data, a training run or the model registry
    ├── TrainingDataError            no usable rows (the skipped ones are reported with line numbers)
    ├── UnknownModel                 a base or fine-tune name that is neither bundled nor registered
    └── NotEnoughMemory              training would not fit in the memory this machine has
```

Errors defined in another module are named with it; all of them are importable from there. Each
message says what to do next. Only the CLI turns these into exit codes, `exit_code` of the class
(0 success, 1 the work failed, 2 bad input, 3 the model server or endpoint, 4 the memory store,
5 waiting at a review gate, 130 interrupted); a raised error keeps the one it came from as `__cause__`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "AuthenticationFailed",
    "EmbeddingMismatch",
    "MemoryStoreError",
    "PathRefused",
    "StoreLocked",
    "ToolArgumentsInvalid",
    "ToolError",
    "ToolNotAllowed",
    "ToolTimeout",
    "ToolUnavailable",
    "UnknownTool",
    "ConfigError",
    "ContextLengthExceeded",
    "EndpointError",
    "EndpointUnreachable",
    "FineTuneError",
    "NotEnoughMemory",
    "TrainingDataError",
    "UnknownModel",
    "ModelPreparationError",
    "RequestRejected",
    "ScriptoriumError",
    "ServerNotRunning",
    "ServerOverloaded",
    "ServerStartError",
    "ServingError",
    "StructuredOutputError",
    "plain_message",
]

START_HINT = "start one with `scriptorium serve --detach`, or set SCRIPTORIUM_BASE_URL to a running server"


class ScriptoriumError(Exception):
    """Root of every error Scriptorium raises deliberately."""

    hint: str | None = None
    exit_code: ClassVar[int] = 1
    """What the CLI exits with (see the module's docstring)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(ScriptoriumError):
    """A setting, environment variable or `scriptorium.toml` entry is invalid."""

    exit_code = 2


class ToolError(ScriptoriumError):
    """A tool call that could not be carried out; its message is written for the model to read."""


class UnknownTool(ToolError):
    """No tool of that name is registered."""


class ToolNotAllowed(ToolError):
    """The tool exists but the calling agent may not use it."""


class ToolArgumentsInvalid(ToolError):
    """The arguments do not validate against the tool's arguments model."""


class ToolTimeout(ToolError):
    """The tool call ran past its time limit."""


class ToolUnavailable(ToolError):
    """The service behind the tool is out of reach; the run can go on without it."""


class PathRefused(ToolError):
    """A path escapes the run folder (absolute, `..`, or a symlink pointing out)."""


class MemoryStoreError(ScriptoriumError):
    """The vector memory cannot be opened or used."""

    exit_code = 4


class StoreLocked(MemoryStoreError):
    """Another process owns the memory store (Chroma is not safe for concurrent writer processes)."""


class EmbeddingMismatch(MemoryStoreError):
    """The collection was built with a different embedding model than the one configured."""


class ServingError(ScriptoriumError):
    """Anything about preparing, running or calling the model."""

    exit_code = 3


class ModelPreparationError(ServingError):
    """The bundled model is missing or its conversion failed."""


class ServerStartError(ServingError):
    """The managed vLLM server failed to start; `log_tail` holds its last log lines."""

    def __init__(self, message: str, *, log_tail: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.log_tail = log_tail

    def __str__(self) -> str:
        text = super().__str__()
        if self.log_tail:
            text += "\n  last lines of the server log:\n" + "\n".join(
                "    " + line for line in self.log_tail.splitlines()
            )
        return text


class ServerNotRunning(ServingError):
    """No managed server is recorded, or the recorded one is gone."""


class StructuredOutputError(ServingError):
    """The model's reply did not parse or validate against the requested schema."""

    def __init__(self, message: str, *, raw: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.raw = raw


class EndpointError(ServingError):
    """A request to an OpenAI-compatible endpoint failed."""

    def __init__(self, message: str, *, url: str, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.url = url
        self.status = status


class EndpointUnreachable(EndpointError):
    """The endpoint did not answer (refused, reset or timed out) even after retries."""

    hint = START_HINT


class AnswerCutOff(EndpointUnreachable):
    """The server went away while it streamed an answer (its replica killed, say): what came is
    partial. A whole-answer request is asked again, of another replica when there is one."""


class AuthenticationFailed(EndpointError):
    """The endpoint refused the API key."""

    hint = "check SCRIPTORIUM_API_KEY (the managed server's key is in the user config dir)"


class ContextLengthExceeded(EndpointError):
    """The prompt is longer than the served model's context window."""

    def __init__(self, message: str, *, url: str, limit: int | None, prompt_tokens: int | None) -> None:
        super().__init__(
            message,
            url=url,
            status=400,
            hint="shorten the prompt or its evidence, or serve with a larger --max-model-len",
        )
        self.limit = limit
        self.prompt_tokens = prompt_tokens


class RequestRejected(EndpointError):
    """The endpoint rejected the request as invalid (a 4xx other than 401/403/429)."""


class ServerOverloaded(EndpointError):
    """The endpoint kept answering 429 or 5xx until the retries ran out."""

    hint = "lower client.max_concurrency, or raise client.max_retries"


class FineTuneError(ScriptoriumError):
    """Fine-tuning could not be prepared, run or recorded."""


class TrainingDataError(FineTuneError):
    """A training or evaluation file has no usable rows, or cannot be read."""


class UnknownModel(FineTuneError):
    """A model name is neither the bundled base nor in the model registry."""

    hint = "`scriptorium models list` shows the registered ones; `bundled` is the shipped base"


class NotEnoughMemory(FineTuneError):
    """The training run's estimated peak memory is more than this machine has available."""


_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def plain_message(error: Mapping[str, Any]) -> str:
    """One pydantic validation error (`ValidationError.errors()` item) in our words: what is wrong
    with the value, without pydantic's phrasing ("Extra inputs are not permitted", "Value error, ")."""
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        loc = error.get("loc") or ("?",)
        return f"unknown field '{loc[-1]}'"
    if kind == "missing":
        return "is required but missing"
    message = str(error.get("msg", "is not valid"))
    for prefix in _PYDANTIC_PREFIXES:
        message = message.removeprefix(prefix)
    return message[:1].lower() + message[1:]
