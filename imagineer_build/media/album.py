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
    labels = labels or {}
    line = _line_encoder()
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
    labels = labels or {}
    rows = [_csv_row(im.__dict__, labels.get(im.digest)) for im in album.images]
    return _csv_text(_csv_columns(rows), rows, header=True).encode("utf-8")


def patched_manifest_files(records: list[dict[str, Any]], reused: list[int | None], old_count: int,
                           old_jsonl: bytes | None, old_csv: bytes | None) -> dict[str, bytes]:
    """manifest_files() of an unlabelled album whose record n is record reused[n] of an album
    of old_count records (None: a new record), copying the unchanged records' lines from that
    album's files: encoding 10,000 records again to change one was most of a patched source's
    time. Either file is made in full where the old one does not hold one line per record."""
    jsonl = patched_jsonl(records, reused, old_count, old_jsonl)
    # a reused record without extra columns has the fixed ones only: its row is its old line
    rows = [None if i is not None and not rec["extra"] else _csv_row(rec, None)
            for rec, i in zip(records, reused, strict=True)]
    columns = _csv_columns(r for r in rows if r is not None)
    header = _csv_text(columns, [], header=True).encode("utf-8")
    old_rows = old_csv.split(b"\n") if old_csv else []
    if len(old_rows) == old_count + 2 and not old_rows[-1] and old_rows[0] + b"\n" == header:
        out = [header]
        for i, row in zip(reused, rows, strict=True):
            out.append(old_rows[i + 1] + b"\n" if row is None else _csv_text(columns, [row]).encode("utf-8"))
        csv = b"".join(out)
    else:
        csv = _csv_text(columns, [r if r is not None else _csv_row(rec, None) for rec, r in zip(records, rows, strict=True)],
                        header=True).encode("utf-8")
    return {"album.jsonl": jsonl, "album.csv": csv}


def patched_jsonl(records: list[dict[str, Any]], reused: list[int | None], old_count: int,
                  old_jsonl: bytes | None) -> bytes:
    """album.jsonl of records without labels, where record n is line reused[n] of an old
    album.jsonl of old_count lines (None: encode it); made in full where the old file does not
    hold one line per record. The lines are album_jsonl's."""
    line = _line_encoder()
    old_lines = old_jsonl.split(b"\n") if old_jsonl else []
    if not records:
        return b""
    if len(old_lines) == old_count + 1 and not old_lines[-1]:
        return b"\n".join(old_lines[i] if i is not None else line(rec).encode("utf-8")
                          for rec, i in zip(records, reused, strict=True)) + b"\n"
    return "".join(line(rec) + "\n" for rec in records).encode("utf-8")


def _line_encoder():
    from ..core.hashing import json_encoder

    return json_encoder(sort_keys=True, separators=(", ", ": "), ensure_ascii=False, allow_nan=True)


def _csv_row(im: dict[str, Any], lab: dict[str, Any] | None) -> dict[str, Any]:
    """An image's album.csv row as {column: value}, from its record's fields."""
    row = {"file": im["path"], "width": im["width"], "height": im["height"], "format": im["format"],
           "caption": (lab or {}).get("caption") or im["caption"] or "", "origin": im["origin"]}
    if lab:
        row.update({"tags": ", ".join(lab.get("tags") or []), "nsfw": lab.get("nsfw") or "",
                    "labeler": lab.get("labeler") or ""})
    for k, v in _flat(im["extra"]).items():
        row[k] = v
    return row


def _csv_columns(rows) -> list[str]:
    """The fixed columns, then every other column in the order the rows first name it."""
    columns = ["file", "width", "height", "format", "caption", "origin"]
    seen = set(columns)
    for row in rows:
        if len(row) > 6:
            for k in row:
                if k not in seen:
                    seen.add(k)
                    columns.append(k)
    return columns


def _csv_text(columns: list[str], rows: list[dict[str, Any]], header: bool = False) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")  # DictWriter's per-row field checks cost more than the rows
    if header:
        w.writerow(columns)
    w.writerows([row.get(c, "") for c in columns] for row in rows)
    return buf.getvalue()


def _flat(extra: dict[str, Any]) -> dict[str, Any]:
    """Scalar extras as columns; nested mappings (a CSV row, variations) one level deep."""
    out: dict[str, Any] = {}
    for k, v in extra.items():
        if isinstance(v, dict):
            out.update({kk: vv for kk, vv in v.items() if not isinstance(vv, (dict, list))})
        elif not isinstance(v, list):
            out[k] = v
    return out
