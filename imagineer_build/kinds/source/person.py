"""The `faces:` variant: an album of the photos where one named person appears.

`crop: head | upper-body` cuts each photo around that person's face box with margins that
are multiples of the box (so they scale with the face); `none` passes the photo on unchanged.
Captions are carried over, and every image records which face was the person's, in its own
pixels, so a dataset can classify its shot from it. Crops are memoised per (image, region).
"""

from __future__ import annotations

import io
import posixpath
from typing import Any

from ...core.artifact import Artifact
from ...core.kind import BuildContext
from ...media.album import Album, AlbumImage, manifest_files

# left, top, right, bottom margins as multiples of the face box: a head crop makes a close shot
# (the face is ~28 % of it), an upper-body crop a mid shot (~10 %) on the seed's cut-offs
CROPS = {"head": (0.4, 0.6, 0.4, 0.4), "upper-body": (1.0, 0.8, 1.0, 1.7)}
CROP_VERSION = "1"


class PersonError(ValueError):
    """A person source that cannot be built; the message says what exists instead."""


def crop_region(box: list[int], width: int, height: int, crop: str) -> list[int]:
    """[x0, y0, x1, y1] around the face box, clamped to the image."""
    x, y, w, h = box
    left, top, right, bottom = CROPS[crop]
    return [max(0, round(x - left * w)), max(0, round(y - top * h)),
            min(width, round(x + w + right * w)), min(height, round(y + h + bottom * h))]


def crop_png(path: str, region: list[int]) -> tuple[bytes, dict[str, Any]]:
    """(PNG bytes, {"width", "height", "phash"}) of one region of an image."""
    from PIL import Image

    from ...media.phash import phash
    from ..faces.analyze import to_rgb

    with Image.open(path) as im:
        im.seek(0)
        part = to_rgb(im.crop(tuple(region)))
    buf = io.BytesIO()
    part.save(buf, "PNG", compress_level=6)
    return buf.getvalue(), {"width": part.width, "height": part.height, "phash": phash(part)}


def person_names(meta: dict[str, Any]) -> list[str]:
    return list(meta.get("faces", {}).get("names", []))


def build_person(ctx: BuildContext) -> Artifact:
    from ...core.spec import did_you_mean

    cfg = ctx.config
    view = ctx.upstream[cfg.faces]
    if "faces" not in view.meta:
        raise PersonError(f"faces: {cfg.faces!r} is not a faces target (faces: {{NAME: {{of: [ALBUM]}}}})")
    album = Album.from_meta(view.meta)
    names = person_names(view.meta)
    if cfg.person not in names:
        shown = ", ".join(names) if names else "none yet"
        raise PersonError(
            f"person: no face in {cfg.faces} is named {cfg.person!r}{did_you_mean(cfg.person, names)}; "
            f"the names are: {shown} (`imagineer faces show {cfg.faces}`, then "
            f"`imagineer faces name {cfg.faces} CLUSTER {cfg.person}`)")
    memo = ctx.memo("faces.crop") if cfg.crop != "none" else None
    files: dict[str, str] = {}
    images: list[AlbumImage] = []
    several: list[dict[str, Any]] = []
    for im in album.images:
        mine = [f for f in im.extra.get("faces", []) if f.get("person") == cfg.person]
        if not mine:
            continue
        face = max(mine, key=lambda f: (f["box"][2] * f["box"][3], f["score"], f["id"]))
        if len(mine) > 1:
            several.append({"path": im.path, "reason": f"{cfg.person} appears {len(mine)} times; the largest face is used"})
        extra = {k: v for k, v in im.extra.items() if k not in ("faces", "face_detector")}
        record = {"id": face["id"], "person": cfg.person, "cluster": face.get("cluster"), "score": face["score"],
                  "detector": im.extra.get("face_detector"), "source_box": face["box"], "crop": None}
        if cfg.crop == "none":
            out = AlbumImage(**{**im.to_dict(), "extra": extra})
            files[im.path] = view.files[im.path]
            box = face["box"]
        else:
            region = crop_region(face["box"], im.width, im.height, cfg.crop)
            key = memo.key(im.digest, region, CROP_VERSION)
            hit = memo.get(key)
            if hit is None or not hit[1] or not ctx.has_blob(hit[1]):  # a collected crop is made again
                data, info = crop_png(str(ctx.file(view, im.path)), region)
                digest = memo.put_bytes(key, data, info)
            else:
                info, digest = hit
            rel = _free(posixpath.splitext(im.path)[0] + ".png", files)
            files[rel] = digest
            out = AlbumImage(digest=digest, path=rel, width=info["width"], height=info["height"], format="png",
                             origin=f"faces:{cfg.faces}/{im.path}#{cfg.crop}", phash=info["phash"],
                             caption=im.caption, captions=list(im.captions), extra=extra)
            box = [face["box"][0] - region[0], face["box"][1] - region[1], face["box"][2], face["box"][3]]
            box = [max(0, box[0]), max(0, box[1]), min(box[2], out.width - max(0, box[0])),
                   min(box[3], out.height - max(0, box[1]))]
            record["crop"] = region
        record["box"] = box
        record["ratio"] = round(box[2] * box[3] / (out.width * out.height), 4)
        out.extra["face"] = record
        images.append(out)
        ctx.check_cancelled()
    ctx.progress(len(images), len(images), f"photos of {cfg.person}")
    result = Album(images, {"several": several})
    files.update({rel: ctx.put_bytes(data) for rel, data in manifest_files(result).items()})
    return Artifact(files=files, meta=result.meta(), facts=result.facts())


def _free(rel: str, taken: dict[str, str]) -> str:
    """rel, or rel with -2, -3 … before the suffix when an earlier image took it."""
    stem, ext = posixpath.splitext(rel)
    n, out = 1, rel
    while out in taken:
        n += 1
        out = f"{stem}-{n}{ext}"
    return out
