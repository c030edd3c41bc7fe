"""Keys: independent of key order and spelled-out defaults, free of absolute paths, and built on
upstream artifact digests so a rebuilt target with unchanged bytes stops the rebuild there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest
import yaml
from conftest import Project, imagineer_exe
from engine_kinds import ENV


def lock_keys(project) -> dict[str, str]:
    data = yaml.safe_load((project.root / "imagineer.lock").read_text())
    return {k: v["key"] for k, v in data["targets"].items()}


def test_key_order_and_spelled_out_defaults_do_not_change_the_key(project, shapes):
    project.spec("""
        sources:
          photos:
            dir: data/shapes
            filter: {min_size: [64, 64], max_aspect: 3}
    """)
    first = project.build(env=ENV)
    assert first.statuses() == {"photos": "built"}
    keys = lock_keys(project)
    project.spec("""
        sources:
          photos:
            decode: {animated: first, max_pixels: 64000000}
            filter: {max_aspect: 3.0, formats: [jpeg, png, webp, gif, bmp], min_size: [64, 64]}
            sidecar_ext: .txt
            dedup: {threshold: 6, near: true}
            dir: data/shapes
    """)
    again = project.build(env=ENV)
    assert again.statuses() == {"photos": "cached"}
    assert lock_keys(project) == keys
    # A real change of value does change it.
    project.spec("""
        sources:
          photos:
            dir: data/shapes
            filter: {min_size: [64, 64], max_aspect: 2.5}
    """)
    changed = project.build(env=ENV)
    assert changed.statuses() == {"photos": "built"}
    assert lock_keys(project) != keys


def test_keys_hold_no_absolute_paths(project, shapes, tmp_path):
    project.spec("""
        sources:
          photos: {dir: data/shapes}
        fakes:
          notes: {uses: [photos], file: data/shapes/shape_000.txt}
    """)
    assert project.build(env=ENV).code == 0
    moved = Project(tmp_path / "elsewhere" / "deeper")
    shutil.copytree(project.root, moved.root, ignore=shutil.ignore_patterns("cache", "out", "*.lock"))
    assert moved.build(env=ENV).code == 0
    assert lock_keys(moved) == lock_keys(project)
    assert str(project.root) not in (project.root / "imagineer.lock").read_text()


def test_early_cutoff_unchanged_output_leaves_dependents_fresh(project):
    project.write("data/a.txt", "one\n")
    project.write("data/c.txt", "one\n")
    project.spec("""
        fakes:
          constant: {file: data/a.txt, output: same bytes every time}
          after-constant: {uses: [constant]}
          echo: {file: data/c.txt}
          after-echo: {uses: [echo]}
    """)
    first = project.build(env=ENV)
    assert set(first.statuses().values()) == {"built"}, first.out
    project.write("data/a.txt", "two\n")
    project.write("data/c.txt", "two\n")
    r = project.build(env=ENV)
    assert r.statuses() == {"constant": "built", "after-constant": "cached",
                            "echo": "built", "after-echo": "built"}
    st = project.run("status", "--json", env=ENV)
    statuses = [json.loads(line)["status"] for line in st.out.splitlines()]
    assert statuses == ["fresh"] * 4, st.out


def test_explain_names_the_file_that_changed(project):
    project.write("data/a.txt", "one\n")
    project.spec("""
        fakes:
          echo: {file: data/a.txt}
          after: {uses: [echo]}
    """)
    project.build(env=ENV)
    project.write("data/a.txt", "two\n")
    r = project.run("status", env=ENV)
    lines = {line.split()[1]: line for line in r.out.splitlines()}
    assert lines["echo"].startswith("stale") and "file data/a.txt" in lines["echo"]
    assert "upstream echo is stale" in lines["after"]


@pytest.mark.slow
def build_while(project, edit) -> tuple[int, list[dict]]:
    """Run a build of the `slow` target and call edit() once the kind has started."""
    p = subprocess.Popen([*imagineer_exe(), "build", "--json"], cwd=project.root, env={**os.environ, **ENV},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = project.root / "journal.txt"
    deadline = time.monotonic() + 30
    while not (journal.exists() and journal.read_text().count("start") > journal.read_text().count("end")):
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.02)
    edit()
    out, _ = p.communicate(timeout=60)
    return p.returncode, [e for e in map(json.loads, out.splitlines()) if e.get("event") == "target"]


def test_folder_input_edited_during_a_build_is_not_recorded_but_an_added_file_is_left_for_next_time(project):
    """After building, every file the listing named is checked again (one stat each): one edited
    meanwhile fails the target; one added meanwhile was not read, so the record stands and the
    next build takes it in."""
    for name in ("a.txt", "b.txt"):
        project.write(f"data/folder/{name}", f"{name}\n")
    project.spec("""
        fakes:
          slow: {file: data/folder, sleep: 1.5, journal: journal.txt}
    """)
    code, ev = build_while(project, lambda: project.write("data/folder/b.txt", "edited mid-build\n"))
    assert code == 1 and ev[0]["status"] == "failed"
    assert "data/folder changed while slow was building" in ev[0]["error"]
    assert project.build(env=ENV).statuses() == {"slow": "built"}
    project.write("data/folder/a.txt", "a, second version\n")  # so the next build runs the kind
    code, ev = build_while(project, lambda: project.write("data/folder/c.txt", "added mid-build\n"))
    assert code == 0 and ev[0]["status"] == "built"
    assert "added mid-build" not in (project.root / "out/slow/out.txt").read_text()
    again = project.build(env=ENV)
    assert again.statuses() == {"slow": "built"}
    assert "added mid-build" in (project.root / "out/slow/out.txt").read_text()


def test_input_edited_during_a_build_is_not_recorded(project):
    project.write("data/a.txt", "before\n")
    project.spec("""
        fakes:
          slow: {file: data/a.txt, sleep: 1.5, journal: journal.txt}
    """)
    code, ev = build_while(project, lambda: project.write("data/a.txt", "edited mid-build\n"))
    assert code == 1
    assert ev[0]["status"] == "failed"
    assert "data/a.txt changed while slow was building" in ev[0]["error"]
    # The next build sees the edited file and records that.
    again = project.build(env=ENV)
    assert again.statuses() == {"slow": "built"}
    out_file = project.root / "out/slow/out.txt"
    assert out_file.read_text() == "edited mid-build\n"


def test_environment_enters_the_key_only_through_the_allowlist(project):
    project.spec("""
        envfakes:
          flavoured: {output: x}
        fakes:
          plain: {output: x}
    """)
    base = {**ENV, "FAKE_FLAVOUR": "vanilla", "UNRELATED": "1"}
    assert project.build(env=base).code == 0
    assert set(project.build(env={**base, "UNRELATED": "2"}).statuses().values()) == {"cached"}
    r = project.build(env={**base, "FAKE_FLAVOUR": "mint"})
    assert r.statuses() == {"flavoured": "built", "plain": "cached"}
    start = next(e for e in r.events() if e["event"] == "start")
    assert start["reason"] == ["environment FAKE_FLAVOUR: 'vanilla' → 'mint'"]
    assert (project.root / "out/flavoured/out.txt").read_text() == "mint"


def test_memo_keys_in_bulk_are_the_single_keys():
    """Memo.keys encodes the shared parts once; every key must still be Memo.key's."""
    from imagineer_build.core.kind import Memo

    firsts = ["%032x" % (i * 7919) for i in range(50)] + ['quote " and é', 5, None, {"z": [1, 2]}]
    for rest in [(), ("2",), ("2", {"max_pixels": 64, "animated": "first"}), (None, [1, "x"])]:
        assert Memo.keys(firsts, *rest) == [Memo.key(f, *rest) for f in firsts]


def test_bulk_memo_keys_equal_one_at_a_time():
    """Memo.keys / keys_of encode the shared parts once; the keys must be exactly key()'s, or
    every memoised image, probe and caption would be made again."""
    from imagineer_build.core.kind import Memo

    identity = {"base": "builtin:tiny-sd", "threads": 2, "ünï": [1.5, None, True]}
    rows = [["a red thing", "", 7], ["ünïcode “quotes”", "blurry", -1], [{"nested": {"b": 1, "a": 2}}, [], 0.25]]
    for before, after in (([], []), (["1", identity, []], []), ([], [32, 32, 1, 7.5, "euler"]),
                          (["1", identity, [["lora", 0.8]]], [32, 32, 1, 7.5, "euler"])):
        assert Memo.keys_of(rows, before, after) == [Memo.key(*before, *row, *after) for row in rows]
        assert Memo.keys_of([[]], before, after) == [Memo.key(*before, *after)]
    firsts = ["d1", {"x": 1}, 3]
    assert Memo.keys(firsts, "2", {"max": 10}) == [Memo.key(f, "2", {"max": 10}) for f in firsts]
    assert Memo.keys(firsts) == [Memo.key(f) for f in firsts]
    assert len(set(Memo.keys_of(rows, ["1"], ["2"]))) == len(rows)


@pytest.mark.parametrize("options", [
    {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False, "allow_nan": False},  # canonical_json
    {"sort_keys": True, "separators": (", ", ": "), "ensure_ascii": True, "allow_nan": True},  # memo values
    {"sort_keys": True, "separators": (", ", ": "), "ensure_ascii": False, "allow_nan": True},  # album.jsonl
])
def test_reused_json_encoders_give_json_dumps_text_and_errors(options):
    """json_encoder reuses one C encoder instead of json.dumps building one per call; every key
    in every store depends on it giving json.dumps's text and raising json.dumps's errors."""
    from imagineer_build.core.hashing import canonical_json, json_encoder

    fast = json_encoder(**options)

    def canonical(v):
        return (canonical_json if options["separators"] == (",", ":") else lambda v: fast(v).encode())(v)

    def reference(v):
        return json.dumps(v, **options).encode()

    values = ['é\u2028\x00"\\', 1, 1.5, -0.0, 1e-05, 1e16, True, None, 2**70, [], {"a": {}}, (1, [2, (3,)]),
              [1, "a", {"b": 2, "a": [None, False]}], {"z": 1, "é": 2, "😀": {"y": 1.25}, "Z": 0},
              {1: "x", 2: "y"}, {2.5: 1, 1.5: 2}, {True: 1, False: 2}]
    if options["allow_nan"]:
        values += [float("nan"), [float("-inf")]]
    for v in values:
        assert canonical(v) == reference(v), v
    bad_values = [{"a": object()}, {(1,): 2}, {1: "x", None: 2}]
    bad_values += [] if options["allow_nan"] else [float("nan"), [float("inf")]]
    bad_values += [] if options["ensure_ascii"] else ["\ud800"]
    for bad in bad_values:
        errors = []
        for encode in (canonical, reference):
            with pytest.raises(Exception) as e:
                encode(bad)
            errors.append((e.type, str(e.value)))
        assert errors[0] == errors[1], bad
