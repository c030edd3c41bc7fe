"""Prepare an image for the API: downscaled to the configured long side, base64 in a content block."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

SENDABLE = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
MAX_RAW_BYTES = 3_750_000  # the API takes at most 5 MB of base64 per image


def encode_image(path: Path, max_side: int) -> tuple[str, bytes]:
    """(media type, bytes): the original file when it already fits, else a re-encoded copy."""
    from PIL import Image

    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as im:
        fmt = im.format or ""
        w, h = im.size
        if fmt in SENDABLE and max(w, h) <= max_side and len(data) <= MAX_RAW_BYTES:
            return SENDABLE[fmt], data
        im.seek(0)
        frame = im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB")
    if max(w, h) > max_side:
        scale = max_side / max(w, h)
        frame = frame.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    if fmt == "JPEG" or frame.mode == "RGB":
        frame.convert("RGB").save(buf, "JPEG", quality=90)
        return "image/jpeg", buf.getvalue()
    frame.save(buf, "PNG", optimize=True)
    if buf.tell() > MAX_RAW_BYTES:
        buf = io.BytesIO()
        frame.convert("RGB").save(buf, "JPEG", quality=85)
        return "image/jpeg", buf.getvalue()
    return "image/png", buf.getvalue()


def image_block(path: Path, max_side: int) -> dict[str, Any]:
    media_type, data = encode_image(path, max_side)
    return {"type": "image", "source": {"type": "base64", "media_type": media_type,
                                        "data": base64.b64encode(data).decode("ascii")}}


def open_rgb(path: Path):
    """The image's first frame as loaded RGB, transparent parts over white (local models)."""
    from PIL import Image

    with Image.open(path) as im:
        im.seek(0)
        if im.mode in ("RGBA", "LA", "P", "PA") or "transparency" in im.info:
            rgba = im.convert("RGBA")
            flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            flat.alpha_composite(rgba)
            return flat.convert("RGB")
        return im.convert("RGB")
