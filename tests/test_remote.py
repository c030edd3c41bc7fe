"""A shared remote cache, with real peers: a folder (file://), S3 through moto's server, and an
HTTP cache server. Two "machines" are two project folders with their own stores."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Project, imagineer_exe
from remote_helpers import S3, SECRET, HttpCache, consistent, corrupt_blob

SPEC = """
sources:
  photos: {dir: data/shapes}
labels:
  photo-labels: {of: photos, labeler: sidecar}
datasets:
  photo-ds: {from: [photo-labels], trigger: zzz, caption: "{trigger}, {caption}", format: kohya, resolution: 64}
"""


def machine(root: Path, remote_line: str = "") -> Project:
    from make_images import make

    (root / "specs").mkdir(parents=True)
    (root / "imagineer.yaml").write_text("cache: cache\nout: out\n" + remote_line)
    (root / "specs" / "main.yaml").write_text(SPEC)
    make(root / "data" / "shapes", 12)
    return Project(root)


def out_files(p: Project) -> dict[str, bytes]:
    out = p.root / "out"
    return {str(f.relative_to(out)): f.read_bytes() for f in sorted(out.rglob("*")) if f.is_file()}


def starts(run) -> list[str]:
    return [e["target"] for e in run.events() if e["event"] == "start"]


def test_two_machines_share_results_through_a_folder(tmp_path):
    remote = tmp_path / "shared-cache"
    url = f"file://{remote}"
    a = machine(tmp_path / "a", f"remote: {{url: '{url}', push: true}}\n")
    first = a.build()
    assert first.code == 0, first.err
    assert consistent(remote) == []
    (tmp_path / "b").mkdir()
    b = machine(tmp_path / "b" / "elsewhere")
    shutil.copy(a.root / "imagineer.lock", b.root / "imagineer.lock")
    st = b.run("status", "--remote", url)
    assert [ln.split()[0] for ln in st.out.splitlines()] == ["remote"] * 3, st.out
    r = b.build("--frozen", "--remote-only", "--remote", url)
    assert r.code == 0, r.err
    assert set(r.statuses().values()) == {"cached"} and starts(r) == []  # no kind ran
    assert out_files(a) == out_files(b)
    assert b.run("status", "--remote", url).out.split()[0] == "fresh"
    # One new image on B: one probe; the eleven others come from the remote memo.
    (tmp_path / "c").mkdir()
    c = machine(tmp_path / "c" / "third")
    from PIL import Image

    Image.new("RGB", (160, 160), (10, 200, 30)).save(c.root / "data/shapes/new.png")
    r = c.build("--remote", url)
    assert r.code == 0, r.err
    photos = next(e for e in r.events() if e.get("event") == "target" and e["target"] == "photos")
    assert photos["memo"]["media.probe"] == {"hits": 12, "misses": 1}


def test_remote_only_names_the_target_and_key_it_cannot_find(tmp_path):
    remote = tmp_path / "empty-cache"
    remote.mkdir()
    b = machine(tmp_path / "b")
    r = b.build("--remote-only", "--remote", f"file://{remote}", "photos")
    assert r.code == 1
    failed = next(e for e in r.events() if e.get("event") == "target")
    assert "--remote-only: photos (key " in failed["error"] and f"on file://{remote}" in failed["error"]


def test_a_damaged_remote_blob_and_record_are_refused_and_rebuilt(tmp_path):
    remote = tmp_path / "shared"
    url = f"file://{remote}"
    a = machine(tmp_path / "a", f"remote: {{url: '{url}', push: true}}\n")
    assert a.build().code == 0
    lock = json.loads(json.dumps(__import__("yaml").safe_load((a.root / "imagineer.lock").read_text())))["targets"]
    # the dataset's manifest on the remote gets other bytes; the labels' record becomes garbage
    corrupt_blob(remote, lock["photo-ds"]["artifact"])
    record = remote / "ac" / lock["photo-labels"]["key"][:2] / lock["photo-labels"]["key"]
    record.write_bytes(b"\x00 not json")
    b = machine(tmp_path / "b")
    r = b.build("--remote", url)
    assert r.code == 0, r.err
    assert r.statuses() == {"photos": "cached", "photo-labels": "built", "photo-ds": "built"}
    logs = " ".join(e["message"] for e in r.events() if e["event"] == "log")
    assert f"refused blob {lock['photo-ds']['artifact']} from {url}" in logs
    assert f"action record {lock['photo-labels']['key'][:12]} on {url} is damaged" in logs
    assert b.run("verify-cache").code == 0  # nothing damaged was kept locally
    # in CI mode the same damage fails, naming the target and its key
    c = machine(tmp_path / "c")
    r = c.build("--remote-only", "--remote", url)
    assert r.code == 1 and "--remote-only: photo-labels (key " in r.out


def test_a_killed_push_leaves_the_remote_consistent_and_a_second_push_completes(tmp_path):
    from PIL import Image

    a = machine(tmp_path / "a")
    rng = random.Random(5)
    for i in range(40):  # enough blobs that a kill lands mid-push
        Image.frombytes("RGB", (96, 96), rng.randbytes(96 * 96 * 3)).save(a.root / f"data/shapes/noise{i:02d}.png")
    assert a.build().code == 0
    for trial in range(4):
        remote = tmp_path / f"remote{trial}"
        url = f"file://{remote}"
        p = subprocess.Popen([*imagineer_exe(), "push", "--remote", url], cwd=a.root, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(0.4 + 0.25 * trial)
        p.send_signal(signal.SIGKILL)
        p.wait()
        assert consistent(remote) == [] if remote.exists() else True
        r = a.run("push", "--remote", url)
        assert r.code == 0, r.err
        assert consistent(remote) == []
        assert len(list((remote / "ac").glob("*/*"))) == 3
        again = a.run("push", "--remote", url, "--json")
        assert json.loads(again.out)["blobs"] == 0  # a no-op push sends nothing


def test_http_cache_with_a_token_and_credentials_never_printed(tmp_path):
    with HttpCache(tmp_path / "http-root", token="tok-123") as cache:
        url = cache.url.replace("http://", "http://alice:hunter2@")
        a = machine(tmp_path / "a")
        assert a.build().code == 0
        denied = a.run("push", "--remote", url)
        assert denied.code == 1 and "check IMAGINEER_REMOTE_TOKEN" in denied.err
        assert "hunter2" not in denied.err + denied.out
        r = a.run("push", "--remote", url, env={"IMAGINEER_REMOTE_TOKEN": "tok-123"})
        assert r.code == 0, r.err
        assert "hunter2" not in r.err + r.out and "tok-123" not in r.err + r.out
        b = machine(tmp_path / "b")
        shutil.copy(a.root / "imagineer.lock", b.root / "imagineer.lock")
        pulled = b.run("pull", "--remote", url, env={"IMAGINEER_REMOTE_TOKEN": "tok-123"})
        assert pulled.code == 0, pulled.err
        assert out_files(a) == out_files(b)
        assert {m for m, _ in cache.requests} == {"HEAD", "PUT", "GET"}


@pytest.mark.slow
def test_s3_through_moto_two_machines_and_the_secret_stays_in_the_environment(tmp_path):
    with S3() as s3:
        a = machine(tmp_path / "a", s3.settings())
        r = a.build("--push")
        assert r.code == 0, r.err
        assert a.run("push").code == 0
        b = machine(tmp_path / "b", s3.settings())
        shutil.copy(a.root / "imagineer.lock", b.root / "imagineer.lock")
        r = b.build("--frozen", "--remote-only")
        assert r.code == 0, r.err
        assert starts(r) == [] and out_files(a) == out_files(b)
        objects = s3.objects()
        assert any(k.startswith("team/ac/") for k in objects) and any(k.startswith("team/memo/") for k in objects)
        for where in (a.root, b.root):
            for f in where.rglob("*"):
                if f.is_file() and not f.is_symlink():
                    assert SECRET.encode() not in f.read_bytes(), f
        assert all(SECRET.encode() not in v for v in objects.values())
        assert SECRET not in r.out + r.err
        del os.environ["AWS_SECRET_ACCESS_KEY"]


def test_a_target_rebuilt_over_minimal_remote_upstreams_gets_their_images(tmp_path):
    """--download minimal leaves remote hits' images on the remote; a dataset rebuilt over them
    (--refresh) gets the images it reads and makes machine A's bytes."""
    url = f"file://{tmp_path / 'shared-cache'}"
    a = machine(tmp_path / "a", f"remote: {{url: '{url}', push: true}}\n")
    assert a.build().code == 0
    b = machine(tmp_path / "b")

    def blobs(p: Project) -> set[str]:
        return {f.name for f in (p.root / "cache" / "blobs").rglob("*") if f.is_file()}

    r = b.build("--remote", url, "--download", "minimal", "photo-labels")
    assert r.code == 0, r.err
    assert starts(r) == []  # both remote hits
    from imagineer_build.core.hashing import digest_bytes

    images = {digest_bytes(f.read_bytes()) for f in (a.root / "out" / "photo-ds").rglob("*.png")}
    assert images and not images & blobs(b)  # their images stayed on the remote
    r = b.build("--remote", url, "--download", "minimal", "--refresh", "photo-ds", "photo-ds")
    assert r.code == 0, r.err
    assert starts(r) == ["photo-ds"]
    assert {k: v for k, v in out_files(b).items() if k.startswith("photo-ds/")} == \
        {k: v for k, v in out_files(a).items() if k.startswith("photo-ds/")}
