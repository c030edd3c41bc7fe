"""The Ray executor: targets run on a Ray cluster.

Resources map onto Ray's: `cpu` → num_cpus, `gpu` → num_gpus. Model-heavy jobs run on
long-lived actors, one per (kind, model) and build, so a pipeline loads once per actor and the
actor (and the GPU memory it holds) goes away when the build ends; other jobs are tasks.
Jobs that need the network (`net`: scrapes, API labelers) run on the driver, which has it.
Workers reach the store through its remote cache, or through a path every node shares; the
driver checks that before anything runs. Events stream back through a Ray queue.
"""

from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from ..job import Job, Outcome

PASSED_ENV = ("PYTHONPATH", "IMAGINEER_KINDS", "IMAGINEER_TRACEBACK", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE",
              "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
              "IMAGINEER_REMOTE_TOKEN", "ANTHROPIC_API_KEY")


class RayError(Exception):
    pass


def _env() -> dict[str, str]:
    return {k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)}


def run_remote(job: Job, queue, tag: str) -> Outcome:
    """A job on a Ray worker: build against the store, push what a driver elsewhere must read."""
    from ..job import run_job
    from .worker_main import open_address

    store = open_address(job.store)

    def emit(ev: dict[str, Any]) -> None:
        try:
            queue.put_nowait((tag, ev))
        except Exception:  # a full or gone queue must not fail the build
            pass

    outcome = run_job(job, store, emit)
    if getattr(store, "remote", None) is not None and outcome.artifact:
        from ..store.tiered import push_blobs

        push_blobs(store, outcome.artifact, outcome.memo_list)
    return outcome


class RayExecutor:
    def __init__(self, settings, local, store, emit_log):
        try:
            import ray
        except ImportError:
            raise RayError("executor: {kind: ray} needs the 'ray' extra: pip install 'imagineer-build[ray]'") from None
        self.ray = ray
        self.local = local  # for `net` jobs
        self.store = store
        self.log = emit_log
        self.shards = settings.shards
        if not ray.is_initialized():
            address = settings.address
            if address == "local":
                ray.init(num_cpus=settings.cpu or os.cpu_count(), num_gpus=settings.gpu, include_dashboard=False,
                         runtime_env={"env_vars": _env()}, log_to_driver=False)
            else:
                ray.init(address=address, runtime_env={"env_vars": _env()}, log_to_driver=False)
        from ray.util.queue import Queue

        self.queue = Queue(maxsize=10_000)
        self.listeners: dict[str, Any] = {}
        self.actors: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pump = threading.Thread(target=self._pump_events, daemon=True)
        self._pump.start()
        self._check_store()
        self._task = ray.remote(max_retries=1)(run_remote)

    def shards_for(self, need: dict[str, int]) -> int:
        """How many workers one shardable target's items are spread over."""
        if self.shards != "auto":
            return int(self.shards)
        return max(1, int(self.ray.cluster_resources().get("GPU", 0))) if need.get("gpu") else 1

    def capacity(self) -> dict[str, int]:
        res = self.ray.cluster_resources()
        return {"cpu": int(res.get("CPU", 0)), "gpu": int(res.get("GPU", 0)),
                "net": self.local.capacity().get("net", 4)}

    def submit(self, job: Job, resources: dict[str, int], emit: Any) -> Future[Outcome]:
        if resources.get("net"):
            return self.local.submit(job, resources, emit)
        tag = uuid.uuid4().hex
        with self._lock:
            self.listeners[tag] = emit
        options = {"num_cpus": resources.get("cpu", 0 if resources.get("gpu") else 1),
                   "num_gpus": resources.get("gpu", 0)}
        if job.shard and options["num_gpus"]:  # n shards share the cluster's GPUs
            gpus = self.ray.cluster_resources().get("GPU", 0)
            options["num_gpus"] = min(options["num_gpus"], gpus / job.shard[1]) if gpus else 0
        if job.worker == "models":
            ref = self._actor(job, options).run.remote(job, self.queue, tag)
        else:
            ref = self._task.options(**options).remote(job, self.queue, tag)
        fut: Future[Outcome] = Future()

        def wait() -> None:
            try:
                fut.set_result(self.ray.get(ref))
            except Exception as e:  # noqa: BLE001 — crashes after Ray's retry end up here
                fut.set_exception(RayError(f"the Ray worker failed running {job.target}: "
                                           f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"))
            finally:
                self._drain(tag)

        threading.Thread(target=wait, daemon=True).start()
        return fut

    def _actor(self, job: Job, options: dict[str, Any]):
        # shard i runs on actor i; the unsharded build that assembles runs on actor 0, which holds
        # its resources already (a new full-GPU actor would wait for the shard actors forever)
        key = (job.section, str(job.config.get("model") or ""), job.shard[0] if job.shard else 0)
        with self._lock:
            actor = self.actors.get(key)
            if actor is None:
                cls = self.ray.remote(max_restarts=1, max_task_retries=1)(ModelActor)
                actor = cls.options(**options).remote()
                self.actors[key] = actor
            return actor

    def _pump_events(self) -> None:
        from ray.util.queue import Empty

        while not self._stop.is_set():
            try:
                tag, ev = self.queue.get(timeout=0.2)
            except Empty:
                continue
            except Exception:  # the cluster went away: the jobs will say so
                return
            with self._lock:
                listener = self.listeners.get(tag)
            if listener is not None:
                listener(ev)

    def _drain(self, tag: str) -> None:
        with self._lock:
            self.listeners.pop(tag, None)

    def _check_store(self) -> None:
        """Refuse to start when a node cannot see the store and there is no remote to share."""
        if getattr(self.store, "remote", None) is not None:
            return
        probe = Path(self.store.root) / f".ray-probe-{uuid.uuid4().hex}"
        probe.write_text("")
        try:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            sees = self.ray.remote(num_cpus=0)(_exists)
            nodes = [n for n in self.ray.nodes() if n.get("Alive")]
            refs = {n["NodeManagerAddress"]: sees.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                n["NodeID"], soft=False)).remote(str(probe)) for n in nodes}
            blind = [addr for addr, ref in refs.items() if not self.ray.get(ref)]
        finally:
            probe.unlink()
        if blind:
            raise RayError(f"Ray workers on {', '.join(sorted(blind))} cannot reach the store {self.store.root}: "
                           "configure a remote cache (imagineer.yaml `remote: {url: s3://…}`) or a path every "
                           "node shares")

    def shutdown(self, wait: bool = True) -> None:
        self._stop.set()
        with self._lock:
            actors = list(self.actors.values())
            self.actors.clear()
        for actor in actors:  # a model actor's memory (GPU too) goes with it: no stale tensors
            self.ray.kill(actor)
        self.local.shutdown(wait)


def _exists(path: str) -> bool:
    return os.path.exists(path)


class ModelActor:
    """One process per (kind, model) and build: the models its jobs load stay loaded in it."""

    def run(self, job: Job, queue, tag: str) -> Outcome:
        return run_remote(job, queue, tag)
