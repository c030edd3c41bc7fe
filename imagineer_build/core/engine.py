"""A build: select targets, check the lock, let the scheduler run each node through the
rebuilder on an executor, then write the lock. Also `status` and `explain`."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .graph import closure
from .lockfile import lock_entry, read_lock, write_lock
from .plan import Planner, explain
from .project import Project
from .rebuild import BuildError, BuildOptions, Rebuilder, disk_problem
from .result import Result, built_at, summary_event
from .scheduler import Scheduler
from .store import LocalStore, open_store

__all__ = ["BuildError", "BuildOptions", "Engine", "Result"]

Emit = Callable[[dict[str, Any]], None]


class Engine:
    """store / out_root: another store and out folder than the project's (`verify` rebuilds
    in a scratch store); listed: file inputs a project snapshot's check just listed (Planner)."""

    def __init__(self, project: Project, emit: Emit | None = None, store: LocalStore | None = None,
                 out_root: Path | None = None, executor_factory=None, listed: dict | None = None):
        self.project = project
        self.store = store or open_store(project)
        self.out_root = out_root or project.out_root
        self.planner = Planner(project, self.store, listed)
        self.emit = emit or (lambda ev: None)
        self.cancelled = threading.Event()
        self.executor_factory = executor_factory  # (engine, opts) → Executor; None: imagineer.yaml's
        if hasattr(self.store, "notify"):
            self.store.notify = lambda message: self.emit({"event": "log", "level": "warning", "message": message})

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
        self.emit(summary_event(results))
        return results

    def build_one(self, name: str, upstream: dict[str, str], opts: BuildOptions) -> Result:
        """One target against given upstream artifacts, without the lock (verify's rebuild)."""
        rebuilder = Rebuilder(self.project, self.store, self.planner, self.make_executor(opts), self.out_root,
                              self.emit, opts, {})
        return rebuilder.node(self.project.targets[name], upstream)

    def status(self, targets: list[str]) -> dict[str, Result]:
        """Fresh or stale, and why, without building or locking anything."""
        results: dict[str, Result] = {}
        for name in self._select(targets):
            t = self.project.targets[name]
            stale_up = [r.target for r in t.refs if results[r.target].status not in ("fresh", "remote")]
            if stale_up:
                results[name] = Result(name, "stale", reason=[f"upstream {u} is stale" for u in stale_up])
                continue
            ups = {r.target: results[r.target].artifact for r in t.refs}
            try:
                info = self.planner.key(t, ups)  # type: ignore[arg-type]
            except OSError as e:
                results[name] = Result(name, "stale", reason=[f"cannot read its inputs: {e}"])
                continue
            rec = self.store.actions.get(info.key)
            remote = None if rec is not None else peek(self.store, info.key)
            if rec is not None:
                results[name] = Result(name, "fresh", key=info.key, artifact=rec.artifact, facts=rec.facts,
                                       reason=[built_at(rec.created)])
            elif remote is not None:
                results[name] = Result(name, "remote", key=info.key, artifact=remote.artifact, facts=remote.facts,
                                       reason=[f"built on {self.store.remote.url}; not downloaded"])
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

    def make_executor(self, opts: BuildOptions):
        """The executor imagineer.yaml `executor:` names (local threads by default)."""
        ex = self.project.settings.executor
        cpu = opts.jobs or ex.cpu or os.cpu_count() or 1
        if self.executor_factory is not None:
            return self.executor_factory(self, opts)
        from .executors.local import LocalExecutor

        local = LocalExecutor({"cpu": cpu, "gpu": ex.gpu, "net": ex.net}, self.store, self.cancelled)
        log = lambda m: self.emit({"event": "log", "level": "info", "message": m})  # noqa: E731
        if ex.kind == "ray":
            from .executors.ray import RayError, RayExecutor

            try:
                return RayExecutor(ex, local, self.store, log)
            except RayError as e:
                raise BuildError(str(e)) from None
        if not ex.workers or opts.no_workers or os.environ.get("IMAGINEER_NO_WORKERS"):
            return local
        from .executors.workers import WorkerExecutor

        idle = float(os.environ.get("IMAGINEER_WORKER_IDLE") or ex.worker_idle)
        return WorkerExecutor(local, self.store.root, idle, log)

    def _run(self, order: list[str], opts: BuildOptions, lock: dict[str, Any]) -> dict[str, Result]:
        executor = self.make_executor(opts)
        rebuilder = Rebuilder(self.project, self.store, self.planner, executor, self.out_root, self.emit, opts, lock)
        targets = self.project.targets
        scheduler = Scheduler(
            order, {n: [r.target for r in targets[n].refs] for n in order},
            {n: targets[n].kind.resources_for(targets[n].config) or {"cpu": 1} for n in order},
            executor.capacity(), lambda name, ups: rebuilder.node(targets[name], ups),
            lambda res: self.emit(res.event()), opts.keep_going,
            make_result=lambda name, status, **kw: Result(name, status, **kw),
        )
        try:
            return scheduler.run(self.cancelled)
        finally:
            executor.shutdown(wait=not self.cancelled.is_set())
            if self.cancelled.is_set():  # Ctrl-C must leave within 2 s: no file to write on the way
                self.store.stat.drop_unsaved()
            self.store.stat.flush()
            if self.store.stat.flush_error:
                self.emit({"event": "log", "level": "warning", "message": "could not save the stat cache "
                           f"({self.store.stat.flush_error}); the next build re-reads the files it checks"})

    def _update_lock(self, lock: dict[str, Any], results: dict[str, Result]) -> None:
        for name, r in results.items():
            if r.status in ("built", "cached") and r.key and r.artifact:
                lock[name] = lock_entry(self.project.targets[name].kind_name, r.key, r.artifact, r.facts, r.run)
        for name in list(lock):
            if name not in self.project.targets:
                del lock[name]
        write_lock(self.project.lock_path, lock)




def peek(store, key: str):
    """The remote's action record for a key, without fetching anything it names."""
    remote = getattr(store, "remote", None)
    if remote is None:
        return None
    from .store import ActionRecord
    from .store.remote import RemoteError

    try:
        data = remote.get_action(key)
        return ActionRecord.parse(data) if data else None
    except (RemoteError, ValueError):
        return None
