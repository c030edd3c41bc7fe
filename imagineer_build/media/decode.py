"""Open untrusted image bytes safely and describe them; every rejection carries a reason.

Pillow only warns between 1x and 2x MAX_IMAGE_PIXELS, and a tiny PNG can claim 100 MP, so the
pixel cap is ours and is checked from the header before any pixel is decoded. Truncation
only shows on load(), so every image is fully loaded once here.
"""

from __future__ import annotations

import errno
import os
import warnings
from dataclasses import dataclass

PROBE_VERSION = "2"  # bump when what probe() reports changes (2: our integer-DCT phash)


@dataclass(frozen=True)
class DecodeLimits:
    max_pixels: int = 64_000_000
    max_bytes: int = 50_000_000
    animated: str = "first"  # first | skip


class BadImage(Exception):
    """An input that is not a usable image; the message is the reason shown in reports."""


@dataclass
class ImageInfo:
    width: int
    height: int
    format: str  # Pillow's name, lower case: jpeg, png, webp, gif, bmp
    frames: int
    phash: str  # 64-bit perceptual hash, 16 hex digits

    def to_dict(self) -> dict:
        # By hand: asdict deep-copies, a visible cost in the probe workers of a first build
        return {"width": self.width, "height": self.height, "format": self.format, "frames": self.frames,
                "phash": self.phash}


def _sniff(head: bytes) -> str:
    h = head.lstrip()[:64].lower()
    if h.startswith((b"<!doctype html", b"<html", b"<?xml", b"<svg", b"<head", b"<body")) or h.startswith(b"<"):
        return "not an image: the bytes are HTML/XML text"
    if h.startswith((b"{", b"[")):
        return "not an image: the bytes are JSON text"
    return "not an image Pillow can read"


def probe_file(path: str | os.PathLike, limits: DecodeLimits = DecodeLimits()) -> ImageInfo:
    return probe_data(read_image_file(path, limits), limits)


def read_image_file(path: str | os.PathLike, limits: DecodeLimits) -> bytes:
    """A file's bytes, refused (BadImage) when empty or over the byte limit; OSError when the
    file cannot be read."""
    size = os.path.getsize(path)
    if size == 0:
        raise BadImage("empty file (0 bytes)")
    if size > limits.max_bytes:
        raise BadImage(f"file is {size} bytes, over the {limits.max_bytes}-byte limit")
    from ..core.files import read_regular

    try:
        return read_regular(path, limits.max_bytes)
    except OSError as e:
        if e.errno == errno.EFBIG:  # it grew after its size was read
            raise BadImage(f"file is over the {limits.max_bytes}-byte limit") from None
        raise


def probe_data(data: bytes, limits: DecodeLimits = DecodeLimits()) -> ImageInfo:
    import io

    return _probe(io.BytesIO(data), data[:256], limits)


def _probe(fp, head: bytes, limits: DecodeLimits) -> ImageInfo:
    from PIL import Image, UnidentifiedImageError  # here, not at import: specs load this module

    from .phash import phash

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(fp)
        except UnidentifiedImageError:
            raise BadImage(_sniff(head)) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise BadImage(f"decompression bomb: {e}") from None
        except (OSError, ValueError, SyntaxError) as e:
            raise BadImage(f"cannot open: {e}") from None
        with im:
            w, h = im.size
            if w <= 0 or h <= 0:
                raise BadImage(f"invalid size {w}x{h}")
            if w * h > limits.max_pixels:
                raise BadImage(f"decompression bomb: {w}x{h} = {w * h} pixels, over the {limits.max_pixels}-pixel limit")
            fmt = (im.format or "unknown").lower()
            frames = getattr(im, "n_frames", 1)
            if frames > 1 and limits.animated == "skip":
                raise BadImage(f"animated {fmt} with {frames} frames (decode.animated: skip)")
            try:
                if fmt == "jpeg":
                    im.draft("RGB", (512, 512))
                im.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
                raise BadImage(f"decompression bomb: {e}") from None
            except (OSError, ValueError, SyntaxError, EOFError) as e:
                raise BadImage(f"truncated or corrupt image data: {e}") from None
            small = im.convert("L") if im.mode not in ("L", "RGB") else im
            ph = phash(small)
    return ImageInfo(w, h, fmt, frames, ph)


def probe_read(path: str, limits: DecodeLimits) -> tuple[dict, bytes | None]:
    """For process pools: (the probe as a dict, the bytes it describes, None when the file
    could not be read). Never raises, so one bad file cannot sink a batch; "transient" marks a
    verdict about the file, not its bytes, that must not be remembered."""
    try:
        data = read_image_file(path, limits)
    except BadImage as e:
        return {"ok": False, "error": str(e)}, None
    except OSError as e:  # the file, not its bytes: gone, unreadable, out of descriptors…
        return {"ok": False, "error": f"cannot read: {e}", "transient": True}, None
    try:
        return {"ok": True, **probe_data(data, limits).to_dict()}, data
    except BadImage as e:
        return {"ok": False, "error": str(e)}, data
    except Exception as e:  # a Pillow bug must still not be fatal, nor remembered as a verdict
        return {"ok": False, "error": f"unexpected decoder error: {type(e).__name__}: {e}", "transient": True}, data
