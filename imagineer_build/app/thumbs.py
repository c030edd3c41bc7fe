"""Thumbnails: made once per (image blob, size), kept in the store's item memo.

A thumbnail is a JPEG blob in the store, named in the memo namespace `app.thumb` by the image
digest and size, so it is shared by every target that holds the image, survives restarts, and
`imagineer gc` keeps it like any memo entry (`--max-size` may evict it; it is made again on
the next view). A process-local map skips the memo lookup for thumbnails already served.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

SIZES = (160, 320, 640)
NS = "app.thumb"
VERSION = "1"  # bump when the same image would give another thumbnail
QUALITY = 82


class Thumbs:
    def __init__(self, store):
        self.store = store
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()
        self.made = 0

    def known(self, digest: str, size: int) -> bytes | None:
        """The thumbnail if this process served it before (no memo lookup, no decoding)."""
        blob = self._known.get(f"{VERSION}:{digest}:{size}")
        if blob is None:
            return None
        try:
            return self.store.blob_path(blob).read_bytes()
        except OSError:
            return None

    def get(self, digest: str, size: int) -> bytes | None:
        """The JPEG bytes; None when the image cannot be decoded."""
        key = f"{VERSION}:{digest}:{size}"
        blob = self._known.get(key)
        if blob is None:
            hit = self.store.memo_get_many(NS, [key]).get(key)
            blob = hit[1] if hit else None
        if blob is not None:
            try:
                data = self.store.blob_path(blob).read_bytes()
                self._remember(key, blob)
                return data
            except OSError:
                pass  # collected since: make it again
        data = render(self.store.blob_path(digest), size)
        if data is None:
            return None
        for attempt in range(2):  # a build starting now may clear the store's tmp under our feet
            try:
                blob = self.store.put_bytes(data)
                break
            except FileNotFoundError:
                if attempt:
                    return data
        self.store.memo_put(NS, key, None, blob)
        self._remember(key, blob)
        with self._lock:
            self.made += 1
        return data

    def _remember(self, key: str, blob: str) -> None:
        with self._lock:
            if len(self._known) > 200_000:
                self._known.clear()
            self._known[key] = blob


def render(path: Path, size: int) -> bytes | None:
    """A JPEG no larger than size×size; transparency over light grey; the first frame of an animation."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
            im = ImageOps.exif_transpose(im)
            im.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                bg = Image.new("RGB", im.size, (236, 236, 236))
                bg.paste(im, mask=im.getchannel("A"))
                im = bg
            elif im.mode != "RGB":
                im = im.convert("RGB")
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=QUALITY)
            return buf.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
