"""Render the engine's event stream: rich progress bars and a summary table, or JSON lines."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from typing import Any


class JsonLines:
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, ev: dict[str, Any]) -> None:
        with self._lock:
            self.stream.write(json.dumps(ev, default=str) + "\n")
            self.stream.flush()

    def close(self) -> None:
        pass


class RichProgress:
    """One bar per running target on a terminal; warnings and failures printed above the bars.

    Piped into a file or CI log, the output is plain lines instead: no bars, no wrapping at 80
    columns, a progress line when a target's phase changes or every 10 s, and a summary that is
    one line per target.
    """

    def __init__(self, summary: bool = True) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)
        self.live = self.console.is_terminal
        if not self.live:
            self.console = Console(stderr=True, highlight=False, soft_wrap=True, width=10_000)
        self.tasks: dict[str, Any] = {}
        self.phase: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.results: list[dict[str, Any]] = []
        self.summary = summary
        self.progress = None
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(
                TextColumn("[bold]{task.fields[target]}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[message]}"), TimeElapsedColumn(), console=self.console, transient=True,
            )
            self.progress.start()

    def __call__(self, ev: dict[str, Any]) -> None:
        with self._lock:
            kind = ev["event"]
            target = ev.get("target", "")
            if kind == "start":
                why = "; ".join(ev.get("reason", [])[:2])
                self.console.print(f"[cyan]building[/] {target} [dim]({why})[/]")
                if self.progress is not None:
                    self.tasks[target] = self.progress.add_task("", total=None, target=target, message="")
            elif kind == "progress":
                self._progress(target, ev)
            elif kind == "log":
                style = {"warning": "yellow", "error": "red"}.get(ev.get("level", "info"), "dim")
                prefix = f"{target}: " if target else ""
                self.console.print(f"[{style}]{escape(prefix + ev['message'])}[/]")
            elif kind == "target":
                if target in self.tasks and self.progress is not None:
                    self.progress.remove_task(self.tasks.pop(target))
                self.results.append(ev)
                if ev["status"] == "failed":
                    self.console.print(f"[red]failed[/] {target}: {escape(str(ev.get('error')))}")

    def _progress(self, target: str, ev: dict[str, Any]) -> None:
        message = ev.get("message", "")
        if self.progress is not None and target in self.tasks:
            self.progress.update(self.tasks[target], completed=ev["done"], total=ev.get("total"), message=message)
            return
        if self.progress is None:
            import re
            import time

            phase = re.sub(r"[\d.]+", "#", message)
            last = self.phase.get(target)
            now = time.monotonic()
            if last is None or last[0] != phase or now - last[1] >= 10:
                self.phase[target] = (phase, now)
                total = f"/{ev['total']}" if ev.get("total") is not None else ""
                self.console.print(f"[dim]{target}: {ev['done']}{total} {escape(message)}[/]")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        if not self.results or not self.summary:
            return
        colors = {"built": "green", "cached": "blue", "failed": "red", "skipped": "yellow", "stale": "yellow"}
        if not self.live:
            for ev in self.results:
                self.console.print(f"{ev['target']}  {ev['status']}  {ev['seconds']:.2f}s  "
                                   f"{human_size(ev.get('size', 0))}  {_facts(ev)}")
            return
        from rich.table import Table

        table = Table(title=None, show_edge=False)
        for col in ("target", "status", "time", "size", "facts"):
            table.add_column(col)
        for ev in self.results:
            st = ev["status"]
            table.add_row(ev["target"], f"[{colors.get(st, 'white')}]{st}[/]", f"{ev['seconds']:.2f}s",
                          human_size(ev.get("size", 0)), escape(_facts(ev)))
        self.console.print(table)


def _facts(ev: dict[str, Any]) -> str:
    from .textfmt import num

    note = (ev.get("run") or {}).get("note")
    facts = ", ".join(f"{k} {num(v)}" for k, v in sorted((ev.get("facts") or {}).items()))
    return f"{note} ({facts})" if note else facts


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def format_run(run: dict[str, Any]) -> str:
    """An action record's run facts on one line: `seconds 13.1 · device cpu · torch 2.13.0, …`."""
    parts = []
    for k in sorted(run):
        v = run[k]
        if v is None:
            continue
        if isinstance(v, dict):
            parts.append(", ".join(f"{a} {b}" for a, b in sorted(v.items())))
        elif isinstance(v, float):
            parts.append(f"{k.replace('_', ' ')} {v:.3g}")
        elif isinstance(v, list):
            parts.append(f"{k.replace('_', ' ')} {' '.join(map(str, v))}")
        else:
            parts.append(f"{k.replace('_', ' ')} {v}")
    return " · ".join(parts)


@contextlib.contextmanager
def transfer_progress(verb: str, quiet: bool = False):
    """A progress callback (phase, files, bytes) drawn as one bar with files, bytes and rate on
    a terminal, and nothing when quiet or piped (the command prints a summary)."""
    from rich.console import Console

    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        yield lambda phase, files, nbytes: None
        return
    from rich.progress import Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn

    with Progress(TextColumn(f"[bold]{verb}[/] {{task.fields[phase]}}"), TextColumn("{task.fields[files]} files"),
                  TextColumn("{task.fields[size]}"), TransferSpeedColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("", total=None, phase="", files=0, size="0 B")

        def update(phase: str, files: int, nbytes: int) -> None:
            progress.update(task, completed=nbytes, phase=phase, files=files, size=human_size(nbytes))

        yield update
