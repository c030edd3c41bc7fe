"""`imagineer push` / `pull`: move what the lock names (and the item results it was built from)
between the local store and the remote, in batches, with progress."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .graph import closure
from .lockfile import read_lock
from .outview import Linker, materialize
from .project import Project
from .store import ActionRecord, StoreError
from .store.memo import decode_entry
from .store.tiered import push_records

Progress = Callable[[str, int, int], None]  # (phase, files done, bytes done)


@dataclass
class SyncStats:
    targets: list[str] = field(default_factory=list)
    blobs: int = 0
    bytes: int = 0
    present: int = 0  # already where they were going
    memo: int = 0
    records: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def locked_targets(project: Project, names: list[str]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The named targets and everything upstream of them (default: all), as the lock has them."""
    lock = read_lock(project.lock_path)
    order = closure(project.graph, names or list(project.targets))
    return [n for n in order if n in lock], lock


def push(project: Project, store, names: list[str], progress: Progress | None = None) -> SyncStats:
    t0 = time.perf_counter()
    order, lock = locked_targets(project, names)
    stats = SyncStats(targets=order)
    records: list[ActionRecord] = []
    for name in order:
        rec = store.actions.get(lock[name]["key"])
        if rec is None or not store.cas.has(rec.artifact):
            stats.problems.append(f"{name}: not built in this store (key {lock[name]['key'][:12]}): "
                                  f"imagineer build {name}")
            continue
        records.append(rec)
    if records:
        res = push_records(store, records, (lambda n, b: progress("blobs", n, b)) if progress else None)
        stats.blobs, stats.bytes, stats.present = res["blobs"], res["bytes"], res["present"]
        stats.memo, stats.records = res["memo"], res["records"]
    stats.seconds = time.perf_counter() - t0
    return stats


def pull(project: Project, store, names: list[str], progress: Progress | None = None,
         out_views: bool = True) -> SyncStats:
    """Fetch each locked target's record, artifact files and memo entries; write its out view."""
    t0 = time.perf_counter()
    order, lock = locked_targets(project, names)
    stats = SyncStats(targets=order)
    before = store.fetched
    want: set[str] = set()
    records: dict[str, ActionRecord] = {}
    for name in order:
        rec = store.get_action(lock[name]["key"])
        if rec is None:
            stats.problems.append(f"{name}: the remote has no result for key {lock[name]['key'][:12]} "
                                  f"(push it from where it was built, or build it here)")
            continue
        records[name] = rec
        want |= store.record_blobs(rec)
    store.fetch(want, (lambda n, b: progress("blobs", n, b)) if progress else None)
    for name, rec in records.items():
        stats.memo += _pull_memo(store, rec)
        try:
            view = store.load_artifact(rec.artifact)
        except (OSError, StoreError) as e:
            stats.problems.append(f"{name}: {e}")
            continue
        if out_views:
            materialize(view, project.out_root / name, Linker())
    stats.blobs = store.fetched - before
    stats.records = len(records)
    stats.seconds = time.perf_counter() - t0
    return stats


def _pull_memo(store, rec: ActionRecord) -> int:
    """The memo entries a record's build used, with their blobs, into the local memo."""
    if not rec.memo or not store.has_blob(rec.memo):
        return 0
    used = json.loads(store.cas.path(rec.memo).read_bytes())
    n = 0
    for ns, keys in sorted(used.items()):
        local = store.memo.get_many(ns, keys)
        missing = [k for k in keys if k not in local]
        got = {}
        for k, data in store.remote.get_memo(ns, missing).items():
            try:
                got[k] = decode_entry(data)
            except ValueError:
                continue
        store.fetch({b for _, b in got.values() if b})
        if got:
            store.memo.put_many(ns, got)
        n += len(got)
    return n
