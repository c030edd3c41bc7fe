"""Walk the plan: compute keys as upstreams finish, reuse what is cached, build the rest."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .artifact import ArtifactView
from .executors import LocalExecutor
from .graph import closure
from .kind import BuildContext
from .lockfile import read_lock, write_lock
from .outview import Linker, materialize
from .plan import Planner, explain
from .project import Project, Target
from .store import ActionRecord, BlobDamaged, LocalStore

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


@dataclass
class Result:
    target: str
    status: str  # built | cached | failed | skipped | stale (dry run)
    seconds: float = 0.0
    key: str | None = None
    artifact: str | None = None
    size: int = 0
    facts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    reason: list[str] = field(default_factory=list)
    memo: dict[str, dict[str, int]] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)  # the action record's run facts

    def event(self) -> dict[str, Any]:
        ev = {"event": "target", "target": self.target, "status": self.status, "seconds": round(self.seconds, 3),
              "size": self.size, "facts": self.facts}
        for k in ("key", "artifact", "error"):
            if getattr(self, k):
                ev[k] = getattr(self, k)
        if self.reason:
            ev["reason"] = self.reason
        if self.memo:
            ev["memo"] = self.memo
        if self.run:
            ev["run"] = self.run
        return ev


class Engine:
    """store / out_root: another store and out folder than the project's (`verify` rebuilds
    in a scratch store)."""

    def __init__(self, project: Project, emit: Emit | None = None, store: LocalStore | None = None,
                 out_root: Path | None = None):
        self.project = project
        self.store = store or LocalStore(project.store_root)
        self.out_root = out_root or project.out_root
        self.planner = Planner(project, self.store)
        self.emit = emit or (lambda ev: None)
        self.linker = Linker()
        self.cancelled = threading.Event()
        self.checked: set[str] = set()  # artifacts whose blobs this build already verified
        self.healed: set[str] = set()  # damaged blobs dropped (and rebuilt) during this build

    # ---- entry points --------------------------------------------------------------------

    def build(self, opts: BuildOptions) -> dict[str, Result]:
        order = self._select(opts.targets)
        with self.store.build_lock(
            "imagineer build", wait=opts.wait_for_lock,
            on_wait=lambda who: self.emit({"event": "log", "level": "warning",
                                           "message": f"waiting for the build lock held by {who}"}),
        ):
            self.store.clean_tmp()
            lock = read_lock(self.project.lock_path)
            if opts.frozen:
                self._check_frozen(order, lock)
            results = self._run(order, opts, lock)
            if not opts.dry_run:
                try:
                    self._update_lock(lock, results)
                except OSError as e:
                    raise BuildError(disk_problem(e, self.store.root, self.out_root)
                                     or f"cannot write {self.project.lock_path.name}: {e.strerror or e}") from None
        ok = sum(r.status in ("built", "cached") for r in results.values())
        self.emit({"event": "summary", "targets": len(results), "ok": ok,
                   "failed": [t for t, r in results.items() if r.status == "failed"],
                   "skipped": [t for t, r in results.items() if r.status == "skipped"],
                   "built": [t for t, r in results.items() if r.status == "built"],
                   "cached": [t for t, r in results.items() if r.status == "cached"]})
        return results

    def build_one(self, name: str, upstream: dict[str, str], opts: BuildOptions) -> Result:
        """One target against given upstream artifacts, without the lock (verify's rebuild)."""
        return self._node(self.project.targets[name], upstream, opts, {})

    def status(self, targets: list[str]) -> dict[str, Result]:
        """Fresh or stale, and why, without building or locking anything."""
        results: dict[str, Result] = {}
        for name in self._select(targets):
            t = self.project.targets[name]
            stale_up = [r.target for r in t.refs if results[r.target].status != "fresh"]
            if stale_up:
                results[name] = Result(name, "stale", reason=[f"upstream {u} is stale" for u in stale_up])
                continue
            ups = {r.target: results[r.target].artifact for r in t.refs}
            try:
                info = self.planner.key(t, ups)  # type: ignore[arg-type]
            except OSError as e:
                results[name] = Result(name, "stale", reason=[f"cannot read its inputs: {e}"])
                continue
            rec = self.store.get_action(info.key)
            if rec is not None:
                results[name] = Result(name, "fresh", key=info.key, artifact=rec.artifact, facts=rec.facts,
                                       reason=[f"built {time.strftime('%Y-%m-%d %H:%M', time.localtime(rec.created))}"])
            else:
                why = self.planner.why_stale(self.store.last_action(name), info)
                results[name] = Result(name, "stale", key=info.key, reason=why)
        self.store.stat.flush()
        return results

    def explain(self, name: str) -> dict[str, Any]:
        st = self.status([name])
        t = self.project.targets[name]
        res = st[name]
        out: dict[str, Any] = {"target": name, "kind": t.kind_name, "status": res.status, "reason": res.reason}
        if res.key:
            ups = {r.target: st[r.target].artifact for r in t.refs}
            info = self.planner.key(t, ups)  # type: ignore[arg-type]
            out["key"] = info.key
            out["inputs"] = info.inputs
        return out

    # ---- internals -----------------------------------------------------------------------

    def _select(self, targets: list[str]) -> list[str]:
        unknown = [t for t in targets if t not in self.project.targets]
        if unknown:
            from .spec import did_you_mean

            raise BuildError("; ".join(f"unknown target {u!r}{did_you_mean(u, self.project.targets)}" for u in unknown))
        return closure(self.project.graph, targets or list(self.project.targets))

    def _check_frozen(self, order: list[str], lock: dict[str, dict[str, Any]]) -> None:
        problems = []
        for name in order:
            t = self.project.targets[name]
            entry = lock.get(name)
            if entry is None:
                problems.append(f"{name}: not in imagineer.lock")
                continue
            missing = [r.target for r in t.refs if r.target not in lock]
            if missing:
                continue
            ups = {r.target: lock[r.target]["artifact"] for r in t.refs}
            info = self.planner.key(t, ups)
            if info.key != entry.get("key"):
                why = explain(self.store.get_action(entry.get("key", "")), info.inputs)
                problems.append(f"{name}: key {info.key[:12]} differs from the lock's {str(entry.get('key'))[:12]}"
                                + (f" ({'; '.join(why[:3])})" if why else ""))
        if problems:
            raise BuildError("--frozen: the specs do not match imagineer.lock:\n  " + "\n  ".join(problems))

    def _run(self, order: list[str], opts: BuildOptions, lock: dict[str, Any]) -> dict[str, Result]:
        cpu = opts.jobs or self.project.settings.executor.cpu or os.cpu_count() or 1
        ex = self.project.settings.executor
        executor = LocalExecutor({"cpu": cpu, "gpu": ex.gpu, "net": ex.net})
        results: dict[str, Result] = {}
        pending = list(order)
        running: dict[Future, str] = {}
        stop = False
        try:
            while pending or running:
                for name in list(pending):
                    t = self.project.targets[name]
                    ups = [r.target for r in t.refs]
                    if any(results.get(u) and results[u].status in ("failed", "skipped") for u in ups):
                        bad = [u for u in ups if results[u].status in ("failed", "skipped")]
                        results[name] = Result(name, "skipped", reason=[f"upstream {', '.join(bad)} failed"])
                        self.emit(results[name].event())
                        pending.remove(name)
                        continue
                    if stop or not all(u in results for u in ups):
                        continue
                    need = t.kind.resources_for(t.config) or {"cpu": 1}
                    if not executor.possible(need):
                        results[name] = Result(name, "failed", error=f"needs resources {need}; the executor has {executor.slots}")
                        self.emit(results[name].event())
                        pending.remove(name)
                        continue
                    if not executor.fits(need):
                        continue
                    pending.remove(name)
                    up_digests = {u: results[u].artifact for u in ups}
                    running[executor.submit(need, lambda t=t, d=up_digests: self._node(t, d, opts, lock))] = name
                if not running:
                    if pending and stop:
                        for name in pending:
                            results[name] = Result(name, "skipped", reason=["build stopped after a failure"])
                            self.emit(results[name].event())
                        pending.clear()
                    if not pending:
                        break
                    continue
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    name = running.pop(fut)
                    res = fut.result()
                    results[name] = res
                    self.emit(res.event())
                    if res.status == "failed" and not opts.keep_going:
                        stop = True
        except KeyboardInterrupt:
            self.cancelled.set()
            raise
        finally:
            executor.shutdown(wait=not self.cancelled.is_set())
            self.store.stat.flush()
            if self.store.stat.flush_error:
                self.emit({"event": "log", "level": "warning", "message": "could not save the stat cache "
                           f"({self.store.stat.flush_error}); the next build re-reads the files it checks"})
        return {n: results[n] for n in order if n in results}

    def _node(self, t: Target, upstream: dict[str, str], opts: BuildOptions, lock: dict[str, Any]) -> Result:
        start = time.perf_counter()
        try:
            return self._node_inner(t, upstream, opts, lock, start)
        except Exception as e:  # a kind's failure is the target's, never the build's
            msg = disk_problem(e, self.store.root, self.out_root) or (
                f"{type(e).__name__}: {e}" if not isinstance(e, BuildError) else str(e))
            if os.environ.get("IMAGINEER_TRACEBACK"):
                msg += "\n" + traceback.format_exc()
            return Result(t.name, "failed", seconds=time.perf_counter() - start, error=msg)

    def _node_inner(self, t: Target, upstream: dict[str, str], opts: BuildOptions, lock: dict[str, Any],
                    start: float) -> Result:
        info = self.planner.key(t, upstream)
        rec = self.store.get_action(info.key)
        refresh = t.name in opts.refresh
        if rec is not None and not refresh:
            try:
                view = self._load_checked(rec.artifact)
                if not opts.dry_run:
                    # an out view may still hold a healed blob's damaged inode: patch it
                    stale_view = bool(self.healed) and not self.healed.isdisjoint(view.files.values())
                    materialize(view, self.out_root / t.name, self.linker, force=stale_view)
                    self._frozen_artifact(t, view.digest, opts, lock, rec.run)
                return Result(t.name, "cached", time.perf_counter() - start, info.key, rec.artifact, view.size, rec.facts,
                              run=rec.run)
            except BlobDamaged as e:
                self.emit({"event": "log", "target": t.name, "level": "warning",
                           "message": f"damaged cache: {e}; rebuilding {t.name} to heal it"})
                self.store.drop_blob(e.digest)
                self.healed.add(e.digest)
                self.store.forget_action(info.key)
                rec = None
        reason = ["--refresh"] if refresh and rec else self.planner.why_stale(self.store.last_action(t.name), info)
        if opts.dry_run:
            if all(upstream.values()):
                self._preview(t, upstream, info)
            return Result(t.name, "stale", key=info.key, reason=reason)
        self.emit({"event": "start", "target": t.name, "kind": t.kind_name, "reason": reason})
        artifact, ctx = self._call(t.kind.build, t, upstream, info, refresh)
        after = self.planner.listings(t)
        changed = [p for p, lst in after.items() if lst.digest != info.listings[p].digest]
        if changed:
            raise BuildError(f"{', '.join(changed)} changed while {t.name} was building; not recorded (build again)")
        digest = self.store.store_artifact(artifact)
        seconds = time.perf_counter() - start
        run = dict(artifact.run)
        why = t.kind.nondeterminism(t.config, self.planner.settings)
        if why:
            run["nondeterministic"] = why
        record = ActionRecord(
            key=info.key, target=t.name, kind=t.kind_name, artifact=digest, created=time.time(),
            seconds=round(seconds, 3), facts=artifact.facts, key_inputs=info.inputs,
            listings=self.planner.listing_blobs(info), run=run,
        )
        self.store.commit(record)
        view = self.store.load_artifact(digest, verify=False)  # its blobs were checked when stored
        self.checked.add(digest)
        materialize(view, self.out_root / t.name, self.linker, force=True)
        self._frozen_artifact(t, digest, opts, lock, run)
        memo = {ns: {"hits": m.hits, "misses": m.misses} for ns, m in ctx.memos.items()}
        return Result(t.name, "built", time.perf_counter() - start, info.key, digest, view.size, artifact.facts,
                      reason=reason, memo=memo, run=run)

    def _call(self, fn, t: Target, upstream: dict[str, str], info, refresh: bool):
        """(result, context) of a kind's build (or preview), run with a scratch folder."""
        missing_extra(t)
        views: dict[str, ArtifactView] = {u: self._load_checked(d) for u, d in upstream.items()}
        workdir = tempfile.mkdtemp(dir=self.store.tmp, prefix=f"{t.name}.")
        ctx = BuildContext(
            target=t.name, config=t.config, project_root=self.project.root,
            settings=self.planner.settings, store=self.store, upstream=views, inputs=info.listings,
            refresh=refresh, emit=self.emit, workdir=Path(workdir), cancelled=self.cancelled,
        )
        try:
            return fn(ctx), ctx
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _preview(self, t: Target, upstream: dict[str, str], info) -> None:
        """--dry-run: what a kind can show without building goes to out/<target>.dry-run/;
        nothing is recorded, so the real build still runs later."""
        artifact, _ = self._call(t.kind.preview, t, upstream, info, False)
        if artifact is None:
            return
        view = self.store.load_artifact(self.store.store_artifact(artifact), verify=False)
        dest = self.out_root / f"{t.name}.dry-run"
        materialize(view, dest, self.linker, force=True)
        self.emit({"event": "log", "target": t.name, "level": "info", "message": f"dry run: wrote {dest}"})

    def _load_checked(self, digest: str) -> ArtifactView:
        """Verify an artifact's blobs once per build: a dependent re-reading 10,000 blobs an
        upstream just verified (or wrote) would double a no-op's cost for nothing."""
        view = self.store.load_artifact(digest, verify=digest not in self.checked)
        self.checked.add(digest)
        return view

    def _frozen_artifact(self, t: Target, digest: str, opts: BuildOptions, lock: dict[str, Any],
                         run: dict[str, Any]) -> None:
        """--frozen: the artifact must be the lock's, unless the target declares it may differ."""
        locked = lock.get(t.name, {}).get("artifact")
        if not opts.frozen or locked == digest or run.get("nondeterministic"):
            return
        ups = [r.target for r in t.refs if lock.get(r.target, {}).get("nondeterministic")]
        hint = (f"; upstream {', '.join(ups)} is non-deterministic and was rebuilt, so its bytes differ from "
                "the lock's: fetch its artifact from a remote cache instead") if ups else \
            "; run `imagineer verify " + t.name + "` to see which files differ"
        raise BuildError(f"--frozen: {t.name} produced artifact {digest[:12]}, the lock has "
                         f"{str(locked)[:12]}{hint}")

    def _update_lock(self, lock: dict[str, Any], results: dict[str, Result]) -> None:
        for name, r in results.items():
            if r.status in ("built", "cached") and r.key and r.artifact:
                lock[name] = {"kind": self.project.targets[name].kind_name, "key": r.key,
                              "artifact": r.artifact, "facts": r.facts}
                if r.run.get("nondeterministic"):
                    lock[name]["nondeterministic"] = r.run["nondeterministic"]
        for name in list(lock):
            if name not in self.project.targets:
                del lock[name]
        write_lock(self.project.lock_path, lock)


def missing_extra(t: Target) -> None:
    """Raise BuildError naming the pip extra when a library the target needs is not installed."""
    import importlib.util

    for module, extra, feature in t.kind.needs(t.config):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise BuildError(f"{feature} needs the '{extra}' extra (the {module} module is not installed): "
                             f"pip install 'imagineer-build[{extra}]'")


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
