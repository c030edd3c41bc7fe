"""Process pools for per-image work (probing, face detection) inside a threaded build."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor


def process_pool(jobs: int) -> ProcessPoolExecutor:
    """A forkserver pool (workers never inherit the engine's threads or locks) whose workers
    leave on their own when the build process dies, even by SIGKILL."""
    from multiprocessing import get_context

    return ProcessPoolExecutor(min(jobs, os.cpu_count() or 1), mp_context=get_context("forkserver"),
                               initializer=exit_with_parent, initargs=(os.getpid(),))


def exit_with_parent(pid: int) -> None:
    """Pool worker initializer: a build killed with SIGKILL cannot shut its pool down, and
    forkserver workers would wait for work forever, so each one leaves when the build is gone."""
    import threading
    import time

    def watch() -> None:
        while True:
            time.sleep(1)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
