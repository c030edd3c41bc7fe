"""Walk the graph and run ready nodes within resource slots.

A node is ready when every upstream finished; it starts when each resource it asks for has a
free slot (e.g. one `gpu` at a time). A failure skips what depends on it and, without
keep_going, lets running nodes finish and starts nothing new. Knows nothing about keys,
caches or kinds: `run_node(name, upstream artifacts) → Result` does the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any


class Slots:
    """Free slots per resource; a need larger than a resource's capacity takes all of it."""

    def __init__(self, capacity: dict[str, int]):
        self.capacity = dict(capacity)
        self.free = dict(capacity)
        self._lock = threading.Lock()

    def possible(self, need: dict[str, int]) -> bool:
        return all(self.capacity.get(r, 0) > 0 for r, n in need.items() if n > 0)

    def take(self, need: dict[str, int]) -> dict[str, int] | None:
        with self._lock:
            want = {r: min(n, self.capacity.get(r, 0)) for r, n in need.items()}
            if any(self.free.get(r, 0) < n for r, n in want.items()):
                return None
            for r, n in want.items():
                self.free[r] -= n
            return want

    def give(self, taken: dict[str, int]) -> None:
        with self._lock:
            for r, n in taken.items():
                self.free[r] += n


class Scheduler:
    def __init__(self, order: list[str], upstream: dict[str, list[str]], needs: dict[str, dict[str, int]],
                 capacity: dict[str, int], run_node: Callable[[str, dict[str, str | None]], Any],
                 emit: Callable[[Any], None], keep_going: bool = False, make_result=None):
        self.order = order
        self.upstream = upstream
        self.needs = needs
        self.slots = Slots(capacity)
        self.run_node = run_node
        self.emit = emit  # called with each finished Result
        self.keep_going = keep_going
        self.make_result = make_result  # (name, status, reason=[…] | error=…) → Result
        self.pool = ThreadPoolExecutor(max_workers=max(1, sum(capacity.values())), thread_name_prefix="target")

    def run(self, cancelled: threading.Event) -> dict[str, Any]:
        results: dict[str, Any] = {}
        pending = list(self.order)
        running: dict[Future, tuple[str, dict[str, int]]] = {}
        stop = False
        try:
            while pending or running:
                for name in list(pending):
                    ups = self.upstream[name]
                    bad = [u for u in ups if u in results and results[u].status in ("failed", "skipped")]
                    if bad:
                        self._finish(results, name, self.make_result(name, "skipped",
                                                                      reason=[f"upstream {', '.join(bad)} failed"]))
                        pending.remove(name)
                        continue
                    if stop or cancelled.is_set() or not all(u in results for u in ups):
                        continue
                    need = self.needs[name]
                    if not self.slots.possible(need):
                        self._finish(results, name, self.make_result(
                            name, "failed", error=f"needs resources {need}; the executor has {self.slots.capacity}"))
                        pending.remove(name)
                        continue
                    taken = self.slots.take(need)
                    if taken is None:
                        continue
                    pending.remove(name)
                    digests = {u: results[u].artifact for u in ups}
                    running[self.pool.submit(self.run_node, name, digests)] = (name, taken)
                if not running:
                    if pending and (stop or cancelled.is_set()):
                        why = "build interrupted" if cancelled.is_set() else "build stopped after a failure"
                        for name in pending:
                            self._finish(results, name, self.make_result(name, "skipped", reason=[why]))
                        pending.clear()
                    if not pending:
                        break
                    continue
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    name, taken = running.pop(fut)
                    self.slots.give(taken)
                    res = fut.result()
                    self._finish(results, name, res)
                    if res.status == "failed" and not self.keep_going:
                        stop = True
        except KeyboardInterrupt:
            cancelled.set()
            raise
        finally:
            self.pool.shutdown(wait=not cancelled.is_set(), cancel_futures=True)
        return {n: results[n] for n in self.order if n in results}

    def _finish(self, results: dict[str, Any], name: str, res: Any) -> None:
        results[name] = res
        self.emit(res)
