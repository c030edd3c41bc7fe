"""Warm workers: one process keeps the model loaded across builds, is replaced when the code or
environment changes, survives a crash by one retry, and leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from conftest import Project, imagineer_exe

SETTINGS = "cache: cache\nout: out\nthreads: 1\nmodels:\n  tiny: {base: 'builtin:tiny-sd'}\n"


def deck(project: Project, rows: int = 2, steps: int = 2) -> None:
    project.write("imagineer.yaml", SETTINGS)
    project.write("deck.csv", "value,suit\n" + "".join(f"{v},spades\n" for v in range(1, rows + 1)))
    project.spec(f"generations:\n  deck: {{template: deck.csv, prompt: '{{value}} of {{suit}}', model: tiny, "
                 f"size: [64, 64], steps: {steps}}}\n")


def workers(project: Project, env=None) -> list[dict]:
    r = project.run("workers", "--json", env=env)
    assert r.code == 0, r.err
    return [json.loads(line) for line in r.out.splitlines()]


def started(run) -> list[str]:
    return [e["message"] for e in run.events() if e["event"] == "log" and "started a warm worker" in e["message"]]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.mark.slow
def test_one_worker_serves_consecutive_builds_and_stop_ends_it(project):
    deck(project)
    first = project.build()
    assert first.code == 0, first.err
    assert len(started(first)) == 1
    [w] = workers(project)
    assert w["alive"] and w["jobs"] == 1 and w["models"] == ["generations tiny"] and w["rss_bytes"] > 0
    # after a job the worker's heap (the loaded model and its libraries) is frozen out of the
    # garbage collector's full passes, which walked all of it during every later rebuild
    deadline = time.monotonic() + 15
    while w["frozen_objects"] < 50_000 and time.monotonic() < deadline:
        time.sleep(0.2)
        [w] = workers(project)
    assert w["frozen_objects"] >= 50_000
    project.write("deck.csv", "value,suit\n1,spades\n3,hearts\n")  # one row edited
    second = project.build()
    assert second.code == 0 and started(second) == []  # the same warm process did it
    gen = next(e for e in second.events() if e.get("event") == "target")
    # a patch: the unchanged row's image kept from the last build, the edited one made
    assert gen["memo"]["generation.image"] == {"hits": 0, "misses": 1} and gen["run"]["patched"]["kept images"] == 1
    [again] = workers(project)
    assert again["pid"] == w["pid"] and again["jobs"] == 2
    # the same build in this process gives the same bytes as the worker did
    project.run("clean", "deck")
    inproc = project.build("--no-workers")
    assert inproc.code == 0 and next(e for e in inproc.events() if e.get("event") == "target")["artifact"] == \
        gen["artifact"]
    stop = project.run("workers", "stop")
    assert stop.code == 0 and f"pid {w['pid']}" in stop.out
    time.sleep(0.2)
    assert not alive(w["pid"]) and workers(project) == []


@pytest.mark.slow
def test_another_environment_replaces_the_worker_never_reuses_it(project):
    deck(project)
    assert project.build().code == 0
    [old] = workers(project)
    r = project.build("--refresh", "deck", env={"IMAGINEER_TEST_FLAVOUR": "other"})
    assert r.code == 0 and len(started(r)) == 1
    [new] = workers(project, env={"IMAGINEER_TEST_FLAVOUR": "other"})
    assert new["pid"] != old["pid"] and not alive(old["pid"])
    project.run("workers", "stop")


@pytest.mark.slow
def test_a_worker_killed_mid_job_is_replaced_and_the_job_retried(project):
    deck(project, rows=24, steps=8)
    p = subprocess.Popen([*imagineer_exe(), "build", "--json"], cwd=project.root, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    events = []
    for line in p.stdout:
        events.append(json.loads(line))
        if events[-1]["event"] == "progress" and events[-1].get("message") == "images generated" \
                and events[-1]["done"] >= 4:
            break
    [w] = workers(project)
    os.kill(w["pid"], signal.SIGKILL)
    out, err = p.communicate(timeout=300)
    events += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert p.returncode == 0, err
    logs = [e["message"] for e in events if e["event"] == "log"]
    assert any("the warm worker died during deck" in m and "retrying in a fresh worker" in m for m in logs), logs
    result = next(e for e in events if e.get("event") == "target")
    assert result["status"] == "built" and result["facts"]["images"] == 24
    assert result["memo"]["generation.image"]["hits"] >= 4  # what the killed worker finished was kept
    [fresh] = workers(project)
    assert fresh["pid"] != w["pid"]
    project.run("workers", "stop")
