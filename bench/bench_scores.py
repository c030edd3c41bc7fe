"""Images per second of the CLIP scorer against a plain transformers CLIP loop, same images.

- ours: the scores kind's compute step (kinds/scores/embed.py): image batches of 32 decoded and
  preprocessed in a thread pool while the previous batch runs through the model, plus each
  image's prompt through the text tower
- plain: the loop everyone writes (CLIPScore style): for each batch of 32, open the images,
  `processor(text=prompts, images=images)`, `model(**inputs)`

Both use the same loaded model and the same images in one process, alternating, best of
--repeat. Then a whole `imagineer build` of a scores target on those images (cold store: process
start, imports, model load, artifact), and a rebuild after a threshold change (the memo: no
forward pass). The scale note projects 38,000 images at the measured rate.

    .venv/bin/python bench/bench_scores.py [--images 512] [--size 256] [--model tiny|large] [--quick]

--model large builds a CLIP with ViT-L/14's shapes and random weights (no download), for the
per-image cost of the documented default openai/clip-vit-large-patch14.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FLEET = 38_000  # the braindump's users: 38,000+ images


def make_images(folder: Path, n: int, size: int) -> list[tuple[Path, str]]:
    """Busy PNGs (shapes on noise-free gradients) like generated ones, and a prompt each."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    out = []
    for i in range(n):
        im = Image.linear_gradient("L").resize((size, size)).convert("RGB")
        d = ImageDraw.Draw(im)
        for _ in range(6):
            x, y = rng.randrange(size), rng.randrange(size)
            d.ellipse([x, y, x + rng.randrange(8, size // 2), y + rng.randrange(8, size // 2)],
                      fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        p = folder / f"{i:05d}.png"
        im.save(p)
        out.append((p, f"card {i}, {rng.choice(['red', 'blue', 'green'])} hair, {rng.choice(['mohawk', 'bob'])}"))
    return out


def large_clip(folder: Path) -> Path:
    """ViT-L/14 shapes (vision 1024×24, text 768×12, projection 768), random weights."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    from imagineer_build.models.clip import image_processor_class
    from imagineer_build.models.tokenizer import write_tokenizer_files

    vocab = write_tokenizer_files(folder / "tok")
    CLIPTokenizer.from_pretrained(folder / "tok", model_max_length=77).save_pretrained(folder)
    torch.manual_seed(0)
    cfg = CLIPConfig(text_config={"vocab_size": vocab, "hidden_size": 768, "intermediate_size": 3072,
                                  "num_hidden_layers": 12, "num_attention_heads": 12, "max_position_embeddings": 77,
                                  "bos_token_id": vocab - 2, "eos_token_id": vocab - 1, "pad_token_id": vocab - 1},
                     vision_config={"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                                    "num_attention_heads": 16, "image_size": 224, "patch_size": 14},
                     projection_dim=768)
    CLIPModel(cfg).save_pretrained(folder, safe_serialization=True)
    image_processor_class()().save_pretrained(folder)
    return folder


def ours(scorer, items, batch: int) -> float:
    from imagineer_build.kinds.scores.embed import image_batches, text_vectors

    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for got, _ in image_batches(scorer, [(str(i), p) for i, (p, _) in enumerate(items)], batch, pool):
            text_vectors(scorer, [items[int(d)][1] for d, _ in got])
    return time.perf_counter() - t


def plain(model, processor, items, batch: int) -> float:
    import torch
    from PIL import Image

    t = time.perf_counter()
    for s in range(0, len(items), batch):
        chunk = items[s:s + batch]
        images = [Image.open(p).convert("RGB") for p, _ in chunk]
        inputs = processor(text=[t for _, t in chunk], images=images, return_tensors="pt", padding=True)
        with torch.no_grad():
            model(**inputs).logits_per_image.diag()
    return time.perf_counter() - t


def build_project(root: Path, items, models_src: Path, model_base: str) -> Path:
    import yaml

    (root / "specs").mkdir(parents=True)
    (root / "imgs").mkdir()
    entries = {}
    for p, prompt in items:
        shutil.copy(p, root / "imgs" / p.name)
        entries[p.name] = {"prompt": prompt}
    (root / "album.yaml").write_text(yaml.safe_dump(entries))
    (root / "imagineer.yaml").write_text(f"cache: cache\nout: out\nmodels:\n  clip: {{base: '{model_base}', arch: clip}}\n")
    (root / "specs/s.yaml").write_text("testalbums:\n  alb: {folder: imgs, manifest: album.yaml}\n"
                                       "scores:\n  alb-q: {of: alb, model: clip}\n")
    if models_src.exists():
        shutil.copytree(models_src, root / "cache/models")
    return root


def run_build(root: Path, *extra: str) -> tuple[float, dict]:
    tests = Path(__file__).resolve().parents[1] / "tests"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "IMAGINEER_KINDS": "scores_helpers:TestAlbumKind",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(tests), os.environ.get("PYTHONPATH", "")]))}
    exe = shutil.which("imagineer", path=str(Path(sys.executable).parent)) or "imagineer"
    t = time.perf_counter()
    p = subprocess.run([exe, "build", "--json", *extra], cwd=root, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"build failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    ev = next(json.loads(line) for line in p.stdout.splitlines()
              if line.startswith("{") and '"event": "target"' in line and '"alb-q"' in line)
    return wall, ev


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--size", type=int, default=256, help="side of the test images")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--model", choices=["tiny", "large"], default="tiny")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="128 images, two runs each")
    args = ap.parse_args()
    if args.quick:
        args.images, args.repeat = 128, 2
    import torch
    from transformers import CLIPModel, CLIPProcessor

    from imagineer_build.models import ModelSpec
    from imagineer_build.models.clip import ensure_tiny_clip, load_scorer

    with tempfile.TemporaryDirectory(prefix="bench-scores-") as tmp:
        tmp = Path(tmp)
        items = make_images(tmp / "images", args.images, args.size)
        if args.model == "tiny":
            folder, base = ensure_tiny_clip(tmp / "models"), "builtin:tiny-clip"
        else:
            folder = large_clip(tmp / "large-clip")
            base = str(folder)
        scorer = load_scorer(ModelSpec(base=str(folder), arch="clip"), tmp, tmp / "models")
        model = CLIPModel.from_pretrained(folder).eval()
        processor = CLIPProcessor.from_pretrained(folder)
        ours(scorer, items[: args.batch], args.batch)  # warm both paths once
        plain(model, processor, items[: args.batch], args.batch)
        t_ours = t_plain = float("inf")
        for _ in range(args.repeat):
            t_ours = min(t_ours, ours(scorer, items, args.batch))
            t_plain = min(t_plain, plain(model, processor, items, args.batch))

        proj = build_project(tmp / "proj", items, tmp / "models", base)
        wall, ev = run_build(proj)
        assert ev["memo"]["scores.image"]["misses"] == args.images, ev
        re_wall, re_ev = run_build(proj, "--set", "alb-q:thresholds.success=0.6")
        assert re_ev["memo"]["scores.image"] == {"hits": args.images, "misses": 0}, re_ev

    r_ours, r_plain = args.images / t_ours, args.images / t_plain
    print(f"CLIP {args.model} ({'random weights, ViT-L/14 shapes' if args.model == 'large' else 'builtin:tiny-clip'}), "
          f"{args.images} PNGs {args.size}x{args.size}, batch {args.batch}, {torch.get_num_threads()} torch threads, "
          f"{os.cpu_count()} cores, CPU")
    print("scoring step, in one process (decode, preprocess, image + prompt embeddings):")
    print(f"  ours (threaded decode, overlapped)  {r_ours:8.2f} images/s")
    print(f"  plain transformers CLIP loop        {r_plain:8.2f} images/s")
    print(f"  ours / plain = {r_ours / r_plain:.2f}x   (goal >= 1.0x)")
    print(f"whole `imagineer build` of a scores target, cold store: {wall:.1f} s wall "
          f"({args.images / wall:.2f} images/s with process start, imports, model load and artifact; "
          f"{ev['seconds']:.1f} s inside the target)")
    print(f"rebuild after a threshold change: {re_wall:.1f} s wall, {re_ev['seconds']:.2f} s inside, 0 forward passes")
    hours = FLEET / r_ours / 3600
    print(f"scale: {FLEET:,} images at {r_ours:.2f} images/s = {hours * 60:.0f} min ({hours:.1f} h) on this CPU; "
          f"re-scoring after a threshold change costs no forward pass")
    print(f"GPU: {'cuda available: rerun there for its number' if torch.cuda.is_available() else 'none on this machine'}")


if __name__ == "__main__":
    main()
