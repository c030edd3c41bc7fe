"""A `dir:` source's album records from its folder listing: which files are images, and each
kept image's record with its sidecar caption. Shared by the full build and the patch."""

from __future__ import annotations

import posixpath

from ...core.kind import BuildContext
from ...media.album import AlbumImage
from .config import IMAGE_SUFFIXES
from .select import Item


def file_role(rel: str, sidecar_ext: str | None) -> str:
    """"image", "sidecar" (a caption file, read with its image) or "other" (reported, unused)."""
    low = rel.lower()
    if low.endswith(IMAGE_SUFFIXES):
        return "image"
    if sidecar_ext and low.endswith(sidecar_ext):
        return "sidecar"
    return "other"


def not_an_image(rel: str) -> dict[str, str]:
    return {"path": rel, "reason": "not an image file name (" + ", ".join(IMAGE_SUFFIXES) + ")"}


def album_images(ctx: BuildContext, listing, kept: list[Item], problems: list[dict[str, str]]) -> list[AlbumImage]:
    """The album records of kept images, in order, with their sidecar captions; a sidecar that
    cannot be used is appended to `problems` (and logged) once per image it belongs to."""
    cfg = ctx.config
    ext = cfg.sidecar_ext
    sidecars = read_sidecars(ctx, listing, [posixpath.splitext(it.id)[0] + ext for it in kept]) if ext else {}
    images: list[AlbumImage] = []
    for n, it in enumerate(kept):
        captions = []
        if ext:
            side = posixpath.splitext(it.id)[0] + ext
            if side in sidecars:
                text, problem = sidecars[side]
                if problem:
                    problems.append({"path": side, "reason": problem})
                    ctx.log(f"skipped caption {side}: {problem}", "warning")
                elif text:
                    captions.append({"text": text, "origin": "sidecar"})
        info = it.info
        images.append(AlbumImage(
            digest=it.digest, path=f"images/{it.id}", width=info["width"], height=info["height"],
            format=info["format"], origin=f"dir:{cfg.dir}/{it.id}", phash=info["phash"],
            caption=captions[0]["text"] if captions else None, captions=captions,
            extra={"frames": info["frames"]} if info.get("frames", 1) > 1 else {},
        ))
        if n % 200 == 0:
            ctx.check_cancelled()
    return images


SIDECAR_NS, SIDECAR_VERSION = "source.sidecar", "1"  # bump when caption_text changes


def read_sidecars(ctx: BuildContext, listing, sides: list[str]) -> dict[str, tuple[str | None, str | None]]:
    """Listed sidecar → (caption, None) or (None, why it was skipped), memoised by the file's
    digest: reading 10,000 caption files again at every rebuild was a fifth of a source's.
    Only bytes that hash to the listed digest are memoised, and unreadable files never are."""
    from ...core.files import read_regular
    from ...core.hashing import digest_bytes
    from ...media.text import MAX_CAPTION_BYTES, caption_text

    listed = {side: listing.entries[side][0] for side in sides if side in listing.entries}
    memo = ctx.memo(SIDECAR_NS)
    keys = dict(zip(listed, memo.keys(listed.values(), SIDECAR_VERSION, MAX_CAPTION_BYTES), strict=True))
    found = memo.get_many(set(keys.values()))
    out: dict[str, tuple[str | None, str | None]] = {}
    with memo.batch() as remember:
        for side, key in keys.items():
            hit = found.get(key)
            if hit is not None and isinstance(hit[0], list) and len(hit[0]) == 2:
                out[side] = (hit[0][0], hit[0][1])
                continue
            try:
                data = read_regular(listing.abspath(side), MAX_CAPTION_BYTES)
            except OSError as e:
                out[side] = (None, f"caption unreadable: {e.strerror or e}")
                continue
            out[side] = caption_text(data)
            if digest_bytes(data) == listed[side]:  # else it changed since listed: the build fails
                remember(key, list(out[side]))
                found[key] = (list(out[side]), None)
    return out
