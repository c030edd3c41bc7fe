"""`imagineer verify`: rebuild targets from scratch and prove the lock still means what it says.

Each target is rebuilt alone in a scratch store that holds nothing but the upstream artifacts
the lock names (no memo, no cached result, builtin models made again), then its artifact is
compared with the lock's and the cache's. Deterministic targets must match byte for byte; a
target that declares non-determinism (GPU kernels) is compared within its kind's tolerance, and
one whose rebuild proves nothing (a scrape, an API) is not rebuilt at all.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .artifact import ArtifactView
from .engine import BuildOptions, Engine
from .graph import closure
from .lockfile import read_lock
from .plan import diff
from .project import Project, Target
from .store import BlobDamaged, LocalStore, StoreError

FAILING = ("different", "failed", "not built")


@dataclass
class FileDiff:
    path: str
    detail: str
    within: bool = False


@dataclass
class Verdict:
    target: str
    status: str  # identical | within tolerance | different | not verified | not built | failed
    message: str = ""
    locked: str | None = None
    cached: str | None = None
    rebuilt: str | None = None
    files: list[FileDiff] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status not in FAILING

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "status": self.status, "message": self.message, "lock": self.locked,
                "cache": self.cached, "rebuilt": self.rebuilt,
                "files": [{"path": f.path, "detail": f.detail, "within_tolerance": f.within} for f in self.files]}


def verify(project: Project, targets: list[str], emit: Callable[[dict[str, Any]], None] | None = None,
           store: LocalStore | None = None) -> list[Verdict]:
    """A verdict per target (all of them by default), in build order."""
    store = store or LocalStore(project.store_root)
    names = [n for n in closure(project.graph, targets or list(project.targets)) if not targets or n in targets]
    lock = read_lock(project.lock_path)
    out: list[Verdict] = []
    with store.build_lock("imagineer verify"):
        for name in names:
            out.append(_verify_one(project, store, project.targets[name], lock, emit or (lambda ev: None)))
    return out


def _verify_one(project: Project, store: LocalStore, t: Target, lock: dict[str, Any], emit) -> Verdict:
    entry = lock.get(t.name)
    if not entry or not entry.get("artifact"):
        return Verdict(t.name, "not built", f"{t.name} is not in imagineer.lock: build it first "
                                            f"(imagineer build {t.name})")
    v = Verdict(t.name, "failed", locked=entry["artifact"])
    rec = store.get_action(str(entry.get("key")))
    v.cached = rec.artifact if rec else None
    settings = project.settings_dict()
    reason = entry.get("nondeterministic") or t.kind.nondeterminism(t.config, settings)
    tol = t.kind.tolerance(t.config, settings)
    if reason and tol is None:
        v.status, v.message = "not verified", f"non-deterministic by nature ({reason}): a rebuild proves nothing"
        return v
    upstream: dict[str, ArtifactView] = {}
    for ref in t.refs:
        digest = (lock.get(ref.target) or {}).get("artifact")
        if not digest:
            v.message = f"upstream {ref.target} is not in imagineer.lock: build it first"
            return v
        try:
            upstream[ref.target] = store.load_artifact(digest)
        except (OSError, StoreError):
            v.message = (f"upstream {ref.target}'s artifact {digest[:12]} is not in the store: "
                         f"imagineer build {ref.target}")
            return v
    scratch_dir = Path(tempfile.mkdtemp(dir=store.tmp, prefix=f"verify-{t.name}."))
    try:
        scratch = LocalStore(scratch_dir / "store")
        for view in upstream.values():
            for d in {view.digest, *view.files.values()}:
                scratch.put_file(store.blob_path(d), d)
        emit({"event": "log", "target": t.name, "level": "info",
              "message": f"verify: rebuilding {t.name} in a scratch store"})
        engine = Engine(project, emit, store=scratch, out_root=scratch_dir / "out")
        res = engine.build_one(t.name, {u: view.digest for u, view in upstream.items()},
                               BuildOptions(no_workers=True))  # a scratch store: no worker outlives it
        emit(res.event())
        if res.status != "built":
            v.message = f"the rebuild failed: {res.error}"
            return v
        if res.key != entry.get("key"):
            v.message = (f"the specs changed since the lock was written (key {str(res.key)[:12]}, lock "
                         f"{str(entry.get('key'))[:12]}): build first, then verify")
            return v
        v.rebuilt = res.artifact
        if res.artifact == v.locked:
            v.status = "identical"
            if v.cached and v.cached != v.locked:
                v.message = f"the local cache holds another artifact for this key ({v.cached[:12]})"
            return v
        _describe(v, t, store, scratch, tol or _exact(), bool(reason))
        return v
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)


def _exact():
    from .kind import Tolerance

    return Tolerance()


def _describe(v: Verdict, t: Target, store: LocalStore, scratch: LocalStore, tol, nondeterministic: bool) -> None:
    """Fill in which files differ and how, and whether that is within the kind's tolerance."""
    try:
        old = store.load_artifact(str(v.locked))
    except (OSError, StoreError, BlobDamaged):
        v.status = "different"
        v.message = f"rebuilt {str(v.rebuilt)[:12]}; the lock's artifact {str(v.locked)[:12]} is not in the store to compare"
        return
    new = scratch.load_artifact(str(v.rebuilt))
    for rel in sorted(set(old.files) | set(new.files)):
        a, b = old.files.get(rel), new.files.get(rel)
        if a == b:
            continue
        if a is None or b is None:
            v.files.append(FileDiff(rel, "only in the rebuild" if a is None else "missing from the rebuild"))
            continue
        within, detail = t.kind.compare_file(rel, store.blob_path(a), scratch.blob_path(b), tol)
        v.files.append(FileDiff(rel, detail, within and nondeterministic))
    meta = diff(old.meta, new.meta) + diff(old.facts, new.facts)
    if meta:
        shown = "; ".join(m.split(":", 1)[0] for m in meta[:4]) + (" …" if len(meta) > 4 else "")
        v.files.append(FileDiff("(manifest)", f"{len(meta)} metadata value(s) differ: {shown}", nondeterministic))
    inside = nondeterministic and all(f.within for f in v.files)
    v.status = "within tolerance" if inside else "different"
    v.message = f"rebuilt {str(v.rebuilt)[:12]} ≠ lock {str(v.locked)[:12]}"
