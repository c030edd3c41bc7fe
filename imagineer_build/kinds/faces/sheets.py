"""Contact sheets of face crops, one per cluster, so a person can check and name clusters.

Each face's thumbnail is memoised per (image digest, box), so a rebuild after adding photos
decodes only the new ones; the sheets themselves are recomposed (numbers and members move).
"""

from __future__ import annotations

import io
from pathlib import Path

from ...core.kind import BuildContext
from .cluster import Face

MAX_FACES = 48  # per sheet; `imagineer faces show TARGET --cluster N` lists them all
MARGIN = 0.25  # of the face box, on every side
THUMB = 96
THUMB_VERSION = "1"
MEMO = "faces.thumb"


def face_thumb(path: str, box: list[int]) -> bytes:
    """PNG bytes: the face with a margin, at most THUMB pixels a side."""
    from PIL import Image

    from .analyze import to_rgb

    x, y, w, h = box
    mx, my = round(w * MARGIN), round(h * MARGIN)
    with Image.open(path) as im:
        im.seek(0)
        W, H = im.size
        crop = to_rgb(im.crop((max(0, x - mx), max(0, y - my), min(W, x + w + mx), min(H, y + h + my))))
    crop.thumbnail((THUMB, THUMB), Image.LANCZOS)
    buf = io.BytesIO()
    crop.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def sheets(ctx: BuildContext, groups: dict[str, list[Face]], paths: dict[str, str]) -> dict[str, bytes]:
    """name → PNG bytes of the first MAX_FACES faces (by id) of each group, with file names."""
    from ...media.contact import contact_sheet

    memo = ctx.memo(MEMO)
    shown = {name: sorted(fs, key=lambda f: f.id)[:MAX_FACES] for name, fs in groups.items()}
    keys = {f.id: memo.key(f.image, f.box, THUMB_VERSION) for fs in shown.values() for f in fs}
    found = memo.get_many(set(keys.values()))
    thumbs: dict[str, str] = {}
    for fs in shown.values():
        for f in fs:
            hit = found.get(keys[f.id])
            if hit and hit[1] and ctx.has_blob(hit[1]):
                thumbs[f.id] = hit[1]
            elif f.id not in thumbs:
                thumbs[f.id] = memo.put_bytes(keys[f.id], face_thumb(paths[f.image], f.box))
        ctx.check_cancelled()
    out = {}
    for name, fs in shown.items():
        items = [(ctx.blob_path(thumbs[f.id]), Path(f.path).name + (" (moved)" if f.corrected == "moved" else ""))
                 for f in fs]
        out[name] = contact_sheet(items, thumb=THUMB, columns=8)
    return out
