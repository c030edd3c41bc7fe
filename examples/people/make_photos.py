"""Make the people example's photo library: two real people, several photos of each.

Sources (both free to use and ship; see SOURCES.md):
- Eileen Collins: scikit-image's bundled `astronaut.png` (NASA, public domain).
- Grace Hopper: `grace_hopper.jpg` beside this script (U.S. Navy photo, public domain; the copy
  matplotlib ships as sample data, from Wikimedia Commons `File:Grace_Hopper.jpg`).
Each photo is a variant of one of them: mirrored, cropped, brighter, darker, scaled, padded
(a far shot), blurred, 16-bit grey, CMYK; plus a photo with no face (scikit-image's coffee cup,
CC0). Deterministic, so every machine makes the same bytes.

Usage: python examples/people/make_photos.py [OUT_DIR] [--more]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "data" / "generated" / "photos"


def _astronaut():
    from PIL import Image
    from skimage.data import astronaut

    return Image.fromarray(astronaut())


def _grace():
    from PIL import Image

    with Image.open(HERE / "grace_hopper.jpg") as im:
        return im.convert("RGB")


def _scale(im, f: float):
    from PIL import Image

    return im.resize((round(im.width * f), round(im.height * f)), Image.LANCZOS)


def _bright(im, f: float):
    from PIL import ImageEnhance

    return ImageEnhance.Brightness(im).enhance(f)


def _mirror(im):
    from PIL import ImageOps

    return ImageOps.mirror(im)


def _pad(im, side: int):
    from PIL import Image

    out = Image.new("RGB", (side, side), (200, 200, 200))
    out.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    return out


def _blur(im, radius: float):
    from PIL import ImageFilter

    return im.filter(ImageFilter.GaussianBlur(radius))


def _gray16(im):
    import numpy as np
    from PIL import Image

    a = np.asarray(im.convert("L"), dtype=np.uint16) * 257
    return Image.fromarray(a)  # uint16 → mode I;16, saved as a 16-bit PNG


def _coffee():
    from PIL import Image
    from skimage.data import coffee

    return Image.fromarray(coffee())


# file name → (make the image, caption). The astronaut's face is ~91 px at (175, 76) in 512x512;
# Grace Hopper's is ~186 px at (180, 139) in 512x600.
PHOTOS: dict[str, tuple[Callable[[], object], str]] = {
    "eileen_original.png": (lambda: _astronaut(), "an astronaut in a white suit beside a flag"),
    "eileen_mirror.png": (lambda: _mirror(_astronaut()), "an astronaut in a white suit, mirrored"),
    "eileen_bright.png": (lambda: _bright(_astronaut(), 1.3), "an astronaut in a white suit, bright light"),
    "eileen_dark.png": (lambda: _bright(_astronaut(), 0.7), "an astronaut in a white suit, dim light"),
    "eileen_portrait.jpg": (lambda: _astronaut().crop((145, 45, 295, 195)), "a close portrait of an astronaut"),
    "eileen_half.png": (lambda: _astronaut().crop((90, 0, 350, 260)), "an astronaut from the chest up"),
    "eileen_large.png": (lambda: _scale(_astronaut(), 1.5), "an astronaut in a white suit, large print"),
    "eileen_far.png": (lambda: _pad(_astronaut(), 1100), "an astronaut far away on a grey wall"),
    "eileen_small.png": (lambda: _scale(_astronaut(), 0.5), "a small photo of an astronaut"),
    "eileen_blurred.png": (lambda: _blur(_astronaut(), 2), "an out-of-focus photo of an astronaut"),
    "grace_original.jpg": (lambda: _grace(), "a naval officer in uniform"),
    "grace_mirror.png": (lambda: _mirror(_grace()), "a naval officer in uniform, mirrored"),
    "grace_bright.png": (lambda: _bright(_grace(), 1.25), "a naval officer in uniform, bright light"),
    "grace_gray16.png": (lambda: _gray16(_grace()), "a black and white photo of a naval officer"),
    "grace_cmyk.jpg": (lambda: _grace().convert("CMYK"), "a printed photo of a naval officer"),
    "coffee.png": (lambda: _coffee(), "a cup of coffee on a table"),
}

# Five more, added later to show that cluster numbers stay put.
MORE: dict[str, tuple[Callable[[], object], str]] = {
    "eileen_portrait_dark.jpg": (lambda: _bright(_astronaut().crop((100, 10, 340, 250)), 0.8), "a dim portrait of an astronaut"),
    "eileen_mirror_bright.png": (lambda: _bright(_mirror(_astronaut()), 1.2), "an astronaut, mirrored, bright light"),
    "grace_dark.png": (lambda: _bright(_grace(), 0.75), "a naval officer in uniform, dim light"),
    "grace_scaled.png": (lambda: _scale(_grace(), 0.8), "a smaller photo of a naval officer"),
    "grace_portrait.png": (lambda: _grace().crop((100, 60, 450, 410)), "a portrait of a naval officer"),
}


def make(out: Path, names: list[str] | None = None, more: bool = False) -> list[str]:
    """Write the photos (and NAME.txt captions) into `out`; returns the file names written."""
    out.mkdir(parents=True, exist_ok=True)
    table = {**PHOTOS, **MORE} if more else dict(PHOTOS)
    written = []
    for name in names or list(table):
        make_image, caption = table[name]
        im = make_image()
        if name.endswith(".jpg"):
            im.save(out / name, "JPEG", quality=92)
        else:
            im.save(out / name, "PNG")
        (out / name).with_suffix(".txt").write_text(caption + "\n", encoding="utf-8")
        written.append(name)
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--more", action="store_true", help="add the five later photos too")
    args = ap.parse_args()
    names = make(args.out, more=args.more)
    print(f"wrote {len(names)} photos to {args.out}")


if __name__ == "__main__":
    main()
