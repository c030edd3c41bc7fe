"""Scheduling through the real CLI: resource slots, failures, --keep-going, exit codes."""

from __future__ import annotations

from engine_kinds import ENV
from scheduler_helpers import intervals, overlaps


def test_one_gpu_slot_never_runs_two_gpu_targets_at_once(project):
    project.spec("""
        gpufakes:
          g1: {output: g1, sleep: 0.4, journal: journal.txt}
          g2: {output: g2, sleep: 0.4, journal: journal.txt}
          g3: {output: g3, sleep: 0.4, journal: journal.txt}
        fakes:
          c1: {output: c1, sleep: 0.4, journal: cpu.txt}
          c2: {output: c2, sleep: 0.4, journal: cpu.txt}
          c3: {output: c3, sleep: 0.4, journal: cpu.txt}
    """)
    r = project.build("-j", "4", env=ENV)
    assert r.code == 0, r.err
    assert set(r.statuses().values()) == {"built"}
    gpu = intervals(project.root / "journal.txt")
    assert len(gpu) == 3 and overlaps(gpu) == []
    # The same sleeps on CPU slots do overlap, so the check above can tell the difference.
    assert overlaps(intervals(project.root / "cpu.txt"))


def test_cpu_slots_follow_jobs(project):
    project.spec("""
        fakes:
          a: {output: a, sleep: 0.3, journal: j.txt}
          b: {output: b, sleep: 0.3, journal: j.txt}
          c: {output: c, sleep: 0.3, journal: j.txt}
    """)
    r = project.build("-j", "1", env=ENV)
    assert r.code == 0, r.err
    assert overlaps(intervals(project.root / "j.txt")) == []


def test_failure_fails_dependents_only_with_keep_going(project):
    project.spec("""
        fakes:
          bad: {fail: true}
          child: {uses: [bad]}
          grandchild: {uses: [child]}
          other: {output: fine}
          other-child: {uses: [other]}
    """)
    r = project.build("--keep-going", "-j", "1", env=ENV)
    assert r.code == 1
    assert r.statuses() == {"bad": "failed", "child": "skipped", "grandchild": "skipped",
                            "other": "built", "other-child": "built"}
    ev = {e["target"]: e for e in r.events() if e.get("event") == "target"}
    assert "was told to fail" in ev["bad"]["error"]
    assert ev["child"]["reason"] == ["upstream bad failed"]
    summary = r.events()[-1]
    assert summary["event"] == "summary" and summary["failed"] == ["bad"]
    assert sorted(summary["skipped"]) == ["child", "grandchild"]
    # Only what finished went into the lock; the failure is retried next time, the rest is cached.
    lock = (project.root / "imagineer.lock").read_text()
    assert "other-child:" in lock and "bad:" not in lock
    again = project.build("--keep-going", env=ENV)
    assert again.statuses()["other"] == "cached" and again.statuses()["bad"] == "failed"


def test_without_keep_going_the_build_stops_after_a_failure(project):
    project.spec("""
        fakes:
          a-bad: {fail: true}
          b-later: {output: x}
          c-later: {output: y}
    """)
    r = project.build("-j", "1", env=ENV)
    assert r.code == 1
    st = r.statuses()
    assert st["a-bad"] == "failed"
    assert st["b-later"] == "skipped" and st["c-later"] == "skipped"


def test_exit_codes(project):
    project.spec("""
        fakes:
          ok: {output: fine}
    """)
    assert project.build(env=ENV).code == 0
    assert project.build("nosuch", env=ENV).code != 0
    project.spec("""
        fakes:
          ok: {outptu: fine}
    """)
    bad = project.build(env=ENV)
    assert bad.code == 2 and "nothing was built" in bad.err


def test_a_target_needing_a_resource_the_executor_lacks_fails_clearly(project):
    project.write("imagineer.yaml", "cache: cache\nout: out\nexecutor: {gpu: 0}\n")
    project.spec("""
        gpufakes:
          g: {output: x}
        fakes:
          c: {output: y}
    """)
    r = project.build("--keep-going", env=ENV)
    assert r.code == 1
    assert r.statuses() == {"c": "built", "g": "failed"}
    err = next(e for e in r.events() if e.get("target") == "g" and e["event"] == "target")["error"]
    assert "gpu" in err
