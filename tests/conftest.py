"""Shared test helpers: temp projects and the real `imagineer` entry point.

Area-specific fixtures live in their own tests/*_helpers.py modules, not here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

import imagineer_build  # noqa: F401 — pins the CPU kernels before any test module imports torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))


def imagineer_exe() -> list[str]:
    exe = shutil.which("imagineer", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "imagineer_build"]


@dataclass
class Run:
    code: int
    out: str
    err: str

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.out.splitlines() if line.startswith("{")]

    def statuses(self) -> dict[str, str]:
        return {e["target"]: e["status"] for e in self.events() if e.get("event") == "target"}


@dataclass
class Project:
    root: Path

    def write(self, rel: str, text: str) -> Path:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return p

    def spec(self, text: str, name: str = "main.yaml") -> Path:
        return self.write(f"specs/{name}", text)

    def run(self, *args: str, env: dict | None = None, timeout: float = 600) -> Run:
        e = {**os.environ, "COLUMNS": "200", **(env or {})}
        p = subprocess.run([*imagineer_exe(), *args], cwd=self.root, capture_output=True, text=True,
                           env=e, timeout=timeout)
        return Run(p.returncode, p.stdout, p.stderr)

    def build(self, *args: str, **kw) -> Run:
        return self.run("build", "--json", *args, **kw)


@pytest.fixture(scope="session", autouse=True)
def warm_workers(tmp_path_factory):
    """Warm workers the tests start keep their sockets here, leave after 30 idle seconds, and
    are all stopped when the session ends: a test run leaves no process behind. Project
    snapshots go here too."""
    from imagineer_build.core.executors.workers import ask

    runtime = tmp_path_factory.mktemp("rt")
    os.environ["IMAGINEER_RUNTIME_DIR"] = str(runtime)
    os.environ["IMAGINEER_WORKER_IDLE"] = "30"
    os.environ["IMAGINEER_SNAPSHOTS"] = str(runtime / "snapshots")  # not the user's ~/.cache
    yield runtime
    for sock in runtime.glob("*.sock"):
        ask(sock, {"op": "stop"})


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """An empty project: imagineer.yaml and specs/."""
    root = tmp_path / "proj"
    (root / "specs").mkdir(parents=True)
    (root / "imagineer.yaml").write_text("cache: cache\nout: out\n")
    return Project(root)


@pytest.fixture
def shapes(project: Project) -> Path:
    """Twelve procedural images with sidecar captions in data/shapes."""
    from make_images import make

    make(project.root / "data" / "shapes", 12)
    return project.root / "data" / "shapes"
