"""The album: the artifact shape every image-producing kind shares and every consumer reads.

meta = {"album": {"images": [record, ...]}, "report": {...}}
record = {"digest", "path" (file in the artifact), "width", "height", "format", "origin",
          "caption" (best one or None), "captions": [{"text", "origin"}], "phash", "extra": {...}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALBUM_VERSION = 1


@dataclass
class AlbumImage:
    digest: str
    path: str
    width: int
    height: int
    format: str
    origin: str
    phash: str = ""
    caption: str | None = None
    captions: list[dict[str, str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict deep-copies every value, a quarter of a 10k-image rebuild.
        return {"digest": self.digest, "path": self.path, "width": self.width, "height": self.height,
                "format": self.format, "origin": self.origin, "phash": self.phash, "caption": self.caption,
                "captions": self.captions, "extra": self.extra}


@dataclass
class Album:
    images: list[AlbumImage]
    report: dict[str, Any] = field(default_factory=dict)

    def meta(self) -> dict[str, Any]:
        return {"album": {"version": ALBUM_VERSION, "images": [i.to_dict() for i in self.images]},
                "report": self.report}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Album:
        if "album" not in meta:
            raise ValueError("this artifact is not an album (no album manifest)")
        return cls([AlbumImage(**r) for r in meta["album"]["images"]], meta.get("report", {}))

    def facts(self) -> dict[str, Any]:
        f: dict[str, Any] = {"images": len(self.images)}
        for k, v in self.report.items():
            if isinstance(v, list):
                f[k] = len(v)
        return f


EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "gif": "gif", "bmp": "bmp", "tiff": "tif"}
