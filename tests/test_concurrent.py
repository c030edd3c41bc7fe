"""Two builds at once on one project: the second waits (or, with --no-wait, says who holds the
lock), nothing is corrupted, and status stays usable meanwhile."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from conftest import imagineer_exe
from engine_kinds import ENV


def start_build(project, *args: str) -> subprocess.Popen:
    return subprocess.Popen([*imagineer_exe(), "build", "--json", *args], cwd=project.root,
                            env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for(path, text: str, proc: subprocess.Popen, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while not (path.exists() and text in path.read_text()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.mark.slow
def test_second_build_waits_or_says_who_holds_the_lock(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        fakes:
          slow: {uses: [shapes], output: slow, gate: gate, journal: journal.txt}
          after: {uses: [slow], items: 20}
    """)
    first = start_build(project)
    wait_for(project.root / "journal.txt", "start slow", first)

    refused = project.build("--no-wait", env=ENV)
    assert refused.code == 1
    assert f"the store is locked by pid {first.pid} (imagineer build)" in refused.err

    second = start_build(project)
    ev2 = []
    for line in second.stdout:  # type: ignore[union-attr]
        ev2.append(json.loads(line))
        if ev2[-1]["event"] == "log":
            break
    st = project.run("status", "--json", "shapes", env=ENV)  # reads without the lock
    assert st.code == 0 and json.loads(st.out.splitlines()[0])["status"] == "fresh"
    assert first.poll() is None and second.poll() is None
    (project.root / "gate").touch()

    out1, err1 = first.communicate(timeout=120)
    out2, err2 = second.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    ev1 = [json.loads(x) for x in out1.splitlines()]
    ev2 += [json.loads(x) for x in out2.splitlines()]
    assert {e["target"]: e["status"] for e in ev1 if e["event"] == "target"} == {
        "shapes": "built", "slow": "built", "after": "built"}
    waited = [e for e in ev2 if e["event"] == "log" and "waiting for the build lock" in e["message"]]
    assert waited and f"pid {first.pid}" in waited[0]["message"]
    # The waiting build saw the first one's results: nothing was built twice.
    assert {e["target"]: e["status"] for e in ev2 if e["event"] == "target"} == dict.fromkeys(
        ("shapes", "slow", "after"), "cached")
    ver = project.run("verify-cache", env=ENV)
    assert ver.code == 0 and "0 damaged blobs" in ver.out
    lock = project.root / "imagineer.lock"
    assert "after:" in lock.read_text() and "slow:" in lock.read_text()
    assert (project.root / "cache/build.lock").read_text() == ""  # released
