"""Failed requests as typed errors (`errors.EndpointError` and below), and how long to back off."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

import openai

from ..errors import (
    AuthenticationFailed,
    ContextLengthExceeded,
    EndpointError,
    EndpointUnreachable,
    RequestRejected,
    ServerOverloaded,
)

__all__ = ["backoff", "translate"]

_CONTEXT_LIMIT = re.compile(r"maximum context length is (\d+) tokens")
_PROMPT_TOKENS = re.compile(r"(\d+) input tokens")


def translate(exc: openai.APIError, url: str, urls: Sequence[str]) -> EndpointError:
    """The typed error for a failed request to `url` (`urls`: every replica, named when they failed too)."""
    others = [u for u in urls if u != url]
    also = f" (nor its replicas {', '.join(others)} in time)" if others else ""
    if isinstance(exc, openai.APITimeoutError):
        return EndpointUnreachable(f"{url} did not answer in time{also}", url=url)
    if isinstance(exc, openai.APIConnectionError):
        also = f"; replicas {', '.join(others)} were tried too" if others else ""
        return EndpointUnreachable(f"cannot connect to {url}{also}", url=url)
    status = getattr(exc, "status_code", None)
    detail = _detail(exc)
    if status in (401, 403):
        return AuthenticationFailed(f"{url} refused the API key ({status})", url=url, status=status)
    if status == 429 or (status is not None and status >= 500):
        return ServerOverloaded(f"{url} answered {status}: {detail}", url=url, status=status)
    if status == 400 and (limit := _CONTEXT_LIMIT.search(detail)):
        prompt = _PROMPT_TOKENS.search(detail)
        return ContextLengthExceeded(
            f"the prompt does not fit the model's context of {limit.group(1)} tokens at {url}"
            + (f" (it has {prompt.group(1)} tokens)" if prompt else ""),
            url=url,
            limit=int(limit.group(1)),
            prompt_tokens=int(prompt.group(1)) if prompt else None,
        )
    if status == 404:
        return RequestRejected(
            f"{url} answered 404: {detail}",
            url=url,
            status=status,
            hint="check SCRIPTORIUM_MODEL against `GET /v1/models` of that server",
        )
    return RequestRejected(f"{url} answered {status}: {detail}", url=url, status=status)


def backoff(attempt: int, failure: openai.APIError, base: float, most: float) -> float:
    """Seconds to wait before retry `attempt + 1`: the server's Retry-After when it gives one,
    else exponential with "equal jitter" (never hammer, never stall), at most `most`."""
    retry_after = _retry_after(failure)
    if retry_after is not None:
        return min(most, retry_after)
    cap = min(most, base * 2**attempt)
    return random.uniform(cap / 2, cap)


def _detail(exc: openai.APIError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or body.get("error", {})
        if isinstance(message, dict):
            message = message.get("message")
        if isinstance(message, str):
            return message
    return exc.message


def _retry_after(exc: openai.APIError) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
