"""Where target builds run. LocalExecutor: threads in this process, bounded by resource slots."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class LocalExecutor:
    """Runs a job when every resource it asks for has a free slot (e.g. one `gpu` at a time)."""

    def __init__(self, slots: dict[str, int]):
        self.slots = dict(slots)
        self.free = dict(slots)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, sum(slots.values())), thread_name_prefix="target")

    def fits(self, need: dict[str, int]) -> bool:
        with self._lock:
            return all(self.free.get(r, 0) >= min(n, self.slots.get(r, 0)) for r, n in need.items())

    def possible(self, need: dict[str, int]) -> bool:
        return all(self.slots.get(r, 0) > 0 for r, n in need.items() if n > 0)

    def submit(self, need: dict[str, int], fn: Callable[[], Any]) -> Future:
        with self._lock:
            taken = {r: min(n, self.slots.get(r, 0)) for r, n in need.items()}
            for r, n in taken.items():
                self.free[r] -= n

        def run() -> Any:
            try:
                return fn()
            finally:
                with self._lock:
                    for r, n in taken.items():
                        self.free[r] += n

        return self._pool.submit(run)

    def shutdown(self, wait: bool = True) -> None:
        """wait=False after an interrupt: running jobs (a model load, a C call) are abandoned."""
        self._pool.shutdown(wait=wait, cancel_futures=True)
