"""Make the example project's images: procedural shapes and colours, each with a caption.

Deterministic (seeded), so every machine builds the same bytes and the same keys.
Usage: python examples/make_images.py [OUT_DIR] [--count N]
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw

COLORS = {
    "red": (220, 40, 40), "orange": (240, 140, 30), "yellow": (240, 220, 40), "green": (40, 170, 70),
    "teal": (30, 160, 160), "blue": (40, 80, 220), "purple": (140, 60, 200), "pink": (240, 120, 180),
    "white": (245, 245, 245), "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle", "star", "diamond", "ring")


def draw_shape(d: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, fill) -> None:
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "ring":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=fill, width=max(3, int(r / 4)))
    elif shape == "square":
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "diamond":
        d.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=fill)
    elif shape == "triangle":
        d.polygon([(cx, cy - r), (cx + r * 0.87, cy + r / 2), (cx - r * 0.87, cy + r / 2)], fill=fill)
    else:
        pts = []
        for i in range(10):
            a = -math.pi / 2 + i * math.pi / 5
            rr = r if i % 2 == 0 else r * 0.45
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        d.polygon(pts, fill=fill)


def make(out: Path, count: int, size: int = 192, seed: int = 7) -> list[Path]:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    names = list(COLORS)
    made = []
    for i in range(count):
        shape = SHAPES[i % len(SHAPES)]
        fg, bg = rng.sample(names, 2)
        n = 1 + (i // len(SHAPES)) % 3
        im = Image.new("RGB", (size, size), COLORS[bg])
        d = ImageDraw.Draw(im)
        for _ in range(size // 16):  # a little texture so near-duplicate hashing has work to do
            y = rng.randrange(size)
            d.line([(0, y), (size, y + rng.randrange(-20, 20))], fill=tuple(min(255, c + 18) for c in COLORS[bg]), width=1)
        for k in range(n):
            r = size * rng.uniform(0.14, 0.3) / (1 if n == 1 else 1.4)
            cx = size * (k + 1) / (n + 1)
            cy = size * rng.uniform(0.35, 0.65)
            draw_shape(d, shape, cx, cy, r, COLORS[fg])
        count_word = {1: "a", 2: "two", 3: "three"}[n]
        plural = "" if n == 1 else "s"
        caption = f"{count_word} {fg} {shape}{plural} on a {bg} background, flat geometric art"
        ext = "jpg" if i % 4 == 3 else "png"
        path = out / f"shape_{i:03d}.{ext}"
        im.save(path, quality=92) if ext == "jpg" else im.save(path, optimize=True)
        path.with_suffix(".txt").write_text(caption + "\n")
        made.append(path)
    return made


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", nargs="?", default=str(Path(__file__).parent / "shapes" / "images"))
    ap.add_argument("--count", type=int, default=24)
    args = ap.parse_args()
    made = make(Path(args.out), args.count)
    print(f"{len(made)} images in {args.out}")


if __name__ == "__main__":
    main()
