"""Labels benchmark: N images labelled by the claude labeler against the local fake Messages API.

The fake (tests/fake_anthropic.py, a real HTTP server on 127.0.0.1) answers every call after a
fixed latency (50 ms by default), like a remote service would. Each operation runs the real
`imagineer build` in a fresh process:

  full labelling at concurrency 1, 8 and 32 (`--refresh`, so every image is asked again)
  · a no-op rebuild · one new image added (must cost exactly one API call)

Wall times are reported with ratios against concurrency 1 measured in the same run.

    .venv/bin/python bench/bench_labels.py [--images 1000] [--latency 0.05] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work" / "labels"
sys.path.insert(0, str(REPO / "tests"))
IMAGINEER = Path(sys.executable).parent / "imagineer"
KEY = "sk-bench-not-a-real-key"


def make_images(folder: Path, n: int, seed: int = 1) -> None:
    """n distinct 64 px noise PNGs (distinct bytes, so distinct digests and memo entries)."""
    from PIL import Image

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.frombytes("RGB", (64, 64), rng.randbytes(64 * 64 * 3)).save(folder / f"img_{i:05d}.png")


def build(root: Path, *args: str) -> tuple[float, dict]:
    env = {**os.environ, "ANTHROPIC_API_KEY": KEY}
    start = time.perf_counter()
    p = subprocess.run([str(IMAGINEER), "build", "--json", *args], cwd=root, env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(f"build failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    ev = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    caps = [e for e in ev if e.get("event") == "target" and e["target"] == "caps"]
    return wall, caps[0] if caps else {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds the fake API waits per call")
    ap.add_argument("--quick", action="store_true", help="200 images")
    args = ap.parse_args()
    n = 200 if args.quick else args.images
    from fake_anthropic import FakeAnthropic

    shutil.rmtree(WORK, ignore_errors=True)
    root = WORK / "proj"
    (root / "specs").mkdir(parents=True)
    (root / "imagineer.yaml").write_text("cache: cache\nout: out\nexecutor: {cpu: 2}\n")
    make_images(root / "data" / "images", n)
    rows: list[tuple[str, float, float, int, str]] = []
    with FakeAnthropic(api_key=KEY, latency=args.latency) as fake:
        (root / "specs" / "main.yaml").write_text(
            "sources:\n"
            "  images: {dir: data/images, filter: {min_size: [32, 32]}, dedup: {near: false}}\n"
            "labels:\n"
            f"  caps: {{of: images, labeler: claude, base_url: '{fake.url}', concurrency: 1}}\n")
        build(root, "images")  # the album first, so the rows below time labelling only
        for c in (1, 8, 32):
            before = fake.counts["messages"]
            wall, ev = build(root, "--refresh", "caps", "--set", f"caps:concurrency={c}")
            calls = fake.counts["messages"] - before
            assert calls == n, (calls, n)
            rows.append((f"label {n} images, concurrency {c}", wall, ev["seconds"], calls, ev["status"]))
        before = fake.counts["messages"]
        wall, ev = build(root)
        rows.append(("no-op rebuild", wall, ev["seconds"], fake.counts["messages"] - before, ev["status"]))
        make_images(root / "data" / "new", 1, seed=99)
        shutil.move(root / "data" / "new" / "img_00000.png", root / "data" / "images" / "zz_new.png")
        before = fake.counts["messages"]
        wall, ev = build(root)
        calls = fake.counts["messages"] - before
        assert calls == 1, calls
        rows.append(("one new image", wall, ev["seconds"], calls, ev["status"]))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import anthropic"], check=True)
    rows.append(("(python -c 'import anthropic')", time.perf_counter() - start, 0.0, 0, "fixed cost"))
    base = rows[0][1]
    print(f"labels benchmark: {n} images, fake API latency {args.latency * 1000:.0f} ms per call, "
          f"{os.cpu_count()} CPUs")
    print(f"{'operation':36} {'wall s':>8} {'target s':>9} {'vs c=1':>7} {'calls':>6}  status")
    for name, wall, secs, calls, status in rows:
        print(f"{name:36} {wall:8.2f} {secs:9.2f} {wall / base:7.3f} {calls:6}  {status}")
    ideal = n * args.latency
    print(f"(serial floor at concurrency 1: {ideal:.1f} s of API latency)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
