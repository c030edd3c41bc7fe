"""Helpers for the dataset tests: face photos with known face shares, artifact access.

Faces come from scikit-image's bundled astronaut photo (512x512, one frontal face whose box is
about 85 px wide at x=177, y=71), cropped or padded so the face covers a known share.
"""

from __future__ import annotations

import json
from pathlib import Path

FACE_X, FACE_Y, FACE_SIDE = 177, 71, 85

# name → (how the photo is framed, designed face share, expected shot)
FACES = {
    "close_a": ("crop", 140, "close"),
    "close_b": ("crop", 150, "close"),
    "close_c": ("crop", 160, "close"),
    "close_d": ("crop", 145, "close"),
    "mid_a": ("crop", 260, "mid"),
    "far_a": ("pad", 640, "far"),
}


def designed_share(mode: str, side: int) -> float:
    return FACE_SIDE * FACE_SIDE / (side * side)


def face_array(mode: str, side: int):
    """The astronaut photo as a side x side square: a crop around the face, or padded."""
    import numpy as np
    from skimage.data import astronaut

    im = astronaut()
    if mode == "crop":
        cx, cy = FACE_X + FACE_SIDE / 2, FACE_Y + FACE_SIDE / 2
        x0 = int(max(0, min(512 - side, cx - side / 2)))
        y0 = int(max(0, min(512 - side, cy - side / 2)))
        return im[y0:y0 + side, x0:x0 + side]
    p = (side - 512) // 2
    return np.pad(im, ((p, side - 512 - p), (p, side - 512 - p), (0, 0)), constant_values=200)


def make_faces(folder: Path, names: list[str] | None = None, caption: str = "a photo of an astronaut") -> dict[str, str]:
    """Write face images (PNG) with sidecar captions; returns file name → expected shot."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names or list(FACES):
        mode, side, shot = FACES[name]
        Image.fromarray(face_array(mode, side)).save(folder / f"{name}.png")
        (folder / f"{name}.txt").write_text(f"{caption}, {shot} framing\n")
        out[f"{name}.png"] = shot
    return out


def no_face(path: Path) -> None:
    """A photo with no face in it (scikit-image's coffee cup)."""
    from PIL import Image
    from skimage.data import coffee

    Image.fromarray(coffee()[::2, ::2]).save(path)


def artifact_digest(run, target: str) -> str:
    for e in run.events():
        if e.get("event") == "target" and e["target"] == target:
            return e["artifact"]
    raise AssertionError(f"no target event for {target}: {run.out[-2000:]} {run.err[-2000:]}")


def blob(project, digest: str) -> Path:
    return project.root / "cache" / "blobs" / digest[:2] / digest


def manifest(project, run, target: str) -> dict:
    """The artifact manifest of a target built in `run`: {"files": {rel: [digest, size]}, "meta", "facts"}."""
    return json.loads(blob(project, artifact_digest(run, target)).read_text())


def metadata(project, target: str) -> dict:
    return json.loads((project.root / "out" / target / "metadata.json").read_text())


SHAPES_LABELS = """
sources:
  shapes: {dir: data/shapes}
labels:
  shapes-labels: {of: shapes, labeler: sidecar}
"""
