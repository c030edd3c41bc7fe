"""dlib and its bundled face models (the `faces` extra): located, loaded once per process.

The weights ship inside the `face-recognition-models` wheel, so nothing is downloaded. That
package's own helpers import `pkg_resources`, which recent setuptools no longer has, so the
files are located through importlib instead of importing it.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import cache
from pathlib import Path
from typing import Any

EXTRA_HINT = ("the faces kind needs dlib and its bundled face models: "
              "pip install 'imagineer-build[faces]' (dlib-bin and face-recognition-models)")

WEIGHTS = {
    "cnn": "mmod_human_face_detector.dat",
    5: "shape_predictor_5_face_landmarks.dat",
    68: "shape_predictor_68_face_landmarks.dat",
    "embed": "dlib_face_recognition_resnet_model_v1.dat",
}

_lock = threading.Lock()


class FacesUnavailable(RuntimeError):
    """dlib or the face models are not installed; the message says how to install them."""


def dlib_module():
    try:
        import dlib
    except ImportError as e:
        raise FacesUnavailable(f"{EXTRA_HINT} ({e})") from None
    return dlib


def weights_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise FacesUnavailable(f"{EXTRA_HINT} (face_recognition_models is not installed)")
    folder = Path(spec.origin).parent / "models"
    missing = [name for name in WEIGHTS.values() if not (folder / name).is_file()]
    if missing:
        raise FacesUnavailable(f"{EXTRA_HINT} ({folder} lacks {', '.join(missing)})")
    return folder


def check_installed() -> None:
    """Fail before any work when the extra is missing."""
    dlib_module()
    weights_dir()


@cache
def versions() -> dict[str, str]:
    """Library versions for memo keys and logs (never artifacts)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"dlib": dlib_module().__version__}
    try:
        out["face_recognition_models"] = version("face_recognition_models")
    except PackageNotFoundError:
        out["face_recognition_models"] = "unknown"
    return out


@cache
def _load(what: Any) -> Any:
    dlib = dlib_module()
    if what == "hog":
        return dlib.get_frontal_face_detector()
    path = str(weights_dir() / WEIGHTS[what])
    if what == "cnn":
        return dlib.cnn_face_detection_model_v1(path)
    if what == "embed":
        return dlib.face_recognition_model_v1(path)
    return dlib.shape_predictor(path)


def model(what: Any) -> Any:
    """One loaded detector / landmark predictor / embedding net per process ("hog", "cnn",
    5, 68, "embed"); loading is serialised so two threads never load the same weights twice."""
    with _lock:
        return _load(what)
