"""A small valid project to mutate, and ways to run the CLI under limits (time, memory, disk)."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from conftest import imagineer_exe

SETTINGS = """\
cache: cache
out: out
threads: 1
models:
  tiny: {base: "builtin:tiny-sd", arch: sd15}
defaults:
  labels: {max_tokens: 256}
  loras: {rank: 4}
"""

SPEC = """\
sources:
  photos:
    dir: data/photos
    filter: {min_size: [16, 16], max_aspect: 4.0}
    dedup: {threshold: 6}
labels:
  photo-labels:
    of: photos
    labeler: sidecar
    overrides: labels/overrides.yaml
datasets:
  photo-ds:
    from: [photo-labels]
    trigger: zzz
    caption: "{trigger}, {caption}"
    format: kohya
    resolution: 64
loras:
  photo-style:
    dataset: photo-ds
    model: tiny
    steps: 2
    lr: 0.0001
    seed: 3
generations:
  deck:
    template: data/deck.csv
    prompt: "{value} of {suit}"
    model: tiny
    loras: [{use: photo-style, weight: 0.5}]
    size: [64, 64]
    steps: 2
"""

OVERRIDES = "a.png: {caption: a hand-written caption, add_tags: [red]}\n"
CSV = "value,suit\nace,spades\n2,hearts\n"


def make_project(root: Path) -> Path:
    """The project above, with three tiny images and their sidecars."""
    import random

    from PIL import Image

    (root / "specs").mkdir(parents=True)
    (root / "imagineer.yaml").write_text(SETTINGS)
    (root / "specs" / "main.yaml").write_text(SPEC)
    photos = root / "data" / "photos"
    photos.mkdir(parents=True)
    rng = random.Random(7)
    for name in "abc":  # noise: three images no perceptual hash calls duplicates
        Image.frombytes("RGB", (32, 32), rng.randbytes(32 * 32 * 3)).save(photos / f"{name}.png")
        (photos / f"{name}.txt").write_text(f"a picture {name}")
    (root / "data" / "deck.csv").write_text(CSV)
    (root / "labels").mkdir()
    (root / "labels" / "overrides.yaml").write_text(OVERRIDES)
    return root


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    seconds: float


def run_limited(root: Path, *args: str, timeout: float = 20, memory_mb: int = 1500,
                env: dict | None = None) -> Outcome:
    """The real CLI with an address-space cap: a runaway allocation dies as MemoryError (which
    would print a traceback and fail the test) instead of taking the machine down."""

    def limit() -> None:
        cap = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    t0 = time.monotonic()
    p = subprocess.run([*imagineer_exe(), *args], cwd=root, capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "COLUMNS": "200", **(env or {})}, preexec_fn=limit)
    return Outcome(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


@contextlib.contextmanager
def small_disk(path: Path, size_mb: int):
    """A tmpfs of size_mb at path (the test runs as root here and in CI); yields True when
    mounted, False when this machine cannot mount (then the caller uses another fault)."""
    path.mkdir(parents=True, exist_ok=True)
    ok = shutil.which("mount") and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)], capture_output=True).returncode == 0
    try:
        yield bool(ok)
    finally:
        if ok:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def python() -> str:
    return sys.executable
