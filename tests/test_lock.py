"""imagineer.lock: sorted, diff-friendly, one entry per built target; --frozen refuses to drift."""

from __future__ import annotations

import yaml
from engine_kinds import ENV


def test_lock_holds_one_sorted_entry_per_built_target(project, shapes):
    project.spec("""
        sources:
          zeta: {dir: data/shapes}
        fakes:
          alpha: {uses: [zeta], output: derived}
          middle: {output: m}
    """)
    r = project.build(env=ENV)
    assert r.code == 0
    text = (project.root / "imagineer.lock").read_text()
    assert text.startswith("# imagineer.lock")
    data = yaml.safe_load(text)
    assert data["version"] == 1
    assert list(data["targets"]) == ["alpha", "middle", "zeta"]
    events = {e["target"]: e for e in r.events() if e.get("event") == "target"}
    for name, entry in data["targets"].items():
        assert set(entry) == {"kind", "key", "artifact", "facts"}
        assert entry["key"] == events[name]["key"] and entry["artifact"] == events[name]["artifact"]
        assert len(entry["key"]) == 32 and len(entry["artifact"]) == 32
    assert data["targets"]["zeta"]["kind"] == "source"
    assert data["targets"]["zeta"]["facts"]["images"] == 12
    # Text positions are stable: a no-op build rewrites nothing.
    before = (project.root / "imagineer.lock").stat().st_mtime_ns
    assert project.build(env=ENV).code == 0
    assert (project.root / "imagineer.lock").read_text() == text
    assert (project.root / "imagineer.lock").stat().st_mtime_ns == before


def test_lock_drops_targets_removed_from_the_specs(project):
    project.spec("""
        fakes:
          keep: {output: k}
          gone: {output: g}
    """)
    project.build(env=ENV)
    project.spec("""
        fakes:
          keep: {output: k}
    """)
    assert project.build(env=ENV).code == 0
    assert list(yaml.safe_load((project.root / "imagineer.lock").read_text())["targets"]) == ["keep"]


def test_frozen_passes_when_nothing_changed(project):
    project.write("data/a.txt", "a\n")
    project.spec("""
        fakes:
          reader: {file: data/a.txt}
          after: {uses: [reader]}
    """)
    assert project.build(env=ENV).code == 0
    r = project.build("--frozen", env=ENV)
    assert r.code == 0 and r.statuses() == {"reader": "cached", "after": "cached"}


def test_frozen_fails_naming_the_target_whose_key_drifted(project):
    project.write("data/a.txt", "a\n")
    project.spec("""
        fakes:
          reader: {file: data/a.txt}
          bystander: {output: b}
    """)
    assert project.build(env=ENV).code == 0
    lock_before = (project.root / "imagineer.lock").read_text()
    project.write("data/a.txt", "changed\n")
    r = project.build("--frozen", env=ENV)
    assert r.code == 1
    assert "--frozen" in r.err and "reader: key" in r.err and "differs from the lock" in r.err
    assert "file data/a.txt" in r.err
    assert "bystander" not in r.err
    assert r.statuses() == {}  # nothing was built
    assert (project.root / "imagineer.lock").read_text() == lock_before
    assert (project.root / "out/reader/out.txt").read_text() == "a\n"


def test_frozen_fails_for_a_target_missing_from_the_lock(project):
    project.spec("""
        fakes:
          old: {output: o}
    """)
    project.build(env=ENV)
    project.spec("""
        fakes:
          old: {output: o}
          new: {output: n}
    """)
    r = project.build("--frozen", env=ENV)
    assert r.code == 1 and "new: not in imagineer.lock" in r.err
