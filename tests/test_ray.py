"""The Ray executor on a local cluster started once for these tests (2 CPUs and a fake GPU):
resource mapping, retries after a crash, fast failure on impossible resources, and sharded
generation that is byte-identical to a local build."""

from __future__ import annotations

import os
import time

import pytest
from engine_kinds import ENV
from scheduler_helpers import intervals, overlaps

from imagineer_build.core.engine import BuildOptions, Engine
from imagineer_build.core.project import Project as CoreProject

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    os.environ.update(ENV)  # the test kinds, importable by the workers too
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": dict(ENV)})
    warm = ray.remote(num_cpus=1)(lambda: time.sleep(0.2))
    ray.get([warm.remote() for _ in range(2)])  # two worker processes up, as a running cluster has
    yield ray
    ray.shutdown()


def build(root, *targets, **opts):
    events = []
    engine = Engine(CoreProject.load(root), events.append)
    results = engine.build(BuildOptions(list(targets), **opts))
    return results, events


RAY = "cache: cache\nout: out\nthreads: 1\nexecutor: {kind: ray, address: auto}\n"


def test_gpu_targets_never_overlap_cpu_ones_may_and_a_crash_is_retried(project, cluster):
    project.write("imagineer.yaml", RAY)
    project.spec("""
        gpufakes:
          g1: {output: g1, sleep: 0.5, journal: gpu.txt}
          g2: {output: g2, sleep: 0.5, journal: gpu.txt}
        fakes:
          c1: {output: c1, sleep: 1.5, journal: cpu.txt}
          c2: {output: c2, sleep: 1.5, journal: cpu.txt}
          crashy: {output: survived, crash_once: crashed.txt, uses: [c1]}
        tpufakes:
          impossible: {output: never}
    """)
    results, events = build(project.root, keep_going=True)
    assert {n: r.status for n, r in results.items()} == {
        "g1": "built", "g2": "built", "c1": "built", "c2": "built", "crashy": "built", "impossible": "failed"}
    assert overlaps(intervals(project.root / "gpu.txt")) == []
    assert overlaps(intervals(project.root / "cpu.txt"))  # two CPUs: they ran side by side
    assert (project.root / "crashed.txt").exists()  # the first worker died; Ray ran it again
    assert (project.root / "out/crashy/out.txt").read_text() == "survived"
    err = results["impossible"].error
    assert "needs resources {'tpu': 1}" in err and "'gpu': 1" in err
    assert results["impossible"].seconds < 1  # refused before anything ran


def test_a_sharded_generation_is_byte_identical_to_a_local_one(tmp_path, cluster):
    from conftest import Project

    rows = "".join(f"{v},{s}\n" for v in range(1, 11) for s in ("spades", "hearts", "clubs", "diamonds"))
    artifacts = {}
    for name, executor in (("ray", "{kind: ray, address: auto, shards: 2}"), ("local", "{kind: local, workers: false}")):
        p = Project(tmp_path / name)
        p.write("imagineer.yaml", f"cache: cache\nout: out\nthreads: 1\nexecutor: {executor}\n"
                                  "models:\n  tiny: {base: 'builtin:tiny-sd'}\n")
        p.write("deck.csv", "value,suit\n" + rows)
        p.spec("generations:\n  deck: {template: deck.csv, prompt: '{value} of {suit}', model: tiny, "
               "size: [64, 64], steps: 2}\n")
        results, events = build(p.root)
        assert results["deck"].status == "built", results["deck"].error
        assert results["deck"].facts["images"] == 40
        artifacts[name] = results["deck"].artifact
        if name == "ray":  # both shards worked, and the assembling build found every image made
            assert results["deck"].memo["generation.image"] == {"hits": 40, "misses": 0}
    assert artifacts["ray"] == artifacts["local"]
