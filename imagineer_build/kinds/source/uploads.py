"""Copy validated image files into a source folder without ever overwriting anything."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ...core.hashing import digest_file
from ...media.album import EXTENSIONS
from ...media.decode import BadImage, DecodeLimits, probe_file
from .config import IMAGE_SUFFIXES


def _candidates(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file()
                          and not any(part.startswith(".") for part in f.relative_to(p).parts))
        else:
            out.append(p)
    return out


def _existing_digests(dest: Path) -> dict[str, str]:
    """digest → name of every image already in the folder."""
    have: dict[str, str] = {}
    if dest.is_dir():
        for f in sorted(dest.rglob("*")):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                have.setdefault(digest_file(f)[0], f.relative_to(dest).as_posix())
    return have


def _place(src: Path, dest_dir: Path, name: str) -> str:
    """Copy src into dest_dir under `name`, or `stem-N.ext` when taken; never replaces a file."""
    stem, ext = os.path.splitext(name)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=".add-")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        n = 0
        while True:
            candidate = name if n == 0 else f"{stem}-{n}{ext}"
            try:
                os.link(tmp, dest_dir / candidate)  # fails if the name exists: no overwrite, no race
                return candidate
            except FileExistsError:
                n += 1
    finally:
        os.unlink(tmp)


def add_files(paths: list[Path], dest: Path, limits: DecodeLimits, sidecar_ext: str | None) -> list[dict[str, Any]]:
    """One result per file: {"file", "status": added|duplicate|refused, "as"?, "reason"?}."""
    dest.mkdir(parents=True, exist_ok=True)
    have = _existing_digests(dest)
    results: list[dict[str, Any]] = []
    files = _candidates(paths)
    sidecars = {f for f in files if sidecar_ext and f.suffix.lower() == sidecar_ext
                and any(f.with_suffix(s).exists() for s in IMAGE_SUFFIXES)}
    for f in files:
        if f in sidecars:
            continue  # copied with its image
        try:
            info = probe_file(f, limits)
        except BadImage as e:
            results.append({"file": str(f), "status": "refused", "reason": str(e)})
            continue
        except OSError as e:
            results.append({"file": str(f), "status": "refused", "reason": f"cannot read: {e.strerror or e}"})
            continue
        digest = digest_file(f)[0]
        if digest in have:
            results.append({"file": str(f), "status": "duplicate", "as": have[digest]})
            continue
        name, reasons = f.name, []
        if f.suffix.lower() not in IMAGE_SUFFIXES:
            name = f"{f.stem}.{EXTENSIONS.get(info.format, info.format)}"
            reasons.append(f"the bytes are {info.format}")
        placed = _place(f, dest, name)
        if placed != name:
            reasons.append(f"{name} holds a different image")
        have[digest] = placed
        res = {"file": str(f), "status": "added", "as": placed}
        if reasons:
            res["reason"] = "; ".join(reasons)
        side = f.with_suffix(sidecar_ext) if sidecar_ext else None
        if side is not None and side.is_file():
            target = os.path.splitext(placed)[0] + sidecar_ext
            if not (dest / target).exists():
                shutil.copyfile(side, dest / target)
                res["caption"] = target
        results.append(res)
    return results
