"""Images per second on the embedded tiny SD 1.5: our generation target against two baselines.

- ours: `imagineer build` of a generation target (one process, warm pipeline, batch 4)
- original: the old app's design, a fresh process per image that loads the pipeline, makes one image
- plain: a plain diffusers loop in one process (load once, batches of 4, a generator per image)

Every variant is timed as whole processes (what a user waits for), and ours and plain also from
inside the process (torch import, model load, generation), in the same run on the same machine;
ours and plain run --repeat times alternately and the best run counts (the machine is shared).
Results are ratios; absolute numbers depend on the machine.

    .venv/bin/python bench/bench_generation.py [--images 24] [--steps 8] [--size 64] [--original 4]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN = r"""
import sys, time
t0 = time.perf_counter()
import torch
from diffusers import StableDiffusionPipeline
folder, n, steps, size, threads, out, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], int(sys.argv[7])
torch.set_num_threads(threads)
pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False, local_files_only=True)
pipe.set_progress_bar_config(disable=True)
prompts = [f"card {i}, ornate border" for i in range(n)]
for s in range(0, n, batch):
    chunk = prompts[s:s + batch]
    gens = [torch.Generator().manual_seed(1000 + s + k) for k in range(len(chunk))]
    images = pipe(chunk, negative_prompt=["blurry, low quality"] * len(chunk), num_inference_steps=steps,
                  guidance_scale=8.0, height=size, width=size, generator=gens).images
    for k, im in enumerate(images):
        im.save(f"{out}/{s + k:04d}.png")
print("INPROCESS", time.perf_counter() - t0)
"""


def run(cmd: list[str], cwd: Path | None = None) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd[:3])}…\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    return time.perf_counter() - t, p.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--original", type=int, default=4, help="processes timed for the original design")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2, help="runs of ours and plain; the best counts")
    ap.add_argument("--quick", action="store_true", help="12 images, 2 original processes, one run each")
    args = ap.parse_args()
    if args.quick:
        args.images, args.original, args.repeat = 12, 2, 1
    py = sys.executable
    exe = shutil.which("imagineer", path=str(Path(py).parent)) or "imagineer"

    from imagineer_build.models.builtin import builtin_folder, ensure_builtin

    with tempfile.TemporaryDirectory(prefix="bench-gen-") as tmp:
        tmp = Path(tmp)
        shared = tmp / "models-store"
        folder = ensure_builtin(shared, "tiny-sd")  # built once, outside every timing

        # ours
        proj = tmp / "proj"
        (proj / "specs").mkdir(parents=True)
        (proj / "data").mkdir()
        (proj / "imagineer.yaml").write_text(
            f"cache: cache\nout: out\nthreads: {args.threads}\nmodels:\n  tiny: {{base: 'builtin:tiny-sd'}}\n")
        with open(proj / "data/deck.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["card"])
            w.writerows([[f"card {i}"] for i in range(args.images)])
        (proj / "specs/gen.yaml").write_text(
            "generations:\n  deck:\n    template: data/deck.csv\n    prompt: '{card}, ornate border'\n"
            f"    model: tiny\n    size: [{args.size}, {args.size}]\n    steps: {args.steps}\n    batch_size: 4\n")
        target = builtin_folder(proj / "cache", "tiny-sd")
        target.parent.mkdir(parents=True)
        shutil.copytree(folder, target)
        plain_out = tmp / "plain"
        ours_wall = ours_in = plain_wall = plain_in = float("inf")
        for _ in range(args.repeat):
            for old in (proj / "cache").iterdir():  # a cold store each run, keeping the built model
                if old.name != "models":
                    shutil.rmtree(old) if old.is_dir() else old.unlink()
            wall, out = run([exe, "build", "--json"], cwd=proj)
            ev = next(json.loads(line) for line in out.splitlines()
                      if line.startswith("{") and '"event": "target"' in line)
            assert ev["status"] == "built" and ev["memo"]["generation.image"]["misses"] == args.images, ev
            ours_wall, ours_in = min(ours_wall, wall), min(ours_in, ev["seconds"])
            shutil.rmtree(plain_out, ignore_errors=True)
            plain_out.mkdir()
            wall, out = run([py, "-c", PLAIN, str(folder), str(args.images), str(args.steps), str(args.size),
                             str(args.threads), str(plain_out), "4"])
            plain_wall, plain_in = min(plain_wall, wall), min(plain_in, float(out.split("INPROCESS")[1].split()[0]))

        # the original design: one process per image
        orig_out = tmp / "orig"
        orig_out.mkdir()
        orig_wall = 0.0
        for i in range(args.original):
            one = orig_out / str(i)
            one.mkdir()
            t, _ = run([py, "-c", PLAIN, str(folder), "1", str(args.steps), str(args.size), str(args.threads),
                        str(one), "1"])
            orig_wall += t

    rates = {
        "ours (imagineer build, batch 4)": args.images / ours_wall,
        "plain diffusers loop (batch 4)": args.images / plain_wall,
        "original (process per image)": args.original / orig_wall,
    }
    print(f"tiny SD 1.5, {args.size}x{args.size}, {args.steps} steps, {args.threads} torch thread(s), "
          f"{args.images} images ({args.original} for the original design)")
    print("whole processes (what a user waits for):")
    for k, v in rates.items():
        print(f"  {k:34s} {v:7.2f} images/s")
    print(f"  ours / original      = {rates['ours (imagineer build, batch 4)'] / rates['original (process per image)']:.1f}x"
          "   (goal >= 5x)")
    print(f"  ours / plain loop    = {rates['ours (imagineer build, batch 4)'] / rates['plain diffusers loop (batch 4)']:.2f}"
          "   (goal >= 0.90)")
    print("inside the process (torch import, model load, generation; no interpreter start):")
    print(f"  ours  {args.images / ours_in:7.2f} images/s   plain  {args.images / plain_in:7.2f} images/s   "
          f"ours / plain = {plain_in / ours_in:.2f}")


if __name__ == "__main__":
    main()
