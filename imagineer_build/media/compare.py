"""How two versions of one output file differ, in the file's own terms (pixels, tensors, keys).

`imagineer verify` asks this when a rebuild's bytes differ from the lock's: "max abs diff 3/255
in 12 pixels" says whether it is noise or a real change; "bytes differ" does not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")


def compare_file(rel: str, old: Path, new: Path, tol: Any) -> tuple[bool, str]:
    """(within tolerance, description); tol has .pixel, .rtol, .atol (core.kind.Tolerance)."""
    suffix = Path(rel).suffix.lower()
    try:
        if suffix in IMAGE_SUFFIXES:
            return _images(old, new, tol.pixel)
        if suffix == ".safetensors":
            return _tensors(old, new, tol.rtol, tol.atol)
        if suffix in (".json", ".jsonl"):
            return False, _json(old, new)
    except Exception as e:  # a file that does not parse is compared as bytes
        return False, f"bytes differ; could not compare as {suffix or 'data'}: {e}"
    return False, _bytes(old, new)


def _images(old: Path, new: Path, pixel: int) -> tuple[bool, str]:
    import numpy as np
    from PIL import Image

    with Image.open(old) as a_im, Image.open(new) as b_im:
        a, b = np.asarray(a_im.convert("RGBA")), np.asarray(b_im.convert("RGBA"))
        meta = "" if a_im.info == b_im.info else "; metadata differs"
    if a.shape != b.shape:
        return False, f"image size {a.shape[1]}×{a.shape[0]} → {b.shape[1]}×{b.shape[0]}"
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    worst = int(diff.max())
    pixels = int((diff.max(axis=2) > 0).sum())
    if worst == 0:
        return not meta, "pixels identical" + meta
    return worst <= pixel and not meta, (f"max abs diff {worst}/255, {pixels} of {a.shape[0] * a.shape[1]} "
                                         f"pixels differ{meta}")


def _tensors(old: Path, new: Path, rtol: float, atol: float) -> tuple[bool, str]:
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import load_file

    a, b = load_file(str(old)), load_file(str(new))
    notes: list[str] = []
    only = sorted(set(a) ^ set(b))
    if only:
        notes.append(f"{len(only)} tensors in one file only (e.g. {only[0]})")
    worst, bad, total, ok = 0.0, 0, 0, not only
    for k in sorted(set(a) & set(b)):
        x, y = a[k].astype(np.float64), b[k].astype(np.float64)
        if x.shape != y.shape:
            notes.append(f"{k}: shape {x.shape} → {y.shape}")
            ok = False
            continue
        d = np.abs(x - y)
        worst = max(worst, float(d.max()) if d.size else 0.0)
        bad += int((d > 0).sum())
        total += d.size
        ok = ok and bool(np.all(d <= atol + rtol * np.abs(y)))
    with safe_open(str(old), "np") as fa, safe_open(str(new), "np") as fb:
        ma, mb = fa.metadata() or {}, fb.metadata() or {}
    if ma != mb:
        keys = sorted(k for k in set(ma) | set(mb) if ma.get(k) != mb.get(k))
        notes.append(f"metadata differs: {', '.join(keys[:5])}")
        ok = False
    if bad:
        notes.insert(0, f"max abs diff {worst:.3g}, {bad} of {total} elements differ")
    elif not notes:
        notes.append("tensors identical (layout differs)")
    return ok, "; ".join(notes)


def _json(old: Path, new: Path) -> str:
    a, b = json.loads(old.read_bytes()), json.loads(new.read_bytes())
    paths = _json_diff(a, b, "")
    if not paths:
        return "same data, other formatting"
    return f"{len(paths)} value(s) differ: " + ", ".join(paths[:6]) + (" …" if len(paths) > 6 else "")


def _json_diff(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b), key=str):
            out += _json_diff(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True)) for p in _json_diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [path or "(top level)"]


def _bytes(old: Path, new: Path) -> str:
    a, b = old.read_bytes(), new.read_bytes()
    first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return f"bytes differ from offset {first} ({len(a)} → {len(b)} bytes)"
