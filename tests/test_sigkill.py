"""A real build killed with SIGKILL halfway: the next build resumes, reusing every finished
target and every finished item, and the cache verifies clean."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import imagineer_exe
from engine_kinds import ENV


@pytest.mark.slow
def test_sigkill_mid_build_then_resume(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        fakes:
          slow: {uses: [shapes], output: slow, items: 60, item_sleep: 0.05}
          after: {uses: [slow]}
    """)
    p = subprocess.Popen([*imagineer_exe(), "build", "--json", "-j", "1"], cwd=project.root,
                         env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, start_new_session=True)
    seen: list[dict] = []
    deadline = time.monotonic() + 60
    try:
        for line in p.stdout:  # type: ignore[union-attr]
            ev = json.loads(line)
            seen.append(ev)
            if ev["event"] == "progress" and ev["target"] == "slow" and ev["done"] >= 15:
                break
            assert time.monotonic() < deadline
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    assert p.returncode == -signal.SIGKILL
    finished = {e["target"]: e["status"] for e in seen if e["event"] == "target"}
    assert finished == {"shapes": "built"}
    assert not (project.root / "out/slow").exists()

    r = project.build(env=ENV)
    assert r.code == 0, r.err
    assert r.statuses() == {"shapes": "cached", "slow": "built", "after": "built"}
    slow = next(e for e in r.events() if e.get("target") == "slow" and e["event"] == "target")
    hits = slow["memo"]["fake.items"]["hits"]
    assert hits >= 15 and slow["memo"]["fake.items"]["misses"] == 60 - hits
    assert len(list((project.root / "out/slow/items").iterdir())) == 60
    assert list((project.root / "cache/tmp").iterdir()) == []  # the killed build's leftovers are gone
    ver = project.run("verify-cache", env=ENV)
    assert ver.code == 0 and "0 damaged blobs" in ver.out
    assert set(project.build(env=ENV).statuses().values()) == {"cached"}


def descendants(pid: int) -> set[int]:
    """Every live process below pid, from /proc (children of children too)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists() or (os.cpu_count() or 1) < 2,
                    reason="needs /proc and a probing pool (2+ cores)")
def test_probe_pool_workers_leave_when_the_build_is_killed(project):
    import numpy as np
    from PIL import Image

    folder = project.root / "data" / "noise"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    for i in range(800):
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(folder / f"n{i:04d}.png")
    project.spec("""
        sources:
          noise: {dir: data/noise, filter: {min_size: [8, 8]}}
    """)
    p = subprocess.Popen([*imagineer_exe(), "build", "--json"], cwd=project.root, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    workers: set[int] = set()
    try:
        for line in p.stdout:  # type: ignore[union-attr]
            ev = json.loads(line)
            if ev["event"] == "progress" and 0 < ev["done"] < ev.get("total", 0):
                workers = descendants(p.pid)
                break
        assert workers, "the build finished before it could be killed"
        p.kill()  # the build process only, as `kill -9 PID` would
        p.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [w for w in workers if alive(w)]
    finally:
        for w in descendants(p.pid) | workers:  # only what this build started
            if alive(w):
                os.kill(w, signal.SIGKILL)
