"""One image in → every face's box, landmarks, score, sharpness and 128-d embedding out.

`analyze` depends only on the image bytes and `Params` (the model identity), so its result is
memoised per (image digest, params) and the work can run in any process. Detection runs on a
copy scaled to `max_side`; boxes and landmarks are reported in the original image's pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

ANALYZE_VERSION = "1"  # bump when what analyze() returns changes
SHARP_SIDE = 64  # faces are scaled to this square before measuring blur, so size does not count
EMBED_DIM = 128


@dataclass(frozen=True)
class Params:
    detector: str  # hog | cnn
    upsample: int
    landmarks: int  # 5 | 68
    max_side: int

    def identity(self) -> dict[str, Any]:
        """What a memoised result depends on besides the image: settings, code and library versions."""
        from .dlibmodels import versions

        return {**asdict(self), "version": ANALYZE_VERSION, **versions()}

    @property
    def detector_name(self) -> str:
        return f"dlib-{self.detector}"


def to_rgb(im):
    """Any Pillow image as 8-bit RGB: 16-bit and float greys are scaled, not clipped; CMYK and
    palettes are converted; transparency is flattened onto white."""
    import numpy as np
    from PIL import Image

    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        a = np.asarray(im, dtype=np.float64)
        top = float(a.max()) if a.size else 0.0
        if top > 255:
            a = a * (255.0 / (65535.0 if top <= 65535 else top))
        elif im.mode == "F" and 0 < top <= 1.0:
            a = a * 255.0
        im = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat.alpha_composite(rgba)
        im = flat
    return im.convert("RGB")


def load_rgb(path: str, max_side: int):
    """(uint8 HxWx3 array for detection, original width, original height)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        im.seek(0)
        width, height = im.size
        scale = min(1.0, max_side / max(width, height))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if scale < 1.0 and im.format == "JPEG":
            im.draft("RGB", size)  # decode a huge JPEG at a fraction of its size
        rgb = to_rgb(im)
    if rgb.size != size:
        rgb = rgb.resize(size, Image.LANCZOS, reducing_gap=3.0)
    return np.ascontiguousarray(np.asarray(rgb)), width, height


def sharpness(gray, box: tuple[int, int, int, int]) -> float:
    """Variance of the Laplacian of the face, scaled to SHARP_SIDE pixels square: sharp photos
    give hundreds, a face blurred by a 2-pixel Gaussian about 40."""
    import numpy as np
    from PIL import Image

    x0, y0, x1, y1 = box
    crop = gray.crop((x0, y0, x1, y1)).resize((SHARP_SIDE, SHARP_SIDE), Image.BILINEAR)
    a = np.asarray(crop, dtype=np.float32)
    lap = 4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:]
    return float(lap.var())


def _detect(arr, params: Params) -> list[tuple[Any, float]]:
    from .dlibmodels import model

    if params.detector == "hog":
        rects, scores, _ = model("hog").run(arr, params.upsample, 0.0)
        return list(zip(rects, scores, strict=True))
    return [(d.rect, float(d.confidence)) for d in model("cnn")(arr, params.upsample)]


def analyze(path: str, params: Params) -> tuple[dict[str, Any], bytes]:
    """({"width", "height", "faces": [{"box": [x, y, w, h], "score", "sharpness", "landmarks"}]},
    float32 embeddings, one row of 128 per face in the same order)."""
    import numpy as np
    from PIL import Image

    from .dlibmodels import dlib_module, model

    arr, width, height = load_rgb(path, params.max_side)
    dh, dw = arr.shape[:2]
    sx, sy = width / dw, height / dh
    gray = Image.fromarray(arr).convert("L")
    found = []
    for rect, score in _detect(arr, params):
        x0, y0 = max(0, rect.left()), max(0, rect.top())
        x1, y1 = min(dw, rect.right() + 1), min(dh, rect.bottom() + 1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        box = [round(x0 * sx), round(y0 * sy)]
        box += [round(x1 * sx) - box[0], round(y1 * sy) - box[1]]
        found.append((box, score, rect, (x0, y0, x1, y1)))
    found.sort(key=lambda f: f[0])
    faces: list[dict[str, Any]] = []
    shapes = dlib_module().full_object_detections()
    predictor = model(params.landmarks)
    for box, score, rect, inner in found:
        shape = predictor(arr, rect)
        shapes.append(shape)
        faces.append({
            "box": box,
            "score": round(score, 4),
            "sharpness": round(sharpness(gray, inner), 2),
            "landmarks": [[round(p.x * sx), round(p.y * sy)] for p in shape.parts()],
        })
    emb = np.zeros((0, EMBED_DIM), dtype="<f4")
    if len(shapes):
        emb = np.asarray([list(v) for v in model("embed").compute_face_descriptor(arr, shapes)], dtype="<f4")
    return {"width": width, "height": height, "faces": faces}, emb.tobytes()


def analyze_job(args: tuple[str, Params]) -> dict[str, Any]:
    """Process-pool entry point: never raises, so one unreadable image cannot sink the rest."""
    path, params = args
    try:
        value, emb = analyze(path, params)
        return {"ok": True, "value": value, "emb": emb}
    except Exception as e:  # an image that decoded upstream but not here is reported, not fatal
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
