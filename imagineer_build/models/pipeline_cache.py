"""One pipeline per base model per process, shared by every training and generation target.

Targets borrow it exclusively (`with lease(...) as pipe`), because training adds adapters to
the UNet and generation loads LoRA stacks; each borrower leaves the pipeline as it found it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..core.hashing import digest_json
from . import ModelSpec, model_identity
from .loading import load_pipeline, pick_device, pick_dtype

_lock = threading.Lock()
_pipes: dict[str, Any] = {}
_leases: dict[str, threading.Lock] = {}
loads = 0  # how many times a pipeline was actually loaded in this process (tests, benchmarks)


def _cache_key(spec: ModelSpec, project_root: Path) -> str:
    return digest_json([spec.model_dump(), model_identity(spec, project_root), str(project_root)])


@contextlib.contextmanager
def lease(spec: ModelSpec, project_root: Path, models_dir: Path) -> Iterator[Any]:
    """The warm pipeline for a model, on its device, held exclusively for the with-block."""
    global loads
    key = _cache_key(spec, project_root)
    with _lock:
        held = _leases.setdefault(key, threading.Lock())
    with held:
        pipe = _pipes.get(key)
        if pipe is None:
            device = pick_device(spec)
            pipe = load_pipeline(spec, project_root, models_dir, dtype=pick_dtype(spec, device))
            pipe.to(device)
            pipe.set_progress_bar_config(disable=True)
            _pipes[key] = pipe
            loads += 1
        yield pipe


def clear() -> None:
    with _lock:
        _pipes.clear()
