"""One node: compute its key, look in the caches, and otherwise build it on the executor and
commit the result. The scheduler calls `Rebuilder.node` once per target of a build."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .artifact import ArtifactView
from .job import Job, MissingExtra, Outcome, listing_data
from .outview import Linker, current_digest, materialize
from .plan import KeyInfo, Planner
from .previous import PreviousBuild, previous_build
from .project import Project, Target
from .result import Result
from .store import ActionRecord, BlobDamaged, StoreError, is_digest

Emit = Callable[[dict[str, Any]], None]


class BuildError(Exception):
    pass


@dataclass
class BuildOptions:
    targets: list[str] = field(default_factory=list)
    jobs: int | None = None
    keep_going: bool = False
    dry_run: bool = False
    refresh: set[str] = field(default_factory=set)
    frozen: bool = False
    wait_for_lock: bool = True
    remote_only: bool = False  # build nothing: every target must be a local or remote cache hit
    no_workers: bool = False  # model-heavy targets in this process, not in warm workers


class Rebuilder:
    def __init__(self, project: Project, store, planner: Planner, executor, out_root: Path, emit: Emit,
                 opts: BuildOptions, lock: dict[str, Any]):
        self.project, self.store, self.planner, self.executor = project, store, planner, executor
        self.out_root, self.emit, self.opts, self.lock = out_root, emit, opts, lock
        self.linker = Linker()
        self.checked: set[str] = set()  # artifacts whose blobs this build already verified
        self.healed: set[str] = set()  # damaged blobs dropped (and rebuilt) during this build
        self.minimal = getattr(store, "download", "all") == "minimal"

    def node(self, t: Target, upstream: dict[str, str]) -> Result:
        """The target's Result; a kind's failure is the target's, never the build's."""
        start = time.perf_counter()
        try:
            return self._node(t, upstream, start)
        except Exception as e:
            msg = disk_problem(e, self.store.root, self.out_root) or (
                str(e) if isinstance(e, (BuildError, MissingExtra)) else f"{type(e).__name__}: {e}")
            if os.environ.get("IMAGINEER_TRACEBACK"):
                msg += "\n" + traceback.format_exc()
            return Result(t.name, "failed", seconds=time.perf_counter() - start, error=msg)

    def _node(self, t: Target, upstream: dict[str, str], start: float) -> Result:
        info = self.planner.key(t, upstream)
        refresh = t.name in self.opts.refresh
        rec = self.store.get_action(info.key)
        if rec is not None and not refresh:
            cached = self._cached(t, info, rec, start)
            if cached is not None:
                return cached
            rec = None
        last = self.store.last_action(t.name)
        reason = ["--refresh"] if refresh and rec else self.planner.why_stale(last, info)
        if self.opts.dry_run:
            if all(upstream.values()):
                self._preview(t, upstream, info)
            return Result(t.name, "stale", key=info.key, reason=reason)
        if self.opts.remote_only:
            where = f"on {self.store.remote.url}" if getattr(self.store, "remote", None) else "(no remote configured)"
            raise BuildError(f"--remote-only: {t.name} (key {info.key[:12]}) is neither in the local store nor "
                             f"{where}; {'; '.join(reason[:2])}")
        self.emit({"event": "start", "target": t.name, "kind": t.kind_name, "reason": reason})
        outcome = self._run(t, upstream, info, refresh, preview=False,
                            previous=None if refresh else previous_build(last, info.inputs))
        return self._commit(t, info, outcome, reason, start)

    def _cached(self, t: Target, info: KeyInfo, rec: ActionRecord, start: float) -> Result | None:
        remote_hit = info.key in getattr(self.store, "remote_hits", ())
        try:
            if remote_hit and self.minimal:  # build without the bytes: the manifest, nothing more
                view = self.store.load_artifact(rec.artifact, verify=False)
            else:
                view = self._load_checked(rec.artifact)
            if not self.opts.dry_run:
                if remote_hit and self.minimal:
                    self.emit({"event": "log", "target": t.name, "level": "info",
                               "message": "on the remote; out view not downloaded (--download minimal)"})
                else:
                    # an out view may still hold a healed blob's damaged inode: patch it
                    stale_view = bool(self.healed) and not self.healed.isdisjoint(view.files.values())
                    materialize(view, self.out_root / t.name, self.linker, force=stale_view)
                self._frozen_artifact(t, view.digest, rec.run)
        except BlobDamaged as e:
            self.emit({"event": "log", "target": t.name, "level": "warning",
                       "message": f"damaged cache: {e}; rebuilding {t.name} to heal it"})
            self.store.cas.drop(e.digest)
            self.healed.add(e.digest)
            self.store.actions.forget(info.key)
            return None
        reason = [f"from {self.store.remote.url}"] if remote_hit else []
        return Result(t.name, "cached", time.perf_counter() - start, info.key, rec.artifact, view.size, rec.facts,
                      run=rec.run, reason=reason)

    def _run(self, t: Target, upstream: dict[str, str], info: KeyInfo, refresh: bool, preview: bool,
             previous: PreviousBuild | None = None) -> Outcome:
        for d in upstream.values():
            self._load_checked(d)
        job = Job(
            target=t.name, section=t.section,
            config=t.config.model_dump(mode="json", by_alias=True, exclude_unset=True),  # kinds tell given from default
            settings=self.planner.settings, project_root=str(self.project.root), store=store_address(self.store),
            upstream=dict(upstream), inputs=listing_data(info.listings), key=info.key, refresh=refresh,
            preview=preview, worker="models" if "gpu" in (t.kind.resources_for(t.config) or {}) else "any",
            previous=previous,
        )
        need = t.kind.resources_for(t.config) or {"cpu": 1}
        emit = (lambda ev: None) if preview else self.emit
        shards = getattr(self.executor, "shards_for", lambda need: 1)(need)
        if shards > 1 and not preview and t.kind.shardable(t.config):
            parts = [self.executor.submit(dataclasses.replace(job, shard=(i, shards)), need, emit)
                     for i in range(shards)]
            for part in parts:  # each fills the memo with its share; the build below assembles
                part.result()
        return self.executor.submit(job, need, emit).result()

    def _commit(self, t: Target, info: KeyInfo, outcome: Outcome, reason: list[str], start: float) -> Result:
        changed = self.planner.changed_since(t, info.listings, outcome.only_read)
        if changed:
            raise BuildError(f"{', '.join(changed)} changed while {t.name} was building; not recorded (build again)")
        digest = str(outcome.artifact)
        run = dict(outcome.run)  # with "nondeterministic" when the kind says so where it ran
        record = ActionRecord(
            key=info.key, target=t.name, kind=t.kind_name, artifact=digest, created=time.time(),
            seconds=round(time.perf_counter() - start, 3), facts=outcome.facts, key_inputs=info.inputs,
            listings=self.planner.listing_blobs(info), run=run, memo=outcome.memo_list,
        )
        self.store.commit(record)
        view = self.store.load_artifact(digest, verify=False)  # its blobs were checked when stored
        self.checked.add(digest)
        self.store.fetch(set(view.files.values()))
        dest = self.out_root / t.name
        materialize(view, dest, self.linker, force=True, before=self._shown(dest))
        self._frozen_artifact(t, digest, run)
        return Result(t.name, "built", time.perf_counter() - start, info.key, digest, view.size, outcome.facts,
                      reason=reason, memo=outcome.memo, run=run)

    def _shown(self, dest: Path) -> ArtifactView | None:
        """The artifact an out view's marker names, so a rebuild patches only what changed;
        None (compare every file) when a blob was healed this build or the manifest is gone."""
        marked = current_digest(dest)
        if not marked or not is_digest(marked) or self.healed:
            return None
        try:
            return self.store.load_artifact(marked, verify=False)
        except (OSError, StoreError, ValueError, KeyError, TypeError):
            return None

    def _preview(self, t: Target, upstream: dict[str, str], info: KeyInfo) -> None:
        """--dry-run: what a kind can show without building goes to out/<target>.dry-run/;
        nothing is recorded, so the real build still runs later."""
        outcome = self._run(t, upstream, info, refresh=False, preview=True)
        if outcome.artifact is None:
            return
        view = self.store.load_artifact(outcome.artifact, verify=False)
        dest = self.out_root / f"{t.name}.dry-run"
        materialize(view, dest, self.linker, force=True)
        self.emit({"event": "log", "target": t.name, "level": "info", "message": f"dry run: wrote {dest}"})

    def _load_checked(self, digest: str) -> ArtifactView:
        """Verify an artifact's blobs once per build: a dependent re-reading 10,000 blobs an
        upstream just verified (or wrote) would double a no-op's cost for nothing."""
        view = self.store.load_artifact(digest, verify=digest not in self.checked)
        self.checked.add(digest)
        return view

    def _frozen_artifact(self, t: Target, digest: str, run: dict[str, Any]) -> None:
        """--frozen: the artifact must be the lock's, unless the target declares it may differ."""
        locked = self.lock.get(t.name, {}).get("artifact")
        if not self.opts.frozen or locked == digest or run.get("nondeterministic"):
            return
        ups = [r.target for r in t.refs if self.lock.get(r.target, {}).get("nondeterministic")]
        hint = (f"; upstream {', '.join(ups)} is non-deterministic and was rebuilt, so its bytes differ from "
                "the lock's: fetch its artifact from a remote cache instead") if ups else \
            "; run `imagineer verify " + t.name + "` to see which files differ"
        raise BuildError(f"--frozen: {t.name} produced artifact {digest[:12]}, the lock has "
                         f"{str(locked)[:12]}{hint}")


def store_address(store) -> dict[str, Any]:
    """How a worker elsewhere opens the same store: its folder and, when tiered, its remote."""
    remote = getattr(store, "remote", None)
    return {"root": str(store.root),
            "remote": {"url": remote.address, "jobs": remote.jobs, "options": remote.options, "push": store.push,
                       "download": store.download}
            if remote is not None else None}


def disk_problem(e: BaseException, store_root: Path, out_root: Path) -> str | None:
    """A full or read-only disk, said as such, naming the folder and the space left."""
    import errno
    import sqlite3

    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        kind = "full"
    elif isinstance(e, OSError) and e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        kind = "read-only"
    elif isinstance(e, sqlite3.OperationalError) and ("full" in str(e) or "disk I/O" in str(e)):
        kind = "full"
    elif isinstance(e, sqlite3.OperationalError) and "readonly" in str(e):
        kind = "read-only"
    else:
        return None
    where = str(getattr(e, "filename", None) or store_root)
    folder = out_root if where.startswith(str(out_root)) else store_root
    if kind == "read-only":
        return f"cannot write {where}: {folder} is read-only (or not yours); nothing was recorded"
    try:
        free = shutil.disk_usage(folder).free
        left = f"{free / (1 << 20):.1f} MB free"
    except OSError:
        left = "free space unknown"
    return (f"no space left on device while writing {where} ({folder}: {left}); free some space "
            "(imagineer gc) and build again: finished targets stay cached")
