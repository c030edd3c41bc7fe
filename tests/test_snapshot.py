"""The project snapshot: a no-op `build` or `status` answered without loading the project,
and every change that could make a full load decide differently going the full way.

Each command runs the real CLI in a fresh interpreter, the same way every time (so the
interpreter and sys.path a snapshot is tied to stay the same), and reports on stderr whether
the project loader ran.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from engine_kinds import ENV, TESTS
from PIL import Image

from imagineer_build.api import open_project
from imagineer_build.core import snapshot
from imagineer_build.core.store import LocalStore

CLI = """
import atexit, sys
watch = ("imagineer_build.core.project", "pydantic", "yaml")
atexit.register(lambda: print("LOADED:" + ",".join(m for m in watch if m in sys.modules), file=sys.stderr))
sys.argv = ["imagineer", *sys.argv[1:]]
from imagineer_build.cli import main
main()
"""

SPEC = """
sources:
  shapes: {dir: data/shapes}
fakes:
  count: {uses: [shapes]}
  linked: {file: data/link}
  single: {file: data/one.txt}
probefakes:
  probed: {output: x}
"""


class Cli:
    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.env = root, env

    def __call__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> tuple[int, str, str, bool]:
        """(exit code, stdout, stderr without the probe line, whether the project was loaded)."""
        p = subprocess.run([sys.executable, "-c", CLI, *args], cwd=self.root, capture_output=True, text=True,
                           env={**self.env, **(env or {})}, timeout=timeout)
        probe = [x for x in p.stderr.splitlines() if x.startswith("LOADED:")]
        assert probe, p.stdout + p.stderr
        loaded = probe[-1][len("LOADED:"):].split(",")
        err = "\n".join(x for x in p.stderr.splitlines() if not x.startswith("LOADED:"))
        return p.returncode, p.stdout, err, "imagineer_build.core.project" in loaded

    def events(self, *args: str, env: dict[str, str] | None = None) -> tuple[list[dict], bool]:
        code, out, err, loaded = self("build", "--json", *args, env=env)
        assert code == 0, err
        events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        for e in events:  # without timings, and in one order (a full build's follows completion)
            e.pop("seconds", None)
            for k in ("built", "cached"):
                e.get(k, []).sort()
        return sorted(events, key=lambda e: (e["event"], e.get("target", ""))), loaded


def untimed(text: str) -> list[list[str]]:
    """Rendered target lines without their timing column."""
    return [parts[:2] + parts[3:] for parts in (line.split("  ") for line in text.splitlines())]


def statuses(events: list[dict]) -> dict[str, str]:
    return {e["target"]: e["status"] for e in events if e.get("event") == "target"}


@pytest.fixture
def cli(project, shapes, tmp_path) -> Cli:
    """A project of a dir source, two fakes and a probefake; the test kinds are a copy of
    engine_kinds.py, so a test can change their code."""
    kinds = tmp_path / "kinds"
    kinds.mkdir()
    shutil.copy(TESTS / "engine_kinds.py", kinds / "engine_kinds.py")
    (project.root / "data" / "a").mkdir()
    (project.root / "data" / "a" / "note.txt").write_text("same\n")
    shutil.copytree(project.root / "data" / "a", project.root / "data" / "b")
    (project.root / "data" / "link").symlink_to("a")
    (project.root / "data" / "one.txt").write_text("one\n")
    project.spec(SPEC)
    env = {**os.environ, **ENV, "PYTHONPATH": str(kinds), "COLUMNS": "200",
           "IMAGINEER_SNAPSHOTS": str(tmp_path / "snapshots")}
    run = Cli(project.root, env)
    events, loaded = run.events()
    assert loaded and set(statuses(events).values()) == {"built"}
    return run


def test_a_noop_build_and_status_load_nothing_and_say_what_a_full_load_says(cli):
    fast, loaded = cli.events()
    assert not loaded
    slow, loaded_off = cli.events(env={"IMAGINEER_SNAPSHOTS": "off"})
    assert loaded_off
    assert fast == slow and set(statuses(fast).values()) == {"cached"}
    assert cli.events()[1] is False  # the snapshot is still there after a run without it

    code, out, err, loaded = cli("build")  # the text output too
    _, out_off, err_off, _ = cli("build", env={"IMAGINEER_SNAPSHOTS": "off"})
    assert (code, loaded) == (0, False)
    assert sorted(untimed(err)) == sorted(untimed(err_off)) and "out views in" in err

    code, out, err, loaded = cli("status")
    _, out_off, _, _ = cli("status", env={"IMAGINEER_SNAPSHOTS": "off"})
    assert (code, loaded) == (0, False) and out == out_off and out.count("fresh") == 5

    code, out, _, loaded = cli("build", "--json", "count")  # a selection: the target and its upstream
    assert (code, loaded) == (0, False)
    assert statuses([json.loads(x) for x in out.splitlines()]) == {"shapes": "cached", "count": "cached"}
    code, out, _, loaded = cli("status", "probed")
    assert (code, loaded) == (0, False) and out.startswith("fresh  probed")

    for args in (["status"], ["build", "--json"]):  # not even the spec libraries are imported
        proc = subprocess.run([sys.executable, "-c", CLI, *args], cwd=cli.root, env=cli.env, capture_output=True,
                              text=True, timeout=120)
        assert proc.stderr.strip().splitlines()[-1] == "LOADED:", args


def _edit_image(root: Path, env: dict) -> None:
    path = sorted((root / "data" / "shapes").glob("*.png"))[0]
    with Image.open(path) as im:
        im = im.convert("RGB")
    im.putpixel((0, 0), (1, 2, 3) if im.getpixel((0, 0)) != (1, 2, 3) else (4, 5, 6))
    im.save(path)


def _damage_manifest(root: Path, env: dict) -> None:
    lock = (root / "imagineer.lock").read_text()
    digest = lock.split("shapes:")[1].split("artifact: ")[1].split()[0]
    path = LocalStore(root / "cache").blob_path(digest)
    path.chmod(0o644)
    path.write_bytes(b"{}")


def _code(root: Path, env: dict) -> None:
    module = Path(env["PYTHONPATH"]) / "engine_kinds.py"
    module.write_text(module.read_text() + "\n# edited\n")


def _lock(root: Path, env: dict) -> None:
    lock = root / "imagineer.lock"
    lock.write_text(lock.read_text().replace("items: 0", "items: 7", 1))


# change → the targets it rebuilds (everything else must be cached)
CHANGES = {
    "an input image": (_edit_image, {"shapes", "count"}),
    "a spec value": (lambda root, env: (root / "specs" / "main.yaml").write_text(SPEC.replace("output: x", "output: y")),
                     {"probed"}),
    "a new spec file": (lambda root, env: (root / "specs" / "more.yaml").write_text("fakes:\n  more: {output: m}\n"),
                        {"more"}),
    "imagineer.yaml": (lambda root, env: (root / "imagineer.yaml").write_text("cache: cache\nout: out\nname: p\n"),
                       set()),
    "a path a kind probed": (lambda root, env: (root / "probe-x").write_text(""), {"probed"}),
    "a linked input's target": (lambda root, env: (os.remove(root / "data" / "link"),
                                                   (root / "data" / "link").symlink_to("b")), set()),
    "a kind's code": (_code, set()),
    "an IMAGINEER_ variable": (lambda root, env: env.update(IMAGINEER_SOMETHING="1"), set()),
    "imagineer.lock": (_lock, set()),
    "an out view": (lambda root, env: shutil.rmtree(root / "out" / "count"), set()),
    "where out/ resolves": (lambda root, env: (os.rename(root / "out", root / "views"),
                                               (root / "out").symlink_to("views")), set()),
    "a damaged cache": (_damage_manifest, {"shapes"}),
    "the snapshot file": (lambda root, env: [p.write_bytes(b"\x00garbage")
                                             for p in Path(env["IMAGINEER_SNAPSHOTS"]).glob("*.snap")], set()),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_change_a_full_load_could_see_goes_the_full_way(cli, change):
    assert cli.events()[1] is False
    lock_before = (cli.root / "imagineer.lock").read_bytes()
    mutate, rebuilt = CHANGES[change]
    env: dict[str, str] = dict(cli.env)
    mutate(cli.root, env)
    events, loaded = cli.events(env=env)
    assert loaded, f"{change}: answered from a stale snapshot"
    got = statuses(events)
    assert {t for t, s in got.items() if s == "built"} == rebuilt, got
    assert all(s in ("built", "cached") for s in got.values())
    if not rebuilt and change != "a new spec file":
        assert (cli.root / "imagineer.lock").read_bytes() == lock_before  # the full build put the lock back
    assert (cli.root / "out" / "count" / "out.txt").exists()
    again, loaded = cli.events(env=env)  # and the next no-op is fast again
    assert not loaded and set(statuses(again).values()) == {"cached"}


def test_an_unknown_target_and_a_held_store_are_left_to_the_full_path(cli):
    code, _, err, loaded = cli("build", "nope")
    assert (code, loaded) == (2, True) and "unknown target 'nope'" in err
    fd = os.open(cli.root / "cache" / "build.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        code, _, err, loaded = cli("build", "--no-wait")
    finally:
        os.close(fd)
    assert (code, loaded) == (1, True) and "locked" in err
    code, _, _, loaded = cli("build", "--set", "count:output=z")
    assert (code, loaded) == (0, True)
    events, loaded = cli.events()  # the lock names count's --set key now: a full build puts it back
    assert loaded and statuses(events)["count"] == "cached"
    assert cli.events()[1] is False

    os.remove(cli.root / "data" / "one.txt")
    os.mkfifo(cli.root / "data" / "one.txt")  # read, it would hang the build: the load refuses it
    code, _, err, loaded = cli("build", timeout=60)
    assert (code, loaded) == (2, True) and "named pipe" in err
    os.remove(cli.root / "data" / "one.txt")
    (cli.root / "data" / "one.txt").write_text("one\n")
    assert cli.events()[1] is False

    shutil.rmtree(cli.root / "data" / "a")  # another target's input: a full load reports it
    code, _, err, loaded = cli("build", "count")
    assert (code, loaded) == (2, True) and "data/link" in err
    code, _, _, loaded = cli("status", "count")
    assert (code, loaded) == (2, True)


def test_a_spec_edited_while_the_project_loads_gets_no_snapshot(project, shapes):
    project.spec("sources:\n  shapes: {dir: data/shapes}\n")
    began = snapshot.begin(project.root)
    proj = open_project(project.root)
    settings = proj.settings_dict()
    assert snapshot.prepare(proj, settings, began) is not None
    project.spec("sources:\n  shapes: {dir: data/shapes, sidecar_ext: .caption}\n")
    assert snapshot.prepare(proj, settings, began) is None
    now = snapshot.begin(project.root)
    assert snapshot.prepare(proj, settings, now) is not None
    assert snapshot.prepare(proj, settings, {**now, "ns": 0}) is None  # code newer than the command


def test_snapshots_hold_no_secret_and_projects_with_a_remote_get_none(cli, tmp_path):
    secret = "s3cr3t-token-value"
    cli.events(env={"IMAGINEER_REMOTE_TOKEN": secret})
    snaps = list(Path(cli.env["IMAGINEER_SNAPSHOTS"]).glob("*.snap"))
    assert len(snaps) == 1 and secret.encode() not in snaps[0].read_bytes()

    shutil.rmtree(Path(cli.env["IMAGINEER_SNAPSHOTS"]))
    (cli.root / "imagineer.yaml").write_text(f"cache: cache\nout: out\nremote: {{url: 'file://{tmp_path / 'remote'}'}}\n")
    for args in ((), ("--no-remote",)):
        events, loaded = cli.events(*args)
        assert loaded and set(statuses(events).values()) == {"cached"}
    assert not list(Path(cli.env["IMAGINEER_SNAPSHOTS"]).glob("*.snap"))


WALKS = """
import atexit, sys
import imagineer_build.core.files as files
walked, walk = [], files.walk_files
files.walk_files = lambda root, *a, **k: walked.append(str(root)) or walk(root, *a, **k)
atexit.register(lambda: print("WALKED:" + ",".join(sorted(walked)), file=sys.stderr))
sys.argv = ["imagineer", *sys.argv[1:]]
from imagineer_build.cli import main
main()
"""


@pytest.mark.parametrize("command", ["build", "status"])
def test_a_snapshot_that_misses_hands_its_listings_to_the_full_path(cli, command):
    """A changed image: the snapshot's check walks the folder, finds the change and gives up;
    the full load that follows takes what it listed instead of walking the folder again."""
    def walked(*env) -> list[str]:
        p = subprocess.run([sys.executable, "-c", WALKS, command], cwd=cli.root, capture_output=True, text=True,
                           env={**cli.env, **dict(env)}, timeout=300)
        assert p.returncode == 0, p.stderr
        line = [x for x in p.stderr.splitlines() if x.startswith("WALKED:")][-1][len("WALKED:"):]
        return [Path(w).name for w in line.split(",") if w]

    assert cli.events()[1] is False
    _edit_image(cli.root, cli.env)
    assert walked() == ["link", "shapes"]  # data/link is a folder input too
    if command == "status":
        assert walked(("IMAGINEER_SNAPSHOTS", "off")) == ["link", "shapes"]
    else:
        events, loaded = cli.events()
        assert not loaded and set(statuses(events).values()) == {"cached"}  # built, and fast again
