"""Helpers for the review web app tests: a small built project, the real `imagineer serve`
started on a free port, and Debian's Chromium through Playwright."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

from conftest import Project, imagineer_exe

SETTINGS = """
cache: cache
out: out
threads: 1
models:
  tiny: {base: "builtin:tiny-sd", arch: sd15}
  clip: {base: "builtin:tiny-clip", arch: clip}
  cap: {base: "builtin:tiny-vlm"}
"""
# 2 rows x 3 hair colours x 2 cuts = 12 images at 64 px, 2 steps: seconds on a CPU.
SPEC = """
generations:
  cards:
    template: data/rows.csv
    prompt: "{character} in {outfit}, {HairColor} hair, {HairCut} haircut"
    name: "{character}"
    variations: {HairColor: [red, blue, green], HairCut: [mohawk, bob]}
    model: tiny
    size: [64, 64]
    steps: 2
    seed: 1
scores:
  cards-q: {of: cards, model: clip, variations: [HairColor, HairCut], columns: [character], overrides: flags/cards-q.yaml}
labels:
  cards-labels:
    of: cards
    labeler: manifest
    overrides: labels/cards-labels.yaml
    review: {by: cap, max_new_tokens: 8}
datasets:
  cards-ds: {from: [cards-labels], trigger: crd, resolution: 64}
"""
SECRET = "sk-ant-app-test-secret-0123456789"  # in the server's environment; never in a page
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-extensions"]


def make_project(root: Path) -> Project:
    (root / "specs").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "imagineer.yaml").write_text(textwrap.dedent(SETTINGS).lstrip())
    (root / "data" / "rows.csv").write_text("character,outfit\nknight,silver armour\nwitch,pointed hat\n")
    (root / "specs" / "main.yaml").write_text(textwrap.dedent(SPEC).lstrip())
    for rel in ("flags/cards-q.yaml", "labels/cards-labels.yaml"):  # the spec names them: they must exist
        (root / rel).parent.mkdir()
        (root / rel).write_text("# edited by people and by imagineer serve\n")
    return Project(root)


def chromium_path() -> str | None:
    from imagineer_build.kinds.source.scrape_render import DEFAULT_CHROMIUM

    for p in (os.environ.get("IMAGINEER_CHROMIUM"), DEFAULT_CHROMIUM, "/usr/bin/chromium"):
        if p and os.access(p, os.X_OK):
            return p
    return None


class Server:
    """`imagineer serve` in a child process; `url` is what it printed (token included)."""

    def __init__(self, root: Path, *args: str, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen([*imagineer_exe(), "serve", "--port", "0", *args], cwd=root,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        line = self.proc.stdout.readline()
        if not line.startswith("imagineer serve: "):
            self.proc.kill()
            raise RuntimeError(f"imagineer serve did not start: {line}{self.proc.stderr.read()}")
        self.url = line.split(": ", 1)[1].strip()
        self.base = self.url.split("?")[0]
        self.port = int(self.base.rstrip("/").rsplit(":", 1)[1])

    def close(self) -> str:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


def show(project: Project, target: str) -> dict:
    r = project.run("show", target, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def raw_get(port: int, path: str, host: str | None = None, headers: dict[str, str] | None = None):
    """A GET with the path sent exactly as given (no client-side `..` folding)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or f"127.0.0.1:{port}")
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def raw_post(port: int, path: str, body: dict, headers: dict[str, str] | None = None):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", path, json.dumps(body), {"content-type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


PEOPLE_SPEC = """
sources:
  photos: {dir: photos, dedup: {near: false}}
faces:
  family: {of: [photos], people: people/family.yaml}
"""
PHOTOS = ["eileen_original.png", "eileen_mirror.png", "eileen_bright.png",
          "grace_original.jpg", "grace_mirror.png", "grace_bright.png"]


def make_people(root: Path) -> Project:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "people"))
    from make_photos import make

    (root / "specs").mkdir(parents=True)
    (root / "people").mkdir()
    (root / "people" / "family.yaml").write_text("")
    (root / "imagineer.yaml").write_text("cache: cache\nout: out\n")
    (root / "specs" / "main.yaml").write_text(textwrap.dedent(PEOPLE_SPEC).lstrip())
    make(root / "photos", PHOTOS)
    return Project(root)


def csrf_of(port: int) -> str:
    import re

    return re.search(rb'name="imagineer-csrf" content="([^"]+)"', raw_get(port, "/")[2]).group(1).decode()


def read_events(port: int, after: int, until, timeout: float = 120) -> list[dict]:
    """Server-sent build events after id `after`, read until until(event) is true."""
    import http.client
    import time

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", f"/api/build/events?after={after}")
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("content-type").startswith("text/event-stream")
    events: list[dict] = []
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            line = resp.fp.readline().decode()
            if line.startswith("data: "):
                ev = json.loads(line[6:])
                events.append(ev)
                if until(ev):
                    return events
        raise AssertionError(f"no matching event in {timeout} s; got {events[-5:]}")
    finally:
        conn.close()
