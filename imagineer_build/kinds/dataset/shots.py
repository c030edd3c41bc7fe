"""Shot types (close / mid / far) from the largest face's share of the image.

The detector is OpenCV's bundled Haar frontal-face cascade when the installed OpenCV still has
CascadeClassifier (4.x ships cv2.data.haarcascades). OpenCV 5 moved cascades out of the main
package, so there the bundled LBP frontal-face cascade of scikit-image is used instead; both
are plain files inside an installed package, nothing is downloaded. Faces are found on a copy
scaled to DETECT_SIDE (speed); boxes are reported in the original image's pixels.

Detection is memoised per (image digest, detector, DETECT_VERSION); the close/far thresholds
are applied afterwards, so changing them re-classifies without re-detecting.

Images that come with real face boxes (dlib, from a faces target or a person source) are
classified from those instead (`from_faces`); the cascade is only the fallback.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

DETECT_VERSION = "2"
DETECT_SIDE = 320  # longest side the detector sees: faces down to ~0.6% of the image
POOL_THRESHOLD = 32


_import_lock = threading.Lock()


@cache
def _cv2():
    """cv2, imported once under a lock: its package bootstraps itself in two steps, and a
    second thread importing it meanwhile sees a half-made module (no cv2.data)."""
    with _import_lock:
        import cv2

        return cv2


@cache
def detector_name() -> str:
    try:
        cv2 = _cv2()
        if hasattr(cv2, "CascadeClassifier") and os.path.exists(_haar_file(cv2)):
            return "opencv-haar-frontalface-default"
    except ImportError:
        pass
    return "skimage-lbp-frontal-face"


def _haar_file(cv2) -> str:
    return os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")


@cache
def _cv2_cascade():
    cv2 = _cv2()
    return cv2.CascadeClassifier(_haar_file(cv2))


@cache
def _skimage_cascade():
    from skimage.data import lbp_frontal_face_cascade_filename
    from skimage.feature import Cascade

    return Cascade(lbp_frontal_face_cascade_filename())


def detect_faces(path: str) -> dict[str, Any]:
    """{"width", "height", "faces": [{"box": [x, y, w, h], "score": float | None}]} in original pixels."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        im.seek(0)
        width, height = im.size
        gray = im.convert("L")
    scale = min(1.0, DETECT_SIDE / max(width, height))
    if scale < 1.0:
        gray = gray.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR)
    arr = np.asarray(gray)
    faces: list[dict[str, Any]] = []
    if detector_name().startswith("opencv"):
        boxes, _levels, weights = _cv2_cascade().detectMultiScale3(
            arr, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24), outputRejectLevels=True)
        for (x, y, w, h), s in zip(list(boxes), list(weights), strict=False):
            faces.append({"box": [int(x), int(y), int(w), int(h)], "score": round(float(s), 3)})
    else:
        found = _skimage_cascade().detect_multi_scale(
            img=arr.astype(np.float64) / 255.0, scale_factor=1.2, step_ratio=1, min_size=(24, 24),
            max_size=arr.shape[:2], min_neighbor_number=4)
        for d in found:
            faces.append({"box": [int(d["c"]), int(d["r"]), int(d["width"]), int(d["height"])], "score": None})
    for f in faces:
        f["box"] = [round(v / scale) for v in f["box"]]
    return {"width": width, "height": height, "faces": faces}


def detect_job(path: str) -> dict[str, Any]:
    """Process-pool entry point: never raises, so one unreadable image cannot sink the rest."""
    try:
        return {"ok": True, **detect_faces(path)}
    except Exception as e:  # an image that decoded upstream but not here is reported, not fatal
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def classify(share: float | None, close: float = 0.25, far: float = 0.08) -> tuple[str, float | None]:
    """(shot, confidence). Confidence is how far the share sits from the nearest class
    boundary: 0.5 on a boundary, 1.0 at a factor of two (or more) away from it."""
    if share is None:
        return "unknown", None
    if share > close:
        shot, margin = "close", math.log(share / close)
    elif share >= far:
        shot, margin = "mid", min(math.log(share / far), math.log(close / share))
    else:
        shot, margin = "far", math.log(far / max(share, 1e-9))
    return shot, round(0.5 + 0.5 * min(1.0, margin / math.log(2)), 3)


def shot_info(detection: dict[str, Any], close: float, far: float) -> dict[str, Any]:
    """The per-image record: shot, confidence, share, box of the largest face, face count."""
    if not detection.get("ok", True):
        return {"shot": "unknown", "confidence": None, "share": None, "box": None, "faces": 0,
                "error": detection.get("error")}
    faces = detection["faces"]
    if not faces:
        return {"shot": "unknown", "confidence": None, "share": None, "box": None, "faces": 0}
    best = max(faces, key=lambda f: f["box"][2] * f["box"][3])
    x, y, w, h = best["box"]
    share = (w * h) / (detection["width"] * detection["height"])
    shot, conf = classify(share, close, far)
    info = {"shot": shot, "confidence": conf, "share": round(share, 4), "box": best["box"], "faces": len(faces)}
    if best.get("score") is not None:
        info["score"] = best["score"]
    return info


def detect_all(memo, images: list[tuple[str, str]], jobs: int = 1,
               progress: Callable[[int, int], None] | None = None,
               check_cancelled: Callable[[], None] | None = None) -> dict[str, dict[str, Any]]:
    """digest → detection for (digest, path) pairs, detecting only digests the memo lacks."""
    name = detector_name()
    digests = [d for d, _ in images]
    keys = dict(zip(digests, memo.keys(digests, name, DETECT_VERSION, DETECT_SIDE), strict=True))
    found = memo.get_many(set(keys.values()))
    out = {d: found[k][0] for d, k in keys.items() if k in found}
    todo = {d: p for d, p in images if d not in out}
    total, done = len(keys), len(out)
    if progress:
        progress(done, total)
    pairs = list(todo.items())
    if len(pairs) >= POOL_THRESHOLD and jobs > 1:
        from ...media.pool import process_pool

        with process_pool(jobs) as pool:
            results = pool.map(detect_job, [p for _, p in pairs], chunksize=8)
            for (d, _), det in zip(pairs, results, strict=True):
                done = _record(memo, keys, out, d, det, done, total, progress, check_cancelled)
    else:
        for d, p in pairs:
            done = _record(memo, keys, out, d, detect_job(p), done, total, progress, check_cancelled)
    return out


def _record(memo, keys, out, digest, det, done, total, progress, check_cancelled) -> int:
    out[digest] = det
    if det.get("ok"):
        memo.put(keys[digest], det)  # failures are not memoised: a fixed install retries them
    done += 1
    if progress and (done % 10 == 0 or done == total):
        progress(done, total)
    if check_cancelled:
        check_cancelled()
    return done


UNTRUSTED_BOXES = ("low-score", "nobody")  # likely not a face, or not one anybody cares about


def from_faces(width: int, height: int, *, face: dict[str, Any] | None, faces: list[dict[str, Any]] | None,
               detector: str | None, person: str | None, close: float, far: float) -> dict[str, Any] | None:
    """The shot record from real face boxes: a person source's chosen `face`, else the largest
    box of a faces target's `faces` (that person's, when `person` is given). None when the image
    carries no face boxes, so the cascade decides."""
    if face is not None:
        if person is not None and face.get("person") != person:
            return _unknown(face.get("detector"), 1, f"the face recorded for this image is {face.get('person')}'s, not {person}'s")
        chosen, detector, count = face, face.get("detector"), 1
    elif faces is not None:
        pool = [f for f in faces if f.get("status") not in UNTRUSTED_BOXES]
        if person is not None:
            pool = [f for f in pool if f.get("person") == person]
        if not pool:
            return _unknown(detector, len(faces), f"no face of {person}" if person else "no face found")
        chosen, count = max(pool, key=lambda f: (f["box"][2] * f["box"][3], f["id"])), len(pool)
    else:
        return None
    x, y, w, h = chosen["box"]
    share = (w * h) / (width * height)
    shot, conf = classify(share, close, far)
    info = {"shot": shot, "confidence": conf, "share": round(share, 4), "box": chosen["box"], "faces": count,
            "detector": detector, "face": chosen["id"]}
    if chosen.get("person"):
        info["person"] = chosen["person"]
    return info


def _unknown(detector: str | None, faces: int, reason: str) -> dict[str, Any]:
    return {"shot": "unknown", "confidence": None, "share": None, "box": None, "faces": faces,
            "detector": detector, "reason": reason}
