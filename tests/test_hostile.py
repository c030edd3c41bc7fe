"""Hostile and careless input: every spec, setting, lock and input file is untrusted.

For each case the CLI must either accept it or exit 2 with a located message: never a
traceback, never a hang, never a runaway allocation. A fuzzer mutates a valid project in
process (hundreds of cases, fast); the classes of problem found by hand run through the real
CLI under a time and memory cap.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import imagineer_exe
from hostile_helpers import SETTINGS, SPEC, make_project, run_limited, small_disk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagineer_build.core.engine import BuildOptions, Engine
from imagineer_build.core.lockfile import LockError
from imagineer_build.core.project import Project
from imagineer_build.core.spec import SpecErrors

LOCATED = re.compile(r"^(specs/[^:]+|imagineer\.yaml|imagineer\.lock|specs/|[\w./-]+):\d+:\d+: ", re.M)

# ---- the fuzzer ------------------------------------------------------------------------------

EXTREMES = [None, 0, -1, 2**31, 10**30, -(2**70), 1e308, math.inf, -math.inf, math.nan, "", "x" * 300,
            "☃ 🚀 ‮rtl", "a\x00b", "\x1b[31m", "/", ".", "..", "/dev/zero", "/dev/urandom", "../../../etc/passwd",
            "data", "specs", [], {}, [1, [2, [3]]], {"a": {"b": None}}, True, "{0.__class__.__mro__}",
            "{value!r:>{99999}}", "%s%n", "${HOME}", "builtin:nope", "fifo"]


def _paths(data, base=()):
    yield base
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, base + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, base + (i,))


def _set(data, path, value):
    if not path:
        return value
    node = data
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return data


def _mutate(text: str, choice: int, op: int, extreme, cut: float) -> str:
    data = yaml.safe_load(text)
    paths = list(_paths(data))
    path = paths[choice % len(paths)]
    if op == 0 and path:  # delete a key or item
        parent = data
        for p in path[:-1]:
            parent = parent[p]
        del parent[path[-1]]
    elif op == 1 and path and isinstance(path[-1], str):  # rename a key (a typo)
        parent = data
        for p in path[:-1]:
            parent = parent[p]
        parent[path[-1] + "x"] = parent.pop(path[-1])
    elif op == 2:
        data = _set(data, path, extreme)
    elif op == 3:  # wrap the value in a list or a mapping
        node = data
        for p in path:
            node = node[p]
        data = _set(data, path, [node] if choice % 2 else {"v": node})
    else:  # break the YAML text itself
        out = yaml.safe_dump(data, allow_unicode=True)
        at = int(len(out) * cut)
        return out[:at] + "\n  - ]: {[&x *y !!python/object:os.system\n" + out[at:]
    return yaml.safe_dump(data, allow_unicode=True)


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory) -> Path:
    root = make_project(tmp_path_factory.mktemp("fuzz") / "p")
    os.mkfifo(root / "fifo")
    return root


def _load_and_plan(root: Path) -> None:
    """What `status` and `build --dry-run` do, in process; only located errors may escape."""
    try:
        project = Project.load(root)
        Engine(project).status([])
        Engine(project).build(BuildOptions(dry_run=True, wait_for_lock=False))
    except SpecErrors as e:
        assert all(err.pos is not None and err.pos.line >= 1 for err in e.errors), str(e)
    except LockError as e:
        assert LOCATED.search(str(e)) or "imagineer.lock:" in str(e), str(e)


@settings(max_examples=150, deadline=8000, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["spec", "settings"]), choice=st.integers(0, 10_000), op=st.integers(0, 4),
       extreme=st.sampled_from(EXTREMES), cut=st.floats(0, 1))
def test_fuzzed_specs_and_settings_are_accepted_or_located(fuzz_root, which, choice, op, extreme, cut):
    spec, sett = fuzz_root / "specs" / "main.yaml", fuzz_root / "imagineer.yaml"
    target, original = (spec, SPEC) if which == "spec" else (sett, SETTINGS)
    target.write_text(_mutate(original, choice, op, extreme, cut))
    t0 = time.monotonic()
    try:
        _load_and_plan(fuzz_root)
    finally:
        spec.write_text(SPEC)
        sett.write_text(SETTINGS)
    assert time.monotonic() - t0 < 8


@settings(max_examples=40, deadline=8000, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
                      st.sampled_from(["version: 1\ntargets:\n  photos: {key: " + "0" * 32 + ", artifact: 7}\n",
                                       "version: 1\ntargets: !!binary aGVsbG8=\n", "a: &a [*a]\n"])))
def test_fuzzed_locks_are_located(fuzz_root, text):
    lock = fuzz_root / "imagineer.lock"
    lock.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        _load_and_plan(fuzz_root)
    finally:
        lock.unlink()


@settings(max_examples=40, deadline=8000, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=200), st.sampled_from([
    "a.png: [1, 2]\n", "a.png: {nsfw: NOPE}\n", "a.png: {caption: !!python/name:os.system ''}\n",
    "? [a]\n: b\n", "a.png: {caption: " + "x" * 5000 + "}\n"])))
def test_fuzzed_overrides_files_fail_the_target_with_a_located_message(fuzz_root, text):
    from imagineer_build.kinds.label.overrides import OverridesError, load_overrides

    path = fuzz_root / "labels" / "fuzz.yaml"
    path.write_text(text)
    try:
        load_overrides(path, "labels/fuzz.yaml")
    except OverridesError as e:
        assert re.match(r"overrides labels/fuzz\.yaml:\d+:\d+: ", str(e)), str(e)


# ---- the classes found by hand, through the real CLI ------------------------------------------

BOMB = "".join(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}" if i else '"lol"'] * 9) + "]\n" for i in range(9))


@pytest.fixture
def hostile(tmp_path) -> Path:
    return make_project(tmp_path / "p")


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    p = root / rel
    text = p.read_text()
    assert old in text, old
    p.write_text(text.replace(old, new))


def _expect_located(root: Path, *fragments: str, args=("status",)) -> None:
    for a in (args, ("build", "--dry-run")):
        r = run_limited(root, *a)
        assert r.code == 2, (a, r.code, r.err)
        assert "Traceback" not in r.err and "internal error" not in r.err, r.err
        assert LOCATED.search(r.err), r.err
        for f in fragments:
            assert f in r.err, (f, r.err)
        assert r.seconds < 10


@pytest.mark.parametrize("where", ["specs/main.yaml", "imagineer.yaml"])
def test_an_alias_bomb_is_refused_fast(hostile, where):
    (hostile / where).write_text(BOMB + (hostile / where).read_text())
    _expect_located(hostile, "alias bomb")


@pytest.mark.parametrize("old, new, fragment", [
    ("dir: data/photos", "dir: /dev/zero", "character device"),
    ("dir: data/photos", "dir: data/deck.csv", "is a file; expected a folder"),
    ("dir: data/photos", "dir: /etc", "outside the project"),
    ("overrides: labels/overrides.yaml", "overrides: /dev/urandom", "character device"),
    ("template: data/deck.csv", "template: /dev/zero", "character device"),
    ("template: data/deck.csv", "template: /", "is a folder; expected a file"),
    ("template: data/deck.csv", "template: .", "is a folder; expected a file"),
    ("template: data/deck.csv", "template: ''", "is a folder; expected a file"),
    ("template: data/deck.csv", "template: data/fifo", "named pipe"),
    ("lr: 0.0001", "lr: .inf", "lr"),
    ("lr: 0.0001", "lr: .nan", "not a finite number"),
    ("resolution: 64", "resolution: 1000000000000000000000000000000", "out of range"),
    ("resolution: 64", "resolution: 100000", "resolution"),
    ("seed: 3", "seed: -1180591620717411303424", "out of range"),
    ("seed: 3", "seed: -5", "seed"),
    ("  deck:", "  " + "d" * 300 + ":", "at most 100"),
    ("labeler: sidecar", "labeler: !foo sidecar", "unknown YAML tag '!foo'"),
    ("trigger: zzz", "trigger: \"a\\0b\"\n    x: \x00", "not allowed in YAML"),
    ("size: [64, 64]", "size: [64, 65]", "multiples of 8"),
    ("template: data/deck.csv", 'template: "data/deck\\0.csv"', "NUL character"),
])
def test_spec_values_that_would_hang_crash_or_overflow_are_located(hostile, old, new, fragment):
    os.mkfifo(hostile / "data" / "fifo")
    _edit(hostile, "specs/main.yaml", old, new)
    _expect_located(hostile, fragment)


@pytest.mark.parametrize("old, new, fragment", [
    ("  loras: {rank: 4}", "  loras: {rank: 4, lr: .inf}", "lr: inf is not a finite number"),
    ("  loras: {rank: 4}", "  loras: {rank: 4, lr: -3}", "defaults.loras.lr"),
    ("  loras: {rank: 4}", "  sources: {dedupe_typo: 0}", "unknown key 'dedupe_typo'"),
    ("  loras: {rank: 4}", "  sourcez: {}", "unknown section 'sourcez'"),
    ("cache: cache", "cache: data/deck.csv", "is a file; expected a folder"),
    ("cache: cache", "cache: /tmp/elsewhere-cache", "outside the project"),
    ("out: out", "out: /", "outside the project"),
    ("threads: 1", "threads: 100000", "threads"),
    ('base: "builtin:tiny-sd"', "base: /dev/zero", "character device"),
    ("cache: cache", 'cache: "ca\\0che"', "NUL character"),
])
def test_settings_that_would_hang_or_escape_are_located(hostile, old, new, fragment):
    _edit(hostile, "imagineer.yaml", old, new)
    _expect_located(hostile, fragment)


def test_deep_nesting_and_control_characters(hostile):
    (hostile / "specs" / "deep.yaml").write_text("x: " + "[" * 5000 + "]" * 5000 + "\n")
    _expect_located(hostile, "specs/deep.yaml:1:1", "nested too deeply")
    (hostile / "specs" / "deep.yaml").write_text("sources:\n  bell: {dir: \"a\x07b\"}\n")
    _expect_located(hostile, "specs/deep.yaml:2:")


def test_spec_files_that_are_not_files(hostile):
    os.symlink("/dev/zero", hostile / "specs" / "zero.yaml")
    _expect_located(hostile, "specs/zero.yaml:1:1", "character device")
    (hostile / "specs" / "zero.yaml").unlink()
    os.mkfifo(hostile / "specs" / "pipe.yaml")
    _expect_located(hostile, "specs/pipe.yaml:1:1", "named pipe")
    (hostile / "specs" / "pipe.yaml").unlink()
    (hostile / "specs" / "folder.yaml").mkdir()
    _expect_located(hostile, "specs/folder.yaml:1:1", "a folder")


@pytest.mark.parametrize("setup, fragment", [
    (lambda root: (root / "specs" / "main.yaml").unlink(), "specs/ holds no .yaml files"),
    (lambda root: __import__("shutil").rmtree(root / "specs"), "specs/ does not exist"),
    (lambda root: (__import__("shutil").rmtree(root / "specs"), (root / "specs").write_text("x")),
     "specs/ is not a folder"),
])
def test_no_specs_is_an_error_not_a_silent_success(hostile, setup, fragment):
    setup(hostile)
    r = run_limited(hostile, "build")
    assert r.code == 2 and fragment in r.err, r.err


def test_hostile_files_in_an_input_folder_are_skipped_with_a_reason(hostile):
    photos = hostile / "data" / "photos"
    os.symlink("loop-b.png", photos / "loop-a.png")
    os.symlink("loop-a.png", photos / "loop-b.png")
    os.symlink("/dev/zero", photos / "zero.png")
    os.mkfifo(photos / "pipe.png")
    os.symlink(str(hostile), photos / "project-link")
    os.symlink("/etc/hostname", photos / "outside.png")
    (photos / os.fsdecode(b"bad-\xff-name.png")).write_bytes((photos / "a.png").read_bytes())
    (photos / "b.txt").write_bytes(b"a caption\x00with\x07 control bytes")
    (photos / "c.txt").write_bytes(b"tabs\tand\x1b[31m escapes\nnew line")
    r = run_limited(hostile, "status", timeout=30)
    assert r.code == 0, r.err
    r = run_limited(hostile, "build", "--json", "photo-labels", timeout=120)
    assert r.code == 0, r.err
    assert "Traceback" not in r.err
    show = run_limited(hostile, "show", "photos", "--json")
    report = {s["path"]: s["reason"] for s in __import__("json").loads(show.out)["meta"]["report"]["skipped"]}
    assert report["loop-a.png"] == "symbolic link loop: skipped"
    assert report["zero.png"] == "a character device, not a file: skipped"
    assert report["pipe.png"] == "a named pipe, not a file: skipped"
    assert report["project-link"].startswith("link out of the folder")
    assert report["outside.png"].startswith("link out of the folder")
    assert report["bad-\ufffd-name.png"].startswith("file name is not UTF-8")
    assert report["b.txt"] == "caption holds NUL bytes (a binary file?)"
    labels = __import__("json").loads(run_limited(hostile, "show", "photo-labels", "--json").out)
    captions = [lab["caption"] for lab in labels["meta"]["labels"].values()]
    assert "tabs and [31m escapes new line" in captions
    assert not any(ch in (c or "") for c in captions for ch in "\x00\x07\x1b\t\n")
    again = run_limited(hostile, "build", "--json", "photo-labels", timeout=120)
    assert again.code == 0 and "changed while" not in again.out + again.err


def test_a_full_disk_stops_the_build_with_a_message_and_a_consistent_store(hostile, tmp_path):
    from PIL import Image

    photos = hostile / "data" / "photos"
    import random

    rng = random.Random(0)
    for i in range(12):  # 12 × ~3 MB of noise: more than the disk holds
        Image.frombytes("RGB", (1024, 1024), rng.randbytes(1024 * 1024 * 3)).save(photos / f"noise{i}.png")
    disk = tmp_path / "disk"
    with small_disk(disk, 20) as mounted:
        if not mounted:
            pytest.fail("this test needs `mount -t tmpfs` (run as root, as CI does)")
        env = {"IMAGINEER_CACHE": str(disk / "cache")}
        r = run_limited(hostile, "build", "photos", timeout=120, env=env)
        assert r.code == 1, r.err
        assert "no space left on device" in r.err and str(disk) in r.err, r.err
        assert "Traceback" not in r.err and "internal error" not in r.err
    # the same store on a roomy disk: the build completes and verify-cache finds nothing damaged
    with small_disk(disk, 200):
        env = {"IMAGINEER_CACHE": str(disk / "cache")}
        assert run_limited(hostile, "build", "photos", timeout=120, env=env).code == 0
        assert run_limited(hostile, "verify-cache", env=env).code == 0


def test_a_read_only_store_is_named(hostile, tmp_path):
    disk = tmp_path / "ro"
    with small_disk(disk, 10) as mounted:
        if not mounted:
            pytest.fail("this test needs `mount -t tmpfs` (run as root, as CI does)")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        r = run_limited(hostile, "build", "photos", env={"IMAGINEER_CACHE": str(disk / "cache")})
        assert r.code == 1 and "Read-only file system" in r.err and str(disk) in r.err, r.err
        assert "Traceback" not in r.err


def _start_build(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([*imagineer_exe(), "build", "--json", *args], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})


def _wait_for_start(p: subprocess.Popen, target: str) -> None:
    for line in p.stdout:
        if f'"event": "start", "target": "{target}"' in line:
            return
    raise AssertionError(f"{target} never started: {p.stderr.read()}")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_during_a_model_load_exits_within_two_seconds(hostile, sig):
    p = _start_build(hostile, "deck", "--set", "deck:loras=[]")
    _wait_for_start(p, "deck")  # the tiny model is being made and loaded now
    t0 = time.monotonic()
    p.send_signal(sig)
    p.wait(timeout=30)
    elapsed = time.monotonic() - t0
    err = p.stderr.read()
    assert p.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err, err
    assert elapsed <= 2.0, elapsed
    r = run_limited(hostile, "build", "deck", "--set", "deck:loras=[]", timeout=300)
    assert r.code == 0, r.err  # the store took no harm


@pytest.mark.slow
def test_a_second_interrupt_exits_at_once(hostile):
    p = _start_build(hostile, "deck", "--set", "deck:loras=[]")
    _wait_for_start(p, "deck")
    p.send_signal(signal.SIGINT)
    time.sleep(0.05)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)
    assert p.returncode == 130
    assert time.monotonic() - t0 < 1.0
