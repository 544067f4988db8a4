"""`scriptorium tui`: a run's steps as a tree, the selected step's conversation, counters and the
final paper; follows a live trace, replays a finished one, and lists the tasks of a batch."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Markdown, RichLog, Static, Tree
from textual.widgets.tree import TreeNode

from ..workflows.run_folder import RunFolderError, RunSummary, read_run_summary
from .sources import EventSource, FollowSource, LiveSource, ReplaySource
from .state import Entry, RunState, StepNode

__all__ = ["BatchView", "RunView", "ScriptoriumTUI", "open_source"]

Mode = Literal["auto", "follow", "replay"]
_ICONS = {
    "running": "[yellow]●[/]",
    "succeeded": "[green]✓[/]",
    "failed": "[red]✗[/]",
    "cached": "[blue]↺[/]",
}
_KIND_STYLE = {
    "prompt": "bold cyan",
    "reply": "bold green",
    "stream": "bold green",
    "tool": "bold magenta",
    "result": "magenta",
    "error": "bold red",
    "memory": "bold blue",
    "note": "bold",
}
_BODY_CHARS = 1500
_SHOWN_ENTRIES = 400
_NARROW = 110


def open_source(run_dir: Path, mode: Mode, speed: float) -> EventSource:
    """Replay a finished run (it has summary.json), follow one still going, or as asked."""
    trace = run_dir / "trace.jsonl"
    finished = (run_dir / "summary.json").is_file()
    if mode == "replay" or (mode == "auto" and finished):
        return ReplaySource(trace, speed)
    return FollowSource(trace)


class RunView(Screen[None]):
    """One run."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor(1)", "down", show=False),
        Binding("k", "cursor(-1)", "up", show=False),
        Binding("slash", "filter", "filter"),
        Binding("f", "follow", "follow newest"),
        Binding("o", "output", "output"),
        Binding("p", "pause", "play/pause"),
        Binding("plus,equals_sign", "faster", "faster", key_display="+"),
        Binding("minus", "slower", "slower", key_display="-"),
        Binding("e", "end", "to end"),
        Binding("escape", "back", "back"),
        Binding("q", "app.quit", "quit"),
    ]

    DEFAULT_CSS = """
    RunView #main { height: 1fr; }
    RunView #steps { width: 34%; min-width: 24; border-right: solid $panel; }
    RunView #conversation { width: 1fr; padding: 0 1; }
    RunView #side { width: 34; border-left: solid $panel; }
    RunView #counters { height: auto; padding: 0 1; }
    RunView #output-box { height: 1fr; }
    RunView #filter { dock: bottom; display: none; }
    RunView.narrow #side {
        dock: bottom; width: 100%; height: 7; border-left: none; border-top: solid $panel;
    }
    RunView.narrow #output-box { display: none; }
    RunView.show-output #conversation { display: none; }
    RunView.show-output #output-box { display: block; width: 1fr; height: 1fr; }
    RunView.show-output #centre-output { display: block; }
    RunView #centre-output { display: none; width: 1fr; padding: 0 1; }
    """

    def __init__(self, run_dir: Path, source: EventSource, title: str | None = None) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.source = source
        self.state = RunState()
        self.selected: str | None = None
        self.needle = ""
        self.following = isinstance(source, LiveSource | FollowSource)
        self._tree_nodes: dict[str, TreeNode[str | None]] = {}
        self._output_shown = False
        self._title = title or run_dir.name

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            tree: Tree[str | None] = Tree("run", data=None, id="steps")
            tree.show_root = True
            tree.root.expand()
            yield tree
            yield RichLog(id="conversation", wrap=True, markup=False, highlight=False, auto_scroll=False)
            with VerticalScroll(id="centre-output"):
                yield Markdown(id="centre-paper")
            with Vertical(id="side"):
                yield Static(id="counters")
                with VerticalScroll(id="output-box"):
                    yield Markdown("*the paper appears here when the run ends*", id="paper")
        yield Input(placeholder="filter by agent or text; enter applies, escape clears", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "scriptorium"
        self.sub_title = self._title
        self._narrow(self.app.size.width)
        self.query_one("#steps", Tree).focus()
        self.pump()
        self.set_interval(0.1, self.pump)

    def on_resize(self, event: Resize) -> None:
        self._narrow(event.size.width)

    def _narrow(self, width: int) -> None:
        self.set_class(width < _NARROW, "narrow")

    # -- feeding ---------------------------------------------------------------------------------

    def pump(self) -> None:
        """Apply what the source has for us and redraw what changed."""
        items = self.source.read()
        for item in items:
            self.state.apply(item)
        if items or isinstance(self.source, ReplaySource):
            self.redraw(changed=bool(items))

    def redraw(self, changed: bool = True) -> None:
        if changed:
            self._sync_tree()
            if self.following:
                newest = next(
                    (p for p in reversed(self.state.steps) if self.state.steps[p].status == "running"), None
                )
                if newest is not None and newest in self._tree_nodes:
                    self.query_one("#steps", Tree).move_cursor(self._tree_nodes[newest])
                    self.selected = newest
            self._render_conversation()
            self._show_output_when_done()
        self._render_counters()

    def _sync_tree(self) -> None:
        tree = self.query_one("#steps", Tree)
        for path, node in self.state.steps.items():
            label = self._label(node)
            if path not in self._tree_nodes:
                parent = self._tree_nodes.get(node.parent or "", tree.root)
                self._tree_nodes[path] = parent.add(
                    label, data=path, expand=True, allow_expand=bool(node.children)
                )
            else:
                self._tree_nodes[path].set_label(label)
                self._tree_nodes[path].allow_expand = bool(node.children)

    def _label(self, node: StepNode) -> Text:
        name = node.path.removeprefix(f"{node.parent}.") if node.parent else node.path
        parts = [f"{_ICONS[node.status]} {name}"]
        if node.agent:
            parts.append(f"[dim]{node.agent}[/]")
        if node.duration_s is not None:
            parts.append(f"[dim]{node.duration_s:.1f}s[/]")
        if node.completion_tokens:
            parts.append(f"[dim]{node.prompt_tokens + node.completion_tokens}t[/]")
        return Text.from_markup(" ".join(parts))

    def _render_conversation(self) -> None:
        log = self.query_one("#conversation", RichLog)
        rows = self.state.conversation(self.selected, self.needle)
        log.clear()
        scope = self.selected or "the whole run"
        header = f"{scope}: {len(rows)} events" + (f" matching '{self.needle}'" if self.needle else "")
        log.write(Text(header, style="dim"))
        if len(rows) > _SHOWN_ENTRIES:
            log.write(Text(f"… {len(rows) - _SHOWN_ENTRIES} earlier events not shown", style="dim"))
        for entry in rows[-_SHOWN_ENTRIES:]:
            log.write(_entry_text(entry))
        if self.following:
            log.scroll_end(animate=False)

    def _render_counters(self) -> None:
        s = self.state
        lines = [
            f"[b]{s.workflow or 'waiting for events'}[/]  {s.status}",
            f"{self.source.label}  {s.elapsed_s:.0f}s",
            f"in flight {len(s.in_flight)}   requests {s.requests}",
            f"tokens/s {s.tokens_per_s():.0f}   tokens {s.total_tokens}",
            f"errors {s.errors}" + (f" ({s.corrupt_lines} corrupt lines)" if s.corrupt_lines else ""),
        ]
        lines += [f"  {agent}: {n}" for agent, n in sorted(s.tokens_by_agent.items())]
        self.query_one("#counters", Static).update("\n".join(lines))

    def _show_output_when_done(self) -> None:
        if self._output_shown or self.state.status not in ("succeeded", "failed", "cancelled"):
            return
        self._output_shown = True
        paper = self.run_dir / "outputs" / "paper.md"
        if paper.is_file():
            text = paper.read_text(encoding="utf-8", errors="replace")
        else:
            text = "*no paper: the run ended with status " + self.state.status + "*"
            summary = _summary(self.run_dir)
            if summary is not None:
                text += "\n\n```json\n" + json.dumps(summary.outputs, indent=2)[:4000] + "\n```"
        self.query_one("#paper", Markdown).update(text)
        self.query_one("#centre-paper", Markdown).update(text)

    # -- keys ------------------------------------------------------------------------------------

    @on(Tree.NodeHighlighted, "#steps")
    def _highlighted(self, event: Tree.NodeHighlighted[str | None]) -> None:
        if event.node.data != self.selected:
            self.selected = event.node.data
            self._render_conversation()

    @on(Tree.NodeSelected, "#steps")
    def _opened(self, event: Tree.NodeSelected[str | None]) -> None:
        self.following = False
        self.selected = event.node.data
        self._render_conversation()

    def action_cursor(self, delta: int) -> None:
        tree = self.query_one("#steps", Tree)
        self.following = False
        tree.action_cursor_down() if delta > 0 else tree.action_cursor_up()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.needle
        box.focus()

    @on(Input.Submitted, "#filter")
    def _filter(self, event: Input.Submitted) -> None:
        self.needle = event.value.strip()
        event.input.display = False
        self.query_one("#steps", Tree).focus()
        self._render_conversation()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display or self.needle:
            box.display, box.value, self.needle = False, "", ""
            self.query_one("#steps", Tree).focus()
            self._render_conversation()
        elif len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    def action_follow(self) -> None:
        self.following = not self.following
        self.notify("following the newest event" if self.following else "stopped following")
        self.redraw()

    def action_output(self) -> None:
        self.toggle_class("show-output")

    def action_pause(self) -> None:
        if isinstance(self.source, ReplaySource):
            self.source.toggle()

    def action_faster(self) -> None:
        if isinstance(self.source, ReplaySource):
            self.source.faster()

    def action_slower(self) -> None:
        if isinstance(self.source, ReplaySource):
            self.source.slower()

    def action_end(self) -> None:
        if isinstance(self.source, ReplaySource):
            for item in self.source.to_end():
                self.state.apply(item)
            self.redraw()


def _entry_text(entry: Entry) -> Text:
    text = Text()
    who = f"{entry.agent} · " if entry.agent else ""
    where = f"{entry.step}: " if entry.step else ""
    text.append(f"{where}{who}{entry.title}", style=_KIND_STYLE[entry.kind])
    if entry.body:
        body = entry.body if len(entry.body) <= _BODY_CHARS else entry.body[:_BODY_CHARS] + " …"
        text.append("\n" + body.rstrip(), style="dim" if entry.kind in ("prompt", "memory") else "")
    return text


class BatchView(Screen[None]):
    """The tasks of a batch folder; enter opens one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor(1)", "down", show=False),
        Binding("k", "cursor(-1)", "up", show=False),
        Binding("q", "app.quit", "quit"),
    ]

    def __init__(self, batch_dir: Path, mode: Mode, speed: float) -> None:
        super().__init__()
        self.batch_dir, self.mode, self.speed = batch_dir, mode, speed

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="tasks", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title, self.sub_title = "scriptorium", f"batch {self.batch_dir.name}"
        table = self.query_one("#tasks", DataTable)
        table.add_columns("task", "status", "time", "tokens", "inputs")
        for task_id, inputs in _batch_tasks(self.batch_dir):
            summary = _summary(self.batch_dir / "tasks" / task_id)
            started = (self.batch_dir / "tasks" / task_id / "trace.jsonl").is_file()
            status = summary.status if summary else ("running" if started else "pending")
            tokens = summary.prompt_tokens + summary.completion_tokens if summary else 0
            time_s = f"{summary.duration_s:.0f}s" if summary else ""
            table.add_row(task_id, status, time_s, str(tokens or ""), json.dumps(inputs)[:60], key=task_id)
        table.focus()

    def action_cursor(self, delta: int) -> None:
        table = self.query_one("#tasks", DataTable)
        table.action_cursor_down() if delta > 0 else table.action_cursor_up()

    @on(DataTable.RowSelected, "#tasks")
    def _open(self, event: DataTable.RowSelected) -> None:
        task_id = str(event.row_key.value)
        run_dir = self.batch_dir / "tasks" / task_id
        if not (run_dir / "trace.jsonl").is_file():
            self.notify(f"task {task_id} has not started", severity="warning")
            return
        self.app.push_screen(
            RunView(run_dir, open_source(run_dir, self.mode, self.speed), title=f"task {task_id}")
        )


def _batch_tasks(batch_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    manifest = _read_json(batch_dir / "manifest.json")
    return [(str(t["id"]), dict(t.get("inputs", {}))) for t in manifest.get("tasks", [])]


def _summary(run_dir: Path) -> RunSummary | None:
    """The run's summary; None while it has none, or when it cannot be read (shown as no summary:
    the trace is still worth watching)."""
    try:
        return read_run_summary(run_dir)
    except RunFolderError:
        return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class ScriptoriumTUI(App[None]):
    """The terminal UI for a run folder, a batch folder, or a run this process executes."""

    TITLE = "scriptorium"

    def __init__(
        self,
        target: Path,
        *,
        mode: Mode = "auto",
        speed: float = 10.0,
        live: LiveSource | None = None,
        work: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        super().__init__()
        self.target, self.mode, self.speed = target, mode, speed
        self.live, self.work = live, work
        self.result: Any = None

    def on_mount(self) -> None:
        if (self.target / "manifest.json").is_file():
            self.push_screen(BatchView(self.target, self.mode, self.speed))
            return
        source: EventSource = self.live or open_source(self.target, self.mode, self.speed)
        self.push_screen(RunView(self.target, source))
        if self.work is not None:
            self.run_worker(self._work(), exclusive=True)

    async def _work(self) -> None:
        assert self.work is not None
        self.result = await self.work()
