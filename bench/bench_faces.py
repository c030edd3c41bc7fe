"""Faces per second with real dlib on this CPU: ours against plain dlib calls on the same photos.

- plain: one loop of dlib's own calls per photo: Pillow decode → array → detector → 5-point
  shapes → 128-d embeddings. Nothing else.
- analyze: our per-photo function in the same process (the same calls, plus mode conversion,
  the blur measure and the face records): the work a faces target memoises per image.
- kind: `imagineer build` of a faces target from cold (its own seconds from --json: model
  loads, memo, clustering, contact sheets; photos are analysed by a pool when there are many).
- rebuild: one photo added; the memo is reused for the others (hits / misses and seconds).

HOG runs on --images photos, CNN on --cnn-images (it is ~15x slower on a CPU). plain and
analyze alternate --repeat times and the best run counts (the machine is shared). Results are
ratios of faces per second within one run; the goal is ours / plain ≥ 0.9.

    .venv/bin/python bench/bench_faces.py [--images 42] [--cnn-images 4] [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "examples" / "people")]

from make_photos import make  # noqa: E402

SPEC = """
sources:
  photos: {dir: photos, dedup: {near: false}}
faces:
  family: {of: [photos], detector: DETECTOR, upsample: UPSAMPLE}
"""


def photo_set(folder: Path, n: int) -> list[Path]:
    """n distinct photos: the example's library, then copies with one pixel changed (new bytes)."""
    from PIL import Image

    names = make(folder / "base", more=True)
    base = [folder / "base" / name for name in names if name != "coffee.png"]
    out = []
    for i in range(n):
        src = base[i % len(base)]
        dst = folder / "photos" / f"{i:03d}_{src.stem}.png"
        dst.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(src) as im:
            im = im.convert("RGB")
            im.putpixel((0, 0), (i % 256, i // 256, 7))
            im.save(dst)
        out.append(dst)
    return out


def load_plain(detector: str) -> tuple:
    """dlib's detector, 5-point predictor and embedding net, loaded the plain way."""
    import importlib.util

    import dlib

    models = Path(importlib.util.find_spec("face_recognition_models").origin).parent / "models"
    if detector == "hog":
        det = dlib.get_frontal_face_detector()
    else:
        det = dlib.cnn_face_detection_model_v1(str(models / "mmod_human_face_detector.dat"))
    sp = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    rec = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
    return det, sp, rec


def plain(paths: list[Path], detector: str, upsample: int, models: tuple) -> int:
    """dlib's calls and nothing else; returns the number of faces embedded."""
    import dlib
    import numpy as np
    from PIL import Image

    det, sp, rec = models
    n = 0
    for p in paths:
        with Image.open(p) as im:
            arr = np.asarray(im.convert("RGB"))
        if detector == "hog":
            rects = det.run(arr, upsample, 0.0)[0]
        else:
            rects = [d.rect for d in det(arr, upsample)]
        shapes = dlib.full_object_detections()
        for r in rects:
            shapes.append(sp(arr, r))
        if len(shapes):
            n += len(rec.compute_face_descriptor(arr, shapes))
    return n


def ours(paths: list[Path], detector: str, upsample: int, models: tuple = ()) -> int:
    from imagineer_build.kinds.faces.analyze import Params, analyze

    params = Params(detector, upsample, 5, 1600)
    return sum(len(analyze(str(p), params)[0]["faces"]) for p in paths)


def best_rates(paths: list[Path], detector: str, upsample: int, repeat: int) -> dict[str, float]:
    """Faces per second, best of `repeat` alternating runs; both load their models before timing."""
    models = load_plain(detector)
    ours(paths[:1], detector, upsample)
    best = {"plain": 0.0, "analyze": 0.0}
    for _ in range(repeat):
        for name, fn in (("plain", plain), ("analyze", ours)):
            t = time.perf_counter()
            faces = fn(paths, detector, upsample, models)
            best[name] = max(best[name], faces / (time.perf_counter() - t))
    return best


def build(root: Path, *targets: str) -> dict[str, dict]:
    exe = Path(sys.executable).parent / "imagineer"
    p = subprocess.run([str(exe), "build", "--json", *targets], cwd=root, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(p.stdout[-2000:] + p.stderr[-2000:])
    events = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    return {e["target"]: e for e in events if e.get("event") == "target"}


def kind_runs(folder: Path, detector: str, upsample: int) -> dict[str, object]:
    """Cold build, one photo added, no change: the faces target's own seconds and memo."""
    root = folder / f"project-{detector}"
    (root / "specs").mkdir(parents=True)
    (root / "imagineer.yaml").write_text("cache: cache\nout: out\n")
    (root / "specs/main.yaml").write_text(SPEC.replace("DETECTOR", detector).replace("UPSAMPLE", str(upsample)))
    photos = sorted((folder / "photos").iterdir())
    (root / "photos").mkdir()
    for p in photos[:-1]:
        (root / "photos" / p.name).write_bytes(p.read_bytes())
    build(root, "photos")
    cold = build(root, "family")["family"]
    (root / "photos" / photos[-1].name).write_bytes(photos[-1].read_bytes())
    build(root, "photos")
    added = build(root, "family")["family"]
    same = build(root, "family")["family"]
    return {"photos": len(photos) - 1, "faces": cold["facts"]["faces"], "cold_s": cold["seconds"],
            "faces_per_s": round(cold["facts"]["faces"] / cold["seconds"], 2),
            "one_added_s": added["seconds"], "one_added_memo": added["memo"]["faces.analyze"],
            "one_added_over_cold": round(added["seconds"] / cold["seconds"], 3), "no_change": same["status"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=42)
    ap.add_argument("--cnn-images", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="12 photos, 2 for CNN, one repeat")
    args = ap.parse_args()
    if args.quick:
        args.images, args.cnn_images, args.repeat = 12, 2, 1
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = photo_set(folder, args.images)
        hog = best_rates(paths, "hog", 1, args.repeat)
        cnn = best_rates(paths[: args.cnn_images], "cnn", 0, args.repeat)
        kind = kind_runs(folder, "hog", 1)
    result = {
        "hog_upsample1": {"photos": len(paths), "plain_faces_per_s": round(hog["plain"], 2),
                          "analyze_faces_per_s": round(hog["analyze"], 2),
                          "analyze_over_plain": round(hog["analyze"] / hog["plain"], 3)},
        "cnn_upsample0": {"photos": args.cnn_images, "plain_faces_per_s": round(cnn["plain"], 3),
                          "analyze_faces_per_s": round(cnn["analyze"], 3),
                          "analyze_over_plain": round(cnn["analyze"] / cnn["plain"], 3)},
        "kind_hog": {**kind, "kind_over_plain": round(kind["faces_per_s"] / hog["plain"], 3)},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
