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


def readable_names(wanted: list[tuple[str, str]]) -> list[str]:
    """A file name per (wanted name, digest): the wanted one where no other image wants it, else
    `stem-<digest[:8]>.ext`, so names are readable, collision-free, and independent of order."""
    import posixpath
    from collections import Counter

    seen = Counter(name.lower() for name, _ in wanted)
    out, used = [], set()
    for name, digest in wanted:
        stem, ext = posixpath.splitext(name)
        pick = name if seen[name.lower()] == 1 else f"{stem}-{digest[:8]}{ext}"
        n = 2
        while pick.lower() in used:  # the same bytes wanted twice under one name
            pick, n = f"{stem}-{digest[:8]}-{n}{ext}", n + 1
        used.add(pick.lower())
        out.append(pick)
    return out


def manifest_files(album: Album, labels: dict[str, Any] | None = None) -> dict[str, bytes]:
    """album.jsonl (every record, one per line) and album.csv (one row per image, the columns a
    spreadsheet filters on) for an out view, so people and other tools see what the store
    knows: captions and their origins, URLs, tags, ratings, seeds and variation values."""
    return {"album.jsonl": album_jsonl(album, labels), "album.csv": album_csv(album, labels)}


def album_jsonl(album: Album, labels: dict[str, Any] | None = None) -> bytes:
    """Every record (with its label, if any), one JSON object per line."""
    from ..core.hashing import json_encoder

    labels = labels or {}
    line = json_encoder(sort_keys=True, separators=(", ", ": "), ensure_ascii=False, allow_nan=True)
    lines = []
    for im in album.images:
        rec = im.to_dict()
        lab = labels.get(im.digest)
        if lab:
            rec["label"] = lab
        lines.append(line(rec))
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def album_csv(album: Album, labels: dict[str, Any] | None = None) -> bytes:
    """One row per image: file, size, format, best caption, origin, then label and extra columns."""
    import csv
    import io

    labels = labels or {}
    rows, columns = [], ["file", "width", "height", "format", "caption", "origin"]
    for im in album.images:
        lab = labels.get(im.digest)
        row = {"file": im.path, "width": im.width, "height": im.height, "format": im.format,
               "caption": (lab or {}).get("caption") or im.caption or "", "origin": im.origin}
        if lab:
            row.update({"tags": ", ".join(lab.get("tags") or []), "nsfw": lab.get("nsfw") or "",
                        "labeler": lab.get("labeler") or ""})
        for k, v in _flat(im.extra).items():
            row[k] = v
        for k in row:
            if k not in columns:
                columns.append(k)
        rows.append(row)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")  # DictWriter's per-row field checks cost more than the rows
    w.writerow(columns)
    w.writerows([row.get(c, "") for c in columns] for row in rows)
    return buf.getvalue().encode("utf-8")


def _flat(extra: dict[str, Any]) -> dict[str, Any]:
    """Scalar extras as columns; nested mappings (a CSV row, variations) one level deep."""
    out: dict[str, Any] = {}
    for k, v in extra.items():
        if isinstance(v, dict):
            out.update({kk: vv for kk, vv in v.items() if not isinstance(vv, (dict, list))})
        elif not isinstance(v, list):
            out[k] = v
    return out
