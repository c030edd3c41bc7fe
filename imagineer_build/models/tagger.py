"""WD14-family booru taggers (SmilingWolf wd-v1-4-* / wd-*-v3): model.onnx + selected_tags.csv,
run with onnxruntime and kept warm, one session per model per process.

`Tagger.scores` is the whole compute step (images in, one score per tag out); what the scores
mean (thresholds, ratings) is the labeler's business.
"""

from __future__ import annotations

import csv
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import ModelError, ModelSpec, model_identity
from .hub import model_folder

PATTERNS = ["model.onnx", "selected_tags.csv"]

_lock = threading.Lock()
_warm: dict[str, Tagger] = {}


@dataclass(frozen=True)
class Tag:
    name: str
    category: int  # 0 general, 4 character, 9 rating (the WD14 CSV's numbers)


@dataclass
class Tagger:
    session: Any
    input_name: str
    size: int  # the square side the model takes
    tags: list[Tag]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def scores(self, images: list[Any]):
        """(N, tags) float32 scores for RGB(A) PIL images."""
        import numpy as np

        batch = np.stack([prepare(im, self.size) for im in images])
        with self.lock:
            out = self.session.run(None, {self.input_name: batch})[0]
        if out.shape != (len(images), len(self.tags)):
            raise ModelError(f"the tagger gave scores of shape {out.shape}, expected "
                             f"({len(images)}, {len(self.tags)}): model.onnx and selected_tags.csv do not match")
        return out


def prepare(im, size: int):
    """WD14 preprocessing: alpha over white, padded to a white square, resized, BGR, 0..255."""
    import numpy as np
    from PIL import Image

    im = im.convert("RGBA")
    flat = Image.new("RGBA", im.size, (255, 255, 255, 255))
    flat.alpha_composite(im)
    side = max(flat.size)
    square = Image.new("RGB", (side, side), (255, 255, 255))
    square.paste(flat.convert("RGB"), ((side - flat.width) // 2, (side - flat.height) // 2))
    if side != size:
        square = square.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(square, dtype=np.float32)[:, :, ::-1].copy()


def read_tags(path: Path) -> list[Tag]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return [Tag(row["name"], int(row["category"])) for row in csv.DictReader(f)]
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ModelError(f"{path}: not a WD14 tags file (columns tag_id,name,category,count): {e}") from None


def builtins() -> dict[str, Any]:
    from .tiny_tagger import ensure_tiny_tagger

    return {"tiny-tagger": ensure_tiny_tagger}


def locate(spec: ModelSpec, project_root: Path, models_dir: Path) -> Path:
    folder = model_folder(spec, project_root, models_dir, builtins(), PATTERNS)
    missing = [p for p in PATTERNS if not (folder / p).is_file()]
    if missing:
        raise ModelError(f"tagger {spec.base}: {', '.join(missing)} missing in {folder}")
    return folder


def warm(spec: ModelSpec, project_root: Path, models_dir: Path, threads: int | None = None) -> Tagger:
    from ..core.hashing import digest_json

    key = digest_json([spec.model_dump(), model_identity(spec, project_root), str(project_root)])
    with _lock:
        if key not in _warm:
            _warm[key] = load(spec, locate(spec, project_root, models_dir), threads)
        return _warm[key]


def load(spec: ModelSpec, folder: Path, threads: int | None = None) -> Tagger:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = int(threads)
    wanted = ["CUDAExecutionProvider"] if spec.device in ("auto", "cuda") else []
    providers = [p for p in wanted if p in ort.get_available_providers()] + ["CPUExecutionProvider"]
    try:
        session = ort.InferenceSession(str(folder / "model.onnx"), opts, providers=providers)
    except Exception as e:
        raise ModelError(f"tagger {spec.base}: onnxruntime cannot load model.onnx: {e}") from None
    inp = session.get_inputs()[0]
    shape = inp.shape
    if len(shape) != 4 or not isinstance(shape[1], int) or shape[1] != shape[2] or shape[3] != 3:
        raise ModelError(f"tagger {spec.base}: expected an input of shape (batch, side, side, 3), got {shape}")
    return Tagger(session, inp.name, shape[1], read_tags(folder / "selected_tags.csv"))

