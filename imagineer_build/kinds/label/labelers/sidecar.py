"""The `sidecar` labeler: captions the album already carries (dir: .txt files, scrape alt text...)."""

from __future__ import annotations

from ....media.album import AlbumImage
from ....media.labelset import Label


def origin_rank(origin: str, prefer: list[str] | None) -> int | None:
    """Position of a caption origin in the preference list (None: not wanted); no list: all equal."""
    if not prefer:
        return 0
    for n, p in enumerate(prefer):
        if origin == p or origin.startswith(p + ":") or origin.split(":", 1)[0] == p:
            return n
    return None


def pick_caption(image: AlbumImage, prefer: list[str] | None) -> tuple[str, str] | None:
    """(text, origin) of the most preferred non-empty caption, album order breaking ties.

    With no preference list the album's own best caption (chosen by its source) is used.
    """
    if not prefer and image.caption and image.caption.strip():
        origin = next((c.get("origin") for c in image.captions if c.get("text") == image.caption), None)
        return image.caption.strip(), origin or "album"
    cands = list(image.captions)
    if not cands and image.caption:
        cands = [{"text": image.caption, "origin": "album"}]
    best: tuple[int, int, str, str] | None = None
    for i, c in enumerate(cands):
        text = (c.get("text") or "").strip()
        origin = c.get("origin") or "album"
        rank = origin_rank(origin, prefer)
        if not text or rank is None:
            continue
        if best is None or (rank, i) < best[:2]:
            best = (rank, i, text, origin)
    return (best[2], best[3]) if best else None


def label_sidecar(images: list[AlbumImage], prefer: list[str] | None) -> dict[str, Label]:
    out: dict[str, Label] = {}
    for im in images:
        got = pick_caption(im, prefer)
        if got:
            out[im.digest] = Label(caption=got[0], labeler="sidecar", origin=f"sidecar:{got[1]}")
    return out
