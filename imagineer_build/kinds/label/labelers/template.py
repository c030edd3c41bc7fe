"""The `template` labeler: a caption formatted from the image record (e.g. a generation's variables)."""

from __future__ import annotations

import posixpath
import string
from typing import Any

from ....media.album import AlbumImage
from ....media.labelset import Label


def check_format(fmt: str) -> str | None:
    """A syntax problem in a format string, or None."""
    try:
        list(string.Formatter().parse(fmt))
    except ValueError as e:
        return f"template {fmt!r}: {e}"
    return None


def fields(im: AlbumImage) -> dict[str, Any]:
    """What a template may name: the record's own fields, its extra keys, and one level below them."""
    base = posixpath.basename(im.path)
    out: dict[str, Any] = {}
    for v in im.extra.values():
        if isinstance(v, dict):
            out.update({k: x for k, x in v.items() if isinstance(k, str)})
    out.update(im.extra)
    out.update({"digest": im.digest, "path": im.path, "name": base, "stem": posixpath.splitext(base)[0],
                "width": im.width, "height": im.height, "format": im.format, "origin": im.origin,
                "caption": im.caption or ""})
    return out


def render(fmt: str, values: dict[str, Any]) -> str:
    try:
        return fmt.format_map(values).strip()
    except KeyError as e:
        names = ", ".join(sorted(values))
        raise ValueError(f"template field {e.args[0]!r} is not in this image's record (has: {names})") from None
    except (IndexError, ValueError, AttributeError, TypeError) as e:
        raise ValueError(f"template {fmt!r}: {e}") from None


def label_template(images: list[AlbumImage], fmt: str, tag_fmts: list[str] | None) -> dict[str, Label]:
    out: dict[str, Label] = {}
    for im in images:
        values = fields(im)
        try:
            caption = render(fmt, values)
            tags = [t for t in (render(f, values) for f in tag_fmts or []) if t]
        except ValueError as e:
            out[im.digest] = Label(labeler="template", error=str(e))
            continue
        out[im.digest] = Label(caption=caption or None, tags=tags, labeler="template", origin="template")
    return out
