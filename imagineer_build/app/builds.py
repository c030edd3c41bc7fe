"""Builds started from the page: one at a time, in a thread of the server, through the engine.

The engine takes the store's build lock, so a page build and a CLI build run one after the
other (the page shows "waiting for the build lock held by …"). Its event stream (start,
progress, log, target, summary) is numbered and kept, so any number of pages can follow it
over server-sent events and a page that reconnects resumes where it stopped.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

KEEP = 5000  # events kept for late readers; progress events are many, the rest are few


class Busy(Exception):
    pass


class BuildRunner:
    def __init__(self, root: Path):
        self.root = root
        self.events: list[dict[str, Any]] = []
        self.next_id = 1
        self.cond = threading.Condition()
        self.running: dict[str, Any] | None = None  # {"targets", "run"} while a build runs
        self._engine = None

    def start(self, targets: list[str]) -> int:
        """Start a build of the targets (all when empty); the id of its first event."""
        from ..api import open_project
        from ..core.engine import Engine

        with self.cond:
            if self.running is not None:
                raise Busy(f"a build of {', '.join(self.running['targets']) or 'every target'} is running; "
                           "wait for it or stop it")
            proj = open_project(self.root)  # the specs as they are now (SpecErrors propagate)
            unknown = [t for t in targets if t not in proj.targets]
            if unknown:
                raise ValueError(f"unknown target(s): {', '.join(unknown)}")
            self._engine = Engine(proj, self._emit)
            self.run_id = self.next_id
            self.running = {"targets": targets, "run": self.run_id}
        self._emit({"event": "build", "targets": targets, "run": self.run_id})
        threading.Thread(target=self._run, args=(self._engine, targets), daemon=True,
                         name="imagineer-serve-build").start()
        return self.run_id

    def stop(self) -> bool:
        with self.cond:
            if self._engine is None or self.running is None:
                return False
            self._engine.cancelled.set()
        self._emit({"event": "log", "level": "warning", "message": "stopping: the running targets are cancelled"})
        return True

    def _run(self, engine, targets: list[str]) -> None:
        from ..core.engine import BuildError, BuildOptions
        from ..core.store import StoreError

        status, error = "done", None
        start = time.perf_counter()
        try:
            results = engine.build(BuildOptions(targets))
            if any(r.status in ("failed", "skipped") for r in results.values()):
                status = "failed"
        except (BuildError, StoreError, OSError) as e:
            status, error = "failed", str(e)
        except Exception as e:  # a bug: the page says so, the server keeps serving
            status, error = "failed", f"internal error: {type(e).__name__}: {e}"
        with self.cond:
            self.running = None
            self._engine = None
        ev: dict[str, Any] = {"event": "done", "status": status, "seconds": round(time.perf_counter() - start, 2)}
        if error:
            ev["error"] = error
        self._emit(ev)

    def _emit(self, ev: dict[str, Any]) -> None:
        with self.cond:
            ev = {**ev, "id": self.next_id}
            self.next_id += 1
            self.events.append(ev)
            if len(self.events) > KEEP:
                del self.events[: len(self.events) - KEEP]
            self.cond.notify_all()

    def since(self, after: int) -> list[dict[str, Any]]:
        with self.cond:
            return [e for e in self.events if e["id"] > after]

    def state(self) -> dict[str, Any]:
        with self.cond:
            return {"running": self.running, "last": self.next_id - 1}
