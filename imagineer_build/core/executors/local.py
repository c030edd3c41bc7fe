"""The local executor: a job runs in the scheduler's own thread, against this process's store."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

from ..job import Job, Outcome, run_job


class LocalExecutor:
    def __init__(self, slots: dict[str, int], store, cancelled: threading.Event):
        self.slots = dict(slots)
        self.store = store
        self.cancelled = cancelled

    def capacity(self) -> dict[str, int]:
        return dict(self.slots)

    def submit(self, job: Job, resources: dict[str, int], emit: Any) -> Future[Outcome]:
        """Runs at once in the calling (scheduler) thread, which holds the job's slots."""
        fut: Future[Outcome] = Future()
        try:
            fut.set_result(run_job(job, self.store, emit, self.cancelled))
        except BaseException as e:  # noqa: BLE001 — handed to the caller through the future
            fut.set_exception(e)
        return fut

    def shutdown(self, wait: bool = True) -> None:
        pass
