"""Filesystem questions a key depends on that are not file inputs.

A kind's `files`, `settings_files` and `key_extras` must be functions of the config and the
settings, except for one kind of question: does this path exist? (A model named `models/sd15`
is a local folder when it exists, a Hugging Face id when it does not.) Kinds ask it through
`path_exists`, which the project snapshot (core/snapshot.py) records and asks again before it
trusts a saved key: a snapshot may only answer "fresh" when every answer is unchanged.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar

_log: ContextVar[list[tuple[str, bool]] | None] = ContextVar("imagineer_probes", default=None)


def path_exists(path: str | os.PathLike) -> bool:
    """os.path.exists, recorded while a snapshot is being made. A name the OS refuses (too long,
    a NUL) does not exist."""
    try:
        found = os.path.exists(path)
    except ValueError:
        found = False
    log = _log.get()
    if log is not None:
        log.append((os.fspath(path), found))
    return found


@contextlib.contextmanager
def recording() -> Iterator[list[tuple[str, bool]]]:
    """Collect every path_exists answer given inside the block."""
    log: list[tuple[str, bool]] = []
    token = _log.set(log)
    try:
        yield log
    finally:
        _log.reset(token)


def unchanged(log: list[tuple[str, bool]]) -> bool:
    """Whether every recorded question still has the recorded answer."""
    return all(path_exists(p) == found for p, found in log)
