"""What an endpoint can do, found by asking it (never guessed from a model's name).

One probe per endpoint and model per process: the served models and their context length, whether
JSON-schema output comes back valid, and whether native tool calls come back as real calls with
JSON-object arguments. The agent runtime adapts to the answers (tool use by JSON-schema decision
when native calls do not work, as with the bundled model on vLLM).
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from dataclasses import dataclass

from ..errors import RequestRejected, StructuredOutputError
from ..events import scope
from .client import ModelClient

__all__ = ["PROBE_AGENT", "CapabilityProfile", "probe"]

PROBE_AGENT = "endpoint-probe"

log = logging.getLogger(__name__)

_PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@dataclass(frozen=True)
class CapabilityProfile:
    base_url: str
    model: str
    models: tuple[str, ...]
    """Everything the endpoint serves: the base model and any LoRA adapters."""
    context_length: int | None
    json_schema: bool
    tool_calls: bool


_cache: dict[tuple[str, str], CapabilityProfile] = {}
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _loop_lock() -> asyncio.Lock:
    """One lock per event loop: an asyncio lock belongs to the loop that first waited on it, and a
    process may run several loops one after another (`asyncio.run` twice, a bench comparing two
    models): a module-level lock failed the second loop's first contended probe."""
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


async def probe(client: ModelClient, *, refresh: bool = False) -> CapabilityProfile:
    """The endpoint's profile for the client's model (cached per process), or the one the client
    declares."""
    if client.declared_profile is not None:
        return client.declared_profile
    key = (client.endpoint.base_url, client.endpoint.model)
    async with _loop_lock():
        if key in _cache and not refresh:
            return _cache[key]
        profile = await _probe(client)
        _cache[key] = profile
        log.info("probed %s: %s", client.endpoint.base_url, profile)
        return profile


async def _probe(client: ModelClient) -> CapabilityProfile:
    models, context = await _models(client)
    with scope(agent=PROBE_AGENT):  # its requests show in a trace as the probe's, not an agent's
        json_ok, tools_ok = await asyncio.gather(_json_schema_works(client), _tool_calls_work(client))
    return CapabilityProfile(
        base_url=client.endpoint.base_url,
        model=client.endpoint.model,
        models=tuple(models),
        context_length=context,
        json_schema=json_ok,
        tool_calls=tools_ok,
    )


async def _models(client: ModelClient) -> tuple[list[str], int | None]:
    served = await client.models()
    context = next((m.max_model_len for m in served if m.id == client.endpoint.model), None)
    return [m.id for m in served], context


async def _json_schema_works(client: ModelClient) -> bool:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    try:
        value, _ = await client.structured_json(
            [{"role": "user", "content": "Is the sky blue? Answer yes or no."}],
            schema,
            name="probe",
            caller="probe",
            max_tokens=20,
            temperature=0,
            repair=False,
        )
    except RequestRejected:
        return False  # the server refuses response_format
    except StructuredOutputError:
        return False  # it answered, but its output was not constrained
    return value.get("answer") in ("yes", "no")


async def _tool_calls_work(client: ModelClient) -> bool:
    try:
        result = await client.chat(
            [{"role": "user", "content": "What is the weather in Paris?"}],
            caller="probe",
            max_tokens=60,
            temperature=0,
            tools=[_PROBE_TOOL],
            tool_choice="required",
        )
    except RequestRejected:
        return False  # e.g. the server was not started with tool calling enabled
    if not result.tool_calls:
        return False
    try:
        arguments = json.loads(result.tool_calls[0].arguments)
    except json.JSONDecodeError:
        return False
    return isinstance(arguments, dict) and result.tool_calls[0].name == "get_weather"
