"""The scheduler alone, in process: slots, readiness, skips, keep-going and interrupts, with a
node function that records what ran when (no kinds, no store, no CLI)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from imagineer_build.core.scheduler import Scheduler, Slots


@dataclass
class R:
    target: str
    status: str
    artifact: str | None = None
    reason: list[str] = field(default_factory=list)
    error: str | None = None


class Recorder:
    def __init__(self, fail=(), sleep=0.05):
        self.fail, self.sleep = set(fail), sleep
        self.spans: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()
        self.seen_upstream: dict[str, dict] = {}

    def __call__(self, name, ups):
        t0 = time.monotonic()
        time.sleep(self.sleep)
        with self.lock:
            self.spans[name] = (t0, time.monotonic())
            self.seen_upstream[name] = ups
        return R(name, "failed" if name in self.fail else "built", artifact=f"art-{name}")


def run(graph, needs, capacity, node, keep_going=False, cancelled=None):
    order = list(graph)
    emitted = []
    s = Scheduler(order, graph, {n: needs.get(n, {"cpu": 1}) for n in order}, capacity, node, emitted.append,
                  keep_going, make_result=lambda name, status, **kw: R(name, status, **kw))
    return s.run(cancelled or threading.Event()), emitted


def overlapping(spans, names):
    return [(a, b) for a in names for b in names if a < b and spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]]


def test_slots_take_and_give_back_and_cap_a_need_at_the_capacity():
    s = Slots({"cpu": 2, "gpu": 1})
    assert s.take({"gpu": 3}) == {"gpu": 1} and s.take({"gpu": 1}) is None
    s.give({"gpu": 1})
    assert s.take({"cpu": 1, "gpu": 1}) == {"cpu": 1, "gpu": 1}
    assert s.possible({"gpu": 1}) and not s.possible({"tpu": 1})


def test_one_gpu_slot_serialises_gpu_nodes_while_cpu_nodes_overlap():
    graph = {n: [] for n in ("g1", "g2", "g3", "c1", "c2")}
    rec = Recorder(sleep=0.1)
    results, _ = run(graph, {"g1": {"gpu": 1}, "g2": {"gpu": 1}, "g3": {"gpu": 1}}, {"cpu": 2, "gpu": 1}, rec)
    assert all(r.status == "built" for r in results.values())
    assert overlapping(rec.spans, ["g1", "g2", "g3"]) == []
    assert overlapping(rec.spans, ["c1", "c2"])


def test_upstream_artifacts_reach_the_node_and_order_is_respected():
    graph = {"a": [], "b": ["a"], "c": ["a", "b"]}
    rec = Recorder()
    results, emitted = run(graph, {}, {"cpu": 4}, rec)
    assert rec.seen_upstream["c"] == {"a": "art-a", "b": "art-b"}
    assert rec.spans["a"][1] <= rec.spans["b"][0] and rec.spans["b"][1] <= rec.spans["c"][0]
    assert [r.target for r in emitted] == ["a", "b", "c"]


def test_a_failure_skips_dependents_and_stops_the_rest_unless_keep_going():
    graph = {"bad": [], "child": ["bad"], "late": ["slow"], "slow": []}
    rec = Recorder(fail={"bad"})
    results, _ = run(graph, {}, {"cpu": 1}, rec)
    assert results["bad"].status == "failed" and results["child"].status == "skipped"
    assert "upstream bad failed" in results["child"].reason[0]
    assert results["late"].status == "skipped" and results["late"].reason == ["build stopped after a failure"]
    rec = Recorder(fail={"bad"})
    results, _ = run(graph, {}, {"cpu": 1}, rec, keep_going=True)
    assert results["late"].status == "built" and results["child"].status == "skipped"


def test_an_impossible_need_fails_at_once_and_an_interrupt_starts_nothing_new():
    graph = {"tpu": [], "ok": []}
    rec = Recorder()
    results, _ = run(graph, {"tpu": {"tpu": 1}}, {"cpu": 1}, rec)
    assert results["tpu"].status == "failed" and "needs resources {'tpu': 1}" in results["tpu"].error
    assert "tpu" not in rec.spans and results["ok"].status == "built"
    cancelled = threading.Event()
    cancelled.set()
    results, _ = run({"x": [], "y": ["x"]}, {}, {"cpu": 1}, Recorder(), cancelled=cancelled)
    assert {r.status for r in results.values()} == {"skipped"}
    assert results["x"].reason == ["build interrupted"]
