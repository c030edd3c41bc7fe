"""Where builds run. An executor takes a Job and answers with an Outcome:

- local.py    threads of this process (the default)
- workers.py  warm worker processes that outlive a build and keep models loaded
- ray.py      a Ray cluster: tasks, and actors per model identity for model-heavy kinds

The scheduler keeps the slot accounting; an executor only says how many slots it has.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Protocol

from ..job import Job, Outcome


class Executor(Protocol):
    def capacity(self) -> dict[str, int]:
        """Slots per resource (cpu, gpu, net, …) this executor can run at once."""

    def submit(self, job: Job, resources: dict[str, int], emit: Any) -> Future[Outcome]:
        """Run the job; `emit` receives its events (progress, logs) as they happen."""

    def shutdown(self, wait: bool = True) -> None:
        """wait=False after an interrupt: running jobs are abandoned, not awaited."""
