"""The whole chain at scale: does one more image or CSV row cost one item of work?

Two projects over the same N procedural images (with sidecar captions):
  source-only  · sources
  chain        · sources → labels (sidecar) → datasets (kohya), and a generation of R CSV rows
                 on the builtin tiny model (32 px, 1 step)
Each operation runs in a fresh process; the chain's "add one image" is compared with the
source-only project's, in the same run (the issue's goal: within 2×). Memo misses and the
out-view files that moved show the work done is the item's.

    .venv/bin/python bench/bench_chain.py [--images 2000] [--rows 2000] [--repeats 3] [--quick]

The issue's scale is --images 10000 --rows 20000 (hours of tiny-model sampling on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
from pathlib import Path

from bench_engine import IMAGINEER, PEAK_KB, REPO, median, timed

sys.path.insert(0, str(REPO / "examples"))
from make_images import make  # noqa: E402

WORK = Path(__file__).resolve().parent / "work" / "chain"
SETTINGS = "cache: cache\nout: out\nthreads: 1\nmodels:\n  tiny: {base: 'builtin:tiny-sd'}\n"
SOURCE = "sources:\n  photos: {dir: data/photos}\n"
CHAIN = SOURCE + """labels:
  caps: {of: photos, labeler: sidecar}
datasets:
  ds: {from: [caps], trigger: zqx}
generations:
  things:
    template: data/things.csv
    prompt: "a {color} {thing}"
    model: tiny
    size: [32, 32]
    steps: 1
"""
ENV = dict(os.environ)  # warm workers as a user gets them: the model stays loaded between builds


def write_rows(path: Path, n: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["thing", "color"])
        for i in range(n):
            w.writerow([f"thing number {i}", ("red", "blue", "green", "gold")[i % 4]])


def project(root: Path, spec: str, images: Path, rows: int) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    (root / "specs").mkdir(parents=True)
    (root / "imagineer.yaml").write_text(SETTINGS)
    (root / "specs" / "main.yaml").write_text(spec)
    shutil.copytree(images, root / "data" / "photos")
    write_rows(root / "data" / "things.csv", rows)
    return root


def build(root: Path, label: str) -> tuple[float, dict]:
    secs, out = timed([str(IMAGINEER), "build", "--json"], root, ENV, label)
    events = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    targets = {e["target"]: e for e in events if e.get("event") == "target"}
    return secs, targets


def add_image(root: Path, k: int) -> None:
    extra = root / "tmp-extra"
    make(extra, 1, seed=10_000 + k)
    for p in extra.iterdir():
        os.replace(p, root / "data" / "photos" / f"zz_added_{k}{p.suffix}")
    extra.rmdir()


def inodes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_ino for p in folder.rglob("*") if p.is_file()}


def misses(targets: dict) -> dict[str, int]:
    return {f"{t}:{ns}": c["misses"] for t, e in targets.items() for ns, c in e.get("memo", {}).items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="300 images, 300 rows, 2 repeats")
    args = ap.parse_args()
    if args.quick:
        args.images, args.rows, args.repeats = 300, 300, 2
    images = WORK / f"images-{args.images}"
    if not images.exists():
        make(images, args.images)
    src = project(WORK / "source-only", SOURCE, images, args.rows)
    chain = project(WORK / "chain", CHAIN, images, args.rows)

    t = time.perf_counter()
    build(src, "first")
    secs, first = build(chain, "first")
    print(f"first builds in {time.perf_counter() - t:.0f}s (chain {secs:.1f}s: "
          f"{first['things']['facts'].get('images')} generated images)", flush=True)

    res: dict[str, list[float]] = {"src_add": [], "chain_add": [], "chain_row": [], "chain_noop": []}
    work: dict[str, dict[str, int]] = {}
    moved: dict[str, int] = {}
    for k in range(args.repeats):
        add_image(src, k)
        res["src_add"].append(build(src, "add")[0])
        before = {n: inodes(chain / "out" / n) for n in ("photos", "ds", "things")}
        add_image(chain, k)
        secs, targets = build(chain, "add")
        res["chain_add"].append(secs)
        work["one image"] = misses(targets)
        write_rows(chain / "data" / "things.csv", args.rows + k + 1)
        secs, targets = build(chain, "row")
        res["chain_row"].append(secs)
        work["one CSV row"] = misses(targets)
        after = {n: inodes(chain / "out" / n) for n in before}
        moved = {n: sum(after[n].get(rel) != ino for rel, ino in before[n].items()) + len(after[n].keys() - before[n].keys())
                 for n in before}
        res["chain_noop"].append(build(chain, "noop")[0])
    timed([str(IMAGINEER), "workers", "stop"], chain, ENV)
    m = {k: median(v) for k, v in res.items()}
    print()
    print(f"{args.images} images, {args.rows} CSV rows; medians of {args.repeats}")
    print(f"{'operation':34} {'seconds':>8}")
    print(f"{'source only: one image added':34} {m['src_add']:8.2f}")
    print(f"{'chain: one image added':34} {m['chain_add']:8.2f}   {m['chain_add'] / m['src_add']:.1f}x the source-only case")
    print(f"{'chain: one CSV row added':34} {m['chain_row']:8.2f}   {m['chain_row'] / m['src_add']:.1f}x")
    print(f"{'chain: no-op':34} {m['chain_noop']:8.2f}")
    for what, counts in work.items():
        print(f"memo misses for {what}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print("out-view files relinked or added (image + row): " + ", ".join(f"{n} {c}" for n, c in moved.items()))
    print("peak memory: " + ", ".join(f"{k} {v / 1024:.0f} MB" for k, v in PEAK_KB.items()))


if __name__ == "__main__":
    main()
