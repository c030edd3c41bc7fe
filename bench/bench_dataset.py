"""Dataset benchmark: what one caption edit costs compared with building the dataset cold.

A project with N procedural images goes source → labels (sidecar) → dataset through the real
CLI. The cold build detects faces in every image; after one caption edit in the overrides file
the dataset rebuilds, reusing every face detection from the memo. Numbers are the dataset
target's own seconds (from the --json events) and their ratio within one run.

    .venv/bin/python bench/bench_dataset.py [--images 300] [--size 256]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "examples")]

from make_images import make  # noqa: E402

SPEC = """
sources:
  shapes: {dir: data/shapes, dedup: {near: false}}
labels:
  shapes-labels: {of: shapes, labeler: sidecar, overrides: edits.yaml}
datasets:
  ds: {from: [shapes-labels], trigger: shpz}
"""


def build(root: Path) -> dict[str, dict]:
    exe = Path(sys.executable).parent / "imagineer"
    p = subprocess.run([str(exe), "build", "--json"], cwd=root, capture_output=True, text=True, check=True)
    events = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    return {e["target"]: e for e in events if e.get("event") == "target"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "specs").mkdir()
        (root / "imagineer.yaml").write_text("cache: cache\nout: out\n")
        (root / "specs/main.yaml").write_text(SPEC)
        (root / "edits.yaml").write_text("")
        make(root / "data/shapes", args.images, size=args.size)
        cold = build(root)["ds"]
        (root / "edits.yaml").write_text("shape_000.png: {caption: an edited caption}\n")
        edit = build(root)["ds"]
        same = build(root)["ds"]
    result = {
        "images": args.images,
        "cold_s": cold["seconds"],
        "one_edit_s": edit["seconds"],
        "one_edit_over_cold": round(edit["seconds"] / cold["seconds"], 3),
        "one_edit_shot_memo": edit.get("memo", {}).get("dataset.shot"),
        "no_change_status": same["status"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
