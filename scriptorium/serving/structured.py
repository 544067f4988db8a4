"""Structured output: replies guided to a JSON schema, validated, repaired once when they break it.

`StructuredCalls` is the part of `ModelClient` that asks for JSON matching a pydantic model or a
plain JSON schema; the transport under it (`chat`, `_complete`: retries, replicas, streaming into
the trace) is the client's.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import jsonschema
from pydantic import BaseModel, ValidationError

from ..errors import StructuredOutputError
from .messages import ChatMessage, ChatResult, Structured
from .schemas import json_schema_format, room_for_answer, strict_schema, validation_problem

__all__ = ["StructuredCalls"]

log = logging.getLogger(__name__)

OutputT = TypeVar("OutputT", bound=BaseModel)
ValueT = TypeVar("ValueT")


class StructuredCalls(ABC):
    """JSON-schema calls over a transport that sends one chat request (`chat`) or one whole reply,
    streamed into the trace when one listens (`_complete`)."""

    @abstractmethod
    async def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        caller: str = "default",
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
    ) -> ChatResult: ...

    @abstractmethod
    async def _complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        caller: str,
        model: str | None,
        temperature: float | None,
        max_tokens: int | None,
        response_format: Mapping[str, Any] | None,
        extra_body: Mapping[str, Any] | None,
    ) -> ChatResult: ...

    async def structured(
        self,
        messages: Sequence[ChatMessage],
        output: type[OutputT],
        *,
        caller: str = "default",
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        repair: bool = True,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Structured[OutputT]:
        """Ask for JSON matching `output`'s schema (guided decoding) and validate it.

        A reply that still fails validation (typically cut off by `max_tokens`) gets one repair
        request that shows the model its error; a second failure raises `StructuredOutputError`
        carrying the raw text.
        """
        value, result = await self._validated(
            messages,
            json_schema_format(output),
            output.__name__,
            lambda text: output.model_validate_json(text),
            caller=caller,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            repair=repair,
            extra_body=extra_body,
        )
        return Structured(value, result)

    async def samples(
        self,
        messages: Sequence[ChatMessage],
        output: type[OutputT],
        n: int,
        *,
        caller: str = "default",
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> tuple[list[OutputT], ChatResult]:
        """`n` answers matching `output` from one request (the prompt is read once); the ones that
        validate, in order. None validating raises `StructuredOutputError` with the first."""
        response_format = json_schema_format(output)
        max_tokens = room_for_answer(response_format, max_tokens, caller)
        result = await self.chat(
            messages,
            caller=caller,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            response_format=response_format,
            extra_body={**(extra_body or {}), "n": n},
        )
        values = []
        for text in (result.text, *result.alternatives):
            try:
                values.append(output.model_validate_json(text))
            except (ValidationError, ValueError):
                continue
        if not values:
            raise StructuredOutputError(
                f"none of the {n} replies validates as {output.__name__}", raw=result.text
            )
        return values, result

    async def structured_json(
        self,
        messages: Sequence[ChatMessage],
        schema: Mapping[str, Any],
        *,
        name: str = "output",
        caller: str = "default",
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        repair: bool = True,
        extra_body: Mapping[str, Any] | None = None,
    ) -> tuple[Any, ChatResult]:
        """Like `structured`, for a plain JSON schema: returns the parsed, schema-valid value."""
        validator = jsonschema.Draft202012Validator(dict(schema))

        def parse(text: str) -> Any:
            value = json.loads(text)
            validator.validate(value)
            return value

        response_format = {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": strict_schema(dict(schema))},
        }
        return await self._validated(
            messages,
            response_format,
            name,
            parse,
            caller=caller,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            repair=repair,
            extra_body=extra_body,
        )

    async def _validated(
        self,
        messages: Sequence[ChatMessage],
        response_format: Mapping[str, Any],
        name: str,
        parse: Callable[[str], ValueT],
        *,
        caller: str,
        model: str | None,
        temperature: float | None,
        max_tokens: int | None,
        repair: bool,
        extra_body: Mapping[str, Any] | None = None,
    ) -> tuple[ValueT, ChatResult]:
        max_tokens = room_for_answer(response_format, max_tokens, caller)
        conversation = list(messages)
        for round_ in range(2 if repair else 1):
            result = await self._complete(
                conversation,
                caller=caller,
                model=model,
                temperature=temperature,
                max_tokens=max_tokens,
                response_format=response_format,
                extra_body=extra_body,
            )
            try:
                return parse(result.text), result
            except (ValidationError, ValueError, jsonschema.ValidationError) as exc:
                problem = validation_problem(exc)
                log.warning("%s: reply does not validate as %s (round %d): %s", caller, name, round_, problem)
                if result.finish_reason == "length" and max_tokens is not None:
                    # Cut off, not wrong: showing the model its runaway text only invites more of it.
                    # Ask again, with room for a longer answer.
                    max_tokens *= 2
                    continue
                conversation += [
                    {"role": "assistant", "content": result.text},
                    {
                        "role": "user",
                        "content": f"That reply is not valid JSON for the schema ({problem}). "
                        "Reply with the complete JSON object only.",
                    },
                ]
        raise StructuredOutputError(
            f"the model's reply does not validate as {name}: {problem}",
            raw=result.text,
            hint=f"raise max_tokens if the reply was cut off (finish_reason was {result.finish_reason!r})",
        )
