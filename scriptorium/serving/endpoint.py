"""Which endpoint to talk to: the one configured by `SCRIPTORIUM_BASE_URL`, or the managed server."""

from __future__ import annotations

import logging

import httpx
from pydantic import SecretStr

from ..config import Settings
from ..errors import AuthenticationFailed, EndpointUnreachable, RequestRejected, ServerNotRunning
from .client import Endpoint
from .server import ManagedServer, Progress, replica_servers

__all__ = ["first_model", "resolve_endpoint"]

log = logging.getLogger(__name__)


def resolve_endpoint(
    settings: Settings, *, start: bool = True, on_progress: Progress | None = None
) -> Endpoint:
    """The endpoint every client of this process should use.

    With `base_url` set, nothing is started: the server there is checked once, and its first model is
    used when `model` is unset. Otherwise the managed server is attached to, or started when `start`.
    """
    urls = settings.endpoint_urls
    if urls:
        key = settings.api_key or SecretStr("EMPTY")
        model = settings.model or _first_answering_model(urls, key)
        return Endpoint(base_url=urls[0], api_key=key, model=model, replicas=tuple(urls[1:]))
    server = ManagedServer(settings)
    if start:
        state, started = server.ensure(on_progress)
        if started:
            log.info("started the managed server at %s (pid %d)", state.base_url, state.pid)
    else:
        found = server.running()
        if found is None:
            raise ServerNotRunning(
                f"no managed server is running (state dir {settings.state_dir})",
                hint="start one with `scriptorium serve --detach`, or set SCRIPTORIUM_BASE_URL",
            )
        state = found
    replicas = [r.running() for r in replica_servers(settings)[1:]]
    return Endpoint(
        base_url=state.base_url,
        api_key=state.api_key,
        model=settings.model or state.model,
        replicas=tuple(r.base_url for r in replicas if r is not None),
    )


def _first_answering_model(urls: list[str], key: SecretStr) -> str:
    """The model of the first server that answers; the others are only warned about (the client
    skips a replica that is down and tries it again later). None answering is an error."""
    problems: list[EndpointUnreachable] = []
    for url in urls:
        try:
            model = first_model(url, key)
        except EndpointUnreachable as exc:
            problems.append(exc)
            continue
        for problem in problems:
            log.warning("%s; using the other replicas", problem.message)
        return model
    if len(urls) == 1:
        raise problems[0]
    raise EndpointUnreachable(
        "no model server answers: " + "; ".join(p.message for p in problems),
        url=urls[0],
        hint="start vLLM on those hosts (`scriptorium serve --host 0.0.0.0 --port N` or your own), "
        "or fix SCRIPTORIUM_BASE_URL / `endpoints` in scriptorium.toml",
    )


def first_model(base_url: str, key: SecretStr) -> str:
    """The first model an OpenAI-compatible endpoint lists; asking also checks that it answers."""
    try:
        response = httpx.get(
            f"{base_url}/models",
            headers={"Authorization": f"Bearer {key.get_secret_value()}"},
            timeout=5.0,
        )
    except httpx.HTTPError as exc:
        raise EndpointUnreachable(
            f"cannot connect to {base_url} ({type(exc).__name__})", url=base_url
        ) from exc
    if response.status_code in (401, 403):
        raise AuthenticationFailed(
            f"{base_url} refused the API key", url=base_url, status=response.status_code
        )
    if response.status_code != 200:
        raise RequestRejected(
            f"{base_url}/models answered {response.status_code}",
            url=base_url,
            status=response.status_code,
            hint="is SCRIPTORIUM_BASE_URL an OpenAI-compatible endpoint ending in /v1?",
        )
    try:
        models = [item["id"] for item in response.json().get("data", [])]
    except (ValueError, AttributeError, KeyError, TypeError) as exc:
        raise RequestRejected(
            f"{base_url}/models did not answer a model list ({exc})",
            url=base_url,
            hint="is it an OpenAI-compatible endpoint ending in /v1?",
        ) from exc
    if not models:
        raise RequestRejected(f"{base_url} serves no model", url=base_url, hint="set SCRIPTORIUM_MODEL")
    return str(models[0])
