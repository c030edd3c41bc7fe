"""Executors: the edit loop with and without a warm worker, per-target overhead on Ray, and a
sharded generation on Ray with 1 and 2 workers.

    .venv/bin/python bench/bench_executors.py [--quick] [--repeats 3] [--images 48] [--no-ray]

1. Edit loop: the example project (shapes → labels → dataset → LoRA → 54-card deck) is built
   once; then one CSV row of the deck is changed and `imagineer build shapes-deck` is timed as a
   whole process, cold (`--no-workers`: torch, the model and the LoRA load in the process) and
   warm (the worker kept them). Goal: warm ≤ 1.5 s and ≥ 5× faster than cold.
2. Per-target overhead: 200 trivial targets built by the local executor and by Ray.
3. Sharded generation: N images on builtin:tiny-sd with shards 1 and 2 on a local Ray cluster
   (this 2-core machine: expect at most 2×). On a GPU machine the same script prints images/s
   per GPU (`--gpus` = the cluster's GPUs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work" / "executors"
EXE = [str(Path(sys.executable).parent / "imagineer")]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
    return time.perf_counter() - t0


def edit_loop(repeats: int) -> dict[str, float]:
    root = WORK / "demo"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for name in ("imagineer.yaml", "specs", "examples"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    subprocess.run([sys.executable, str(root / "examples/make_images.py")], cwd=root, check=True, capture_output=True)
    print("building the example project once (not timed)…", flush=True)
    timed([*EXE, "build"], root)
    csv = root / "examples/cards/card_deck.csv"
    lines = csv.read_text().splitlines()

    def edit(k: int) -> None:
        rows = list(lines)
        rows[5] = rows[5].replace(",", f" v{k},", 1)  # the first cell of one row, a new value each time
        csv.write_text("\n".join(rows) + "\n")

    res: dict[str, list[float]] = {"cold": [], "warm": []}
    subprocess.run([*EXE, "workers", "stop"], cwd=root, capture_output=True)
    timed([*EXE, "build", "shapes-deck"], root)  # starts the worker and warms it
    for k in range(repeats):
        edit(100 + k)
        res["cold"].append(timed([*EXE, "build", "--no-workers", "shapes-deck"], root))
        edit(200 + k)
        res["warm"].append(timed([*EXE, "build", "shapes-deck"], root))
    subprocess.run([*EXE, "workers", "stop"], cwd=root, capture_output=True)
    csv.write_text("\n".join(lines) + "\n")
    return {k: statistics.median(v) for k, v in res.items()}


def fakes_project(root: Path, n: int, executor: str) -> None:
    shutil.rmtree(root, ignore_errors=True)
    (root / "specs").mkdir(parents=True)
    (root / "imagineer.yaml").write_text(f"cache: cache\nout: out\nexecutor: {executor}\n")
    (root / "specs/main.yaml").write_text("fakes:\n" + "".join(f"  t{i:03d}: {{output: x{i}}}\n" for i in range(n)))


def per_target(n: int) -> dict[str, float]:
    from imagineer_build.core.engine import BuildOptions, Engine
    from imagineer_build.core.project import Project

    out = {}
    for name, executor in (("local", "{kind: local, workers: false}"), ("ray", "{kind: ray, address: auto}")):
        root = WORK / f"fakes-{name}"
        fakes_project(root, n, executor)
        t0 = time.perf_counter()
        res = Engine(Project.load(root)).build(BuildOptions([]))
        out[name] = (time.perf_counter() - t0) / n
        assert all(r.status == "built" for r in res.values())
    return out


def sharded(images: int, gpus: int) -> dict[int, float]:
    from imagineer_build.core.engine import BuildOptions, Engine
    from imagineer_build.core.project import Project

    rows = "".join(f"{v},{s}\n" for v in range(images // 4 + 1) for s in ("spades", "hearts", "clubs", "diamonds"))
    out = {}
    for shards in sorted({1, 2, gpus}):
        root = WORK / f"shards-{shards}"
        shutil.rmtree(root, ignore_errors=True)
        (root / "specs").mkdir(parents=True)
        (root / "imagineer.yaml").write_text(
            f"cache: cache\nout: out\nexecutor: {{kind: ray, address: auto, shards: {shards}}}\n"
            "models:\n  tiny: {base: 'builtin:tiny-sd'}\n")
        (root / "deck.csv").write_text("value,suit\n" + "".join(rows.splitlines(True)[:images]))
        (root / "specs/main.yaml").write_text("generations:\n  deck: {template: deck.csv, prompt: '{value} of {suit}', "
                                              "model: tiny, size: [64, 64], steps: 8}\n")
        models = WORK / "models"  # the builtin model is made once, outside the timing
        if models.exists():
            shutil.copytree(models, root / "cache/models")
        t0 = time.perf_counter()
        res = Engine(Project.load(root)).build(BuildOptions([]))
        out[shards] = images / (time.perf_counter() - t0)
        assert res["deck"].status == "built", res["deck"].error
        if not models.exists():
            shutil.copytree(root / "cache/models", models)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--no-edit-loop", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.images, args.targets = 1, 16, 50
    WORK.mkdir(parents=True, exist_ok=True)
    lines = []
    if not args.no_edit_loop:
        e = edit_loop(args.repeats)
        lines.append(f"edit loop (one CSV row, whole process): cold {e['cold']:.2f} s, warm worker {e['warm']:.2f} s "
                     f"= {e['cold'] / e['warm']:.1f}x faster (goal: warm <= 1.5 s, >= 5x)")
        print(lines[-1], flush=True)
    if not args.no_ray:
        import ray
        from engine_kinds import ENV

        os.environ.update(ENV)  # the test kinds (fakes) must be importable in Ray's workers too

        gpus = 0
        try:
            import torch

            gpus = torch.cuda.device_count()
        except ImportError:
            pass
        ray.init(num_cpus=os.cpu_count(), num_gpus=gpus or 1, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "IMAGINEER_KINDS")}})
        p = per_target(args.targets)
        lines.append(f"per-target overhead ({args.targets} trivial targets): local {p['local'] * 1000:.1f} ms, "
                     f"ray {p['ray'] * 1000:.1f} ms ({p['ray'] / p['local']:.1f}x)")
        print(lines[-1], flush=True)
        s = sharded(args.images, max(1, gpus))
        rates = ", ".join(f"{k} shard{'s' if k > 1 else ''} {v:.1f} images/s" for k, v in sorted(s.items()))
        lines.append(f"sharded generation ({args.images} images, tiny-sd, {gpus or 'no'} GPU): {rates}; "
                     f"2 vs 1: {s[2] / s[1]:.2f}x" + (f"; per GPU {max(s.values()) / gpus:.1f} images/s" if gpus else ""))
        print(lines[-1], flush=True)
        ray.shutdown()
    print("\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
