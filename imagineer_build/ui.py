"""Render the engine's event stream: rich progress bars and a summary table, or JSON lines."""

from __future__ import annotations

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
    """One bar per running target; warnings and failures are printed above the bars."""

    def __init__(self, summary: bool = True) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.fields[target]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[message]}"), TimeElapsedColumn(), console=self.console, transient=True,
        )
        self.tasks: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.results: list[dict[str, Any]] = []
        self.summary = summary
        self.progress.start()

    def __call__(self, ev: dict[str, Any]) -> None:
        with self._lock:
            kind = ev["event"]
            target = ev.get("target", "")
            if kind == "start":
                why = "; ".join(ev.get("reason", [])[:2])
                self.console.print(f"[cyan]building[/] {target} [dim]({why})[/]")
                self.tasks[target] = self.progress.add_task("", total=None, target=target, message="")
            elif kind == "progress" and target in self.tasks:
                self.progress.update(self.tasks[target], completed=ev["done"], total=ev.get("total"),
                                     message=ev.get("message", ""))
            elif kind == "log":
                style = {"warning": "yellow", "error": "red"}.get(ev.get("level", "info"), "dim")
                prefix = f"{target}: " if target else ""
                self.console.print(f"[{style}]{prefix}{ev['message']}[/]", highlight=False)
            elif kind == "target":
                if target in self.tasks:
                    self.progress.remove_task(self.tasks.pop(target))
                self.results.append(ev)
                if ev["status"] == "failed":
                    self.console.print(f"[red]failed[/] {target}: {ev.get('error')}", highlight=False)

    def close(self) -> None:
        self.progress.stop()
        if not self.results or not self.summary:
            return
        from rich.table import Table

        table = Table(title=None, show_edge=False)
        for col in ("target", "status", "time", "size", "facts"):
            table.add_column(col)
        colors = {"built": "green", "cached": "blue", "failed": "red", "skipped": "yellow", "stale": "yellow"}
        for ev in self.results:
            facts = ", ".join(f"{k} {v}" for k, v in sorted((ev.get("facts") or {}).items()))
            st = ev["status"]
            table.add_row(ev["target"], f"[{colors.get(st, 'white')}]{st}[/]", f"{ev['seconds']:.2f}s",
                          human_size(ev.get("size", 0)), facts)
        self.console.print(table)


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
