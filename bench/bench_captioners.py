"""Captions per second from the local labelers against plain library loops over the same images.

vlm (builtin tiny LLaVA, greedy, the same instruction and max_new_tokens everywhere):
- plain: a plain transformers loop, one image per generate() call (load once, chat template,
  generate, decode) — the baseline
- ours, batch 1 and batch 8: the vlm labeler's compute step (open the image, Captioner.generate)
- whole processes: `imagineer build --refresh` of a labels target (batch 8) against the plain
  loop run as its own process (interpreter, imports, model load included)
tagger (builtin tiny WD14-layout tagger): a plain onnxruntime loop, one image per run, against
the tagger labeler's compute step with batches of 32.

In-process variants run --repeat times alternately and the best run counts (the machine is
shared); the captions of ours and plain are compared, so the work is the same. Results are ratios.

    .venv/bin/python bench/bench_captioners.py [--images 64] [--tokens 24] [--repeat 2] [--quick]
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
WORK = HERE / "work" / "captioners"
IMAGINEER = Path(sys.executable).parent / "imagineer"
sys.path.insert(0, str(REPO))

PLAIN = r"""
import sys, time, json
t0 = time.perf_counter()
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor
folder, instruction, tokens, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
paths = sys.argv[5:]
torch.set_num_threads(threads)
proc = AutoProcessor.from_pretrained(folder)
model = AutoModelForImageTextToText.from_pretrained(folder).eval()
out = []
for p in paths:
    image = Image.open(p).convert("RGB")
    conv = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": instruction}]}]
    inputs = proc.apply_chat_template(conv, add_generation_prompt=True, tokenize=True, return_dict=True,
                                      return_tensors="pt")
    with torch.inference_mode():
        ids = model.generate(**inputs, max_new_tokens=tokens, do_sample=False)
    out.append(proc.decode(ids[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip())
print("CAPTIONS", json.dumps(out))
print("INPROCESS", time.perf_counter() - t0)
"""


def make_images(folder: Path, n: int, seed: int = 3) -> list[Path]:
    from PIL import Image

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"img_{i:04d}.png"
        Image.frombytes("RGB", (128, 128), rng.randbytes(128 * 128 * 3)).save(p)
        paths.append(p)
    return paths


def plain_loop(proc, model, paths, instruction: str, tokens: int) -> list[str]:
    import torch
    from PIL import Image

    out = []
    for p in paths:
        image = Image.open(p).convert("RGB")
        conv = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": instruction}]}]
        inputs = proc.apply_chat_template(conv, add_generation_prompt=True, tokenize=True, return_dict=True,
                                          return_tensors="pt")
        with torch.inference_mode():
            ids = model.generate(**inputs, max_new_tokens=tokens, do_sample=False)
        out.append(" ".join(proc.decode(ids[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).split()))
    return out


def ours(captioner, paths, instruction: str, tokens: int, batch: int) -> list[str]:
    from imagineer_build.kinds.label.images import open_rgb

    out = []
    for s in range(0, len(paths), batch):
        chunk = paths[s:s + batch]
        out += captioner.generate([open_rgb(p) for p in chunk], [instruction] * len(chunk), tokens)
    return out


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def tagger_rows(models_dir: Path, paths: list[Path], repeat: int) -> tuple[float, float]:
    import numpy as np
    from PIL import Image

    from imagineer_build.models import ModelSpec
    from imagineer_build.models.tagger import prepare, warm

    tagger = warm(ModelSpec(base="builtin:tiny-tagger", arch="tagger"), REPO, models_dir)

    def plain():
        return [tagger.session.run(None, {tagger.input_name: prepare(Image.open(p), tagger.size)[None]})[0][0]
                for p in paths]

    def batched():
        from imagineer_build.kinds.label.images import open_rgb

        return [row for s in range(0, len(paths), 32) for row in tagger.scores([open_rgb(p) for p in paths[s:s + 32]])]

    t_plain, a = best(plain, repeat)
    t_ours, b = best(batched, repeat)
    assert np.allclose(np.array(a), np.array(b), atol=1e-6)
    return len(paths) / t_plain, len(paths) / t_ours


def whole_processes(folder: Path, paths: list[Path], instruction: str, tokens: int, threads: int) -> tuple[float, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", PLAIN, str(folder), instruction, str(tokens), str(threads),
                        *map(str, paths)], capture_output=True, text=True, env=env)
    plain_wall = time.perf_counter() - start
    if p.returncode:
        raise SystemExit(p.stderr[-3000:])
    root = WORK / "proj"
    shutil.rmtree(root, ignore_errors=True)
    (root / "specs").mkdir(parents=True)
    (root / "imagineer.yaml").write_text(f"cache: cache\nout: out\nthreads: {threads}\n"
                                         "models:\n  cap: {base: 'builtin:tiny-vlm'}\n")
    shutil.copytree(paths[0].parent, root / "data" / "images")
    (root / "specs" / "main.yaml").write_text(
        "sources:\n  images: {dir: data/images, dedup: {near: false}}\n"
        f"labels:\n  caps: {{of: images, labeler: vlm, vlm: {{model: cap, max_new_tokens: {tokens}, batch_size: 8}}}}\n")
    first = subprocess.run([str(IMAGINEER), "build", "--json"], cwd=root, capture_output=True, text=True, env=env)
    if first.returncode:
        raise SystemExit(first.stdout[-3000:] + first.stderr[-3000:])
    start = time.perf_counter()
    r = subprocess.run([str(IMAGINEER), "build", "--json", "--refresh", "caps"], cwd=root, capture_output=True,
                       text=True, env=env)
    ours_wall = time.perf_counter() - start
    ev = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    caps = [e for e in ev if e.get("event") == "target" and e["target"] == "caps"]
    if r.returncode or not caps or caps[0]["status"] != "built" or caps[0]["facts"]["labelled"] != len(paths):
        raise SystemExit(r.stdout[-3000:] + r.stderr[-3000:])
    return len(paths) / plain_wall, len(paths) / ours_wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=24, help="max_new_tokens")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--quick", action="store_true", help="16 images, one run each")
    args = ap.parse_args()
    if args.quick:
        args.images, args.repeat = 16, 1
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from imagineer_build.kinds.label.labelers.vlm import INSTRUCTIONS
    from imagineer_build.models import ModelSpec
    from imagineer_build.models.captioner import quiet, warm
    from imagineer_build.models.tiny_vlm import ensure_tiny_vlm

    torch.set_num_threads(args.threads)
    quiet()
    shutil.rmtree(WORK, ignore_errors=True)
    paths = make_images(WORK / "images", args.images)
    models_dir = WORK / "models"
    folder = ensure_tiny_vlm(models_dir)
    instruction = INSTRUCTIONS["descriptive"]
    proc = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    captioner = warm(ModelSpec(base="builtin:tiny-vlm", arch="vlm"), REPO, models_dir)
    rates: dict[str, float] = {}
    results = {}
    for _ in range(args.repeat):  # alternate, keep each variant's best
        for name, fn in (("plain transformers loop (1 per generate)", lambda: plain_loop(proc, model, paths, instruction, args.tokens)),
                         ("ours, batch 1", lambda: ours(captioner, paths, instruction, args.tokens, 1)),
                         ("ours, batch 8", lambda: ours(captioner, paths, instruction, args.tokens, 8))):
            t, results[name] = best(fn, 1)
            rates[name] = max(rates.get(name, 0.0), args.images / t)
    same = len({json.dumps(r) for r in results.values()}) == 1
    base = rates["plain transformers loop (1 per generate)"]
    print(f"builtin tiny-vlm (LLaVA), {args.images} images, max_new_tokens {args.tokens}, greedy, "
          f"{args.threads} torch thread(s); captions identical across variants: {'yes' if same else 'NO'}")
    print("inside the process (model loaded):")
    for name, rate in rates.items():
        print(f"  {name:42s} {rate:7.2f} captions/s  {rate / base:5.2f}x")
    print(f"  batching gain (batch 8 / batch 1)          {rates['ours, batch 8'] / rates['ours, batch 1']:5.2f}x")
    plain_whole, ours_whole = whole_processes(folder, paths, instruction, args.tokens, args.threads)
    print("whole processes (interpreter, imports, model load included):")
    print(f"  {'plain transformers loop':42s} {plain_whole:7.2f} captions/s  1.00x")
    print(f"  {'imagineer build --refresh (batch 8)':42s} {ours_whole:7.2f} captions/s  {ours_whole / plain_whole:5.2f}x")
    t_plain, t_ours = tagger_rows(models_dir, paths, args.repeat)
    print("builtin tiny-tagger (onnxruntime):")
    print(f"  {'plain onnxruntime loop (1 per run)':42s} {t_plain:7.1f} images/s  1.00x")
    print(f"  {'ours, batch 32':42s} {t_ours:7.1f} images/s  {t_ours / t_plain:5.2f}x")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
