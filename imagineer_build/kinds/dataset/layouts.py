"""Training layouts: where each image and caption goes, plus the config file a trainer reads.

Images are referenced by their blob digest (never re-encoded), so the out view hard-links them
to the store. Paths inside the generated config files are relative to the dataset folder,
because an artifact is content-addressed and cannot know where it will be checked out.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from ...media.album import EXTENSIONS

CAPTION_EXT = ".txt"


@dataclass
class Placed:
    """One image ready to be written: its caption, shot and bucket are decided."""

    digest: str  # the image's identity (its digest in the label set)
    blob: str  # digest of the bytes in the store (the same unless upstream converted the file)
    stem: str  # base file name without extension (unique within the dataset)
    format: str
    caption: str
    shot: str | None
    repeats: int


@dataclass
class LayoutSettings:
    layout: str
    trigger: str | None
    name: str  # the dataset target (kohya folder name when there is no trigger)
    resolution: int
    batch_size: int
    repeats: int
    shot_folders: bool = False
    shuffle: bool = False
    keep_tokens: int = 1
    caption_dropout: float = 0.0
    bucket: dict[str, Any] = field(default_factory=dict)  # enabled, step, min_side, max_side
    names: str = "file"  # caption: the stems are caption slugs, which flat uses too


@dataclass
class LayoutFiles:
    images: dict[str, str] = field(default_factory=dict)  # path → image blob digest
    texts: dict[str, bytes] = field(default_factory=dict)  # path → new bytes (captions, configs)
    image_of: dict[str, str] = field(default_factory=dict)  # digest → its path


def unique_stems(names: list[tuple[str, str]]) -> dict[str, str]:
    """digest → a file stem unique in the dataset; clashes get the digest's first 8 digits."""
    counts: dict[str, int] = {}
    for _, stem in names:
        counts[stem.lower()] = counts.get(stem.lower(), 0) + 1
    out = {}
    for digest, stem in names:
        safe = _safe(stem) or "image"
        out[digest] = f"{safe}-{digest[:8]}" if counts[stem.lower()] > 1 else safe
    return out


def caption_stems(captions: list[tuple[str, str | None]], max_chars: int = 60) -> dict[str, str]:
    """digest → '<caption slug>_0001', numbered per slug in dataset order (names: caption)."""
    seen: dict[str, int] = {}
    out = {}
    for digest, caption in captions:
        slug = slugify(caption or "", max_chars) or "image"
        seen[slug] = seen.get(slug, 0) + 1
        out[digest] = f"{slug}_{seen[slug]:04d}"
    return out


def slugify(text: str, max_chars: int = 60) -> str:
    """Lowercase ASCII words joined by '-', cut at a word boundary: 'Red circle, on blue!' → red-circle-on-blue."""
    import re
    import unicodedata

    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > max_chars:
        slug = slug[:max_chars + 1].rsplit("-", 1)[0] if "-" in slug[:max_chars + 1] else slug[:max_chars]
    return slug


def _safe(name: str) -> str:
    """A name usable as a file or folder name on every OS."""
    bad = '/\\:*?"<>|\0'
    s = "".join("_" if c in bad or ord(c) < 32 else c for c in name).strip().strip(".")
    return s[:120]


def ext(fmt: str) -> str:
    return "." + EXTENSIONS.get(fmt, fmt)


def write(items: list[Placed], s: LayoutSettings) -> LayoutFiles:
    return {"kohya": _kohya, "flat": _flat, "imagefolder": _imagefolder, "ai-toolkit": _ai_toolkit}[s.layout](items, s)


def _folder(s: LayoutSettings, shot: str | None, base: str = "") -> str:
    if s.shot_folders:
        return posixpath.join(base, shot or "unknown") if base else (shot or "unknown")
    return base


def _pair(out: LayoutFiles, folder: str, stem: str, it: Placed) -> None:
    img = posixpath.join(folder, stem + ext(it.format)) if folder else stem + ext(it.format)
    out.images[img] = it.blob
    out.image_of[it.digest] = img
    out.texts[posixpath.splitext(img)[0] + CAPTION_EXT] = (it.caption + "\n").encode()


def kohya_folder(s: LayoutSettings, shot: str | None, repeats: int) -> str:
    token = _safe(s.trigger or s.name) or "dataset"
    if s.shot_folders:
        token = f"{token}_{shot or 'unknown'}"
    return f"{repeats}_{token}"


def _kohya(items: list[Placed], s: LayoutSettings) -> LayoutFiles:
    out = LayoutFiles()
    subsets: dict[str, int] = {}
    for it in items:
        folder = kohya_folder(s, it.shot, it.repeats)
        subsets.setdefault(folder, it.repeats)
        _pair(out, folder, it.stem, it)
    out.texts["dataset.toml"] = kohya_toml(subsets, s).encode()
    return out


def kohya_toml(subsets: dict[str, int], s: LayoutSettings) -> str:
    """A kohya sd-scripts --dataset_config file (TOML) for the subsets (folder → repeats)."""
    b = s.bucket
    lines = [
        "# kohya sd-scripts dataset config: train_network.py --dataset_config dataset.toml",
        "# image_dir paths are relative to this folder: run from here or make them absolute.",
        "",
        "[general]",
        f"caption_extension = {_toml(CAPTION_EXT)}",
        f"shuffle_caption = {_toml(s.shuffle)}",
        f"keep_tokens = {_toml(s.keep_tokens)}",
        "",
        "[[datasets]]",
        f"resolution = {_toml(s.resolution)}",
        f"batch_size = {_toml(s.batch_size)}",
        f"enable_bucket = {_toml(bool(b.get('enabled', True)))}",
        f"min_bucket_reso = {_toml(b.get('min_side', 256))}",
        f"max_bucket_reso = {_toml(b.get('max_side', 1024))}",
        f"bucket_reso_steps = {_toml(b.get('step', 64))}",
        "bucket_no_upscale = false",
    ]
    for folder, repeats in sorted(subsets.items()):
        lines += [
            "",
            "  [[datasets.subsets]]",
            f"  image_dir = {_toml(folder)}",
            f"  num_repeats = {_toml(repeats)}",
            f"  caption_dropout_rate = {_toml(float(s.caption_dropout))}",
        ]
        if s.trigger:
            lines.append(f"  class_tokens = {_toml(s.trigger)}")
    return "\n".join(lines) + "\n"


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return json.dumps(str(v), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _flat(items: list[Placed], s: LayoutSettings) -> LayoutFiles:
    out = LayoutFiles()
    width = max(4, len(str(len(items))))
    for n, it in enumerate(items, 1):
        _pair(out, _folder(s, it.shot), it.stem if s.names == "caption" else f"image_{n:0{width}d}", it)
    return out


def _imagefolder(items: list[Placed], s: LayoutSettings) -> LayoutFiles:
    """Images + metadata.jsonl (file_name, text): what datasets.load_dataset('imagefolder') reads."""
    out = LayoutFiles()
    rows = []
    for it in items:
        folder = _folder(s, it.shot)
        img = posixpath.join(folder, it.stem + ext(it.format)) if folder else it.stem + ext(it.format)
        out.images[img] = it.blob
        out.image_of[it.digest] = img
        row = {"file_name": img, "text": it.caption}
        if it.shot:
            row["shot"] = it.shot
        rows.append(json.dumps(row, ensure_ascii=False))
    out.texts["metadata.jsonl"] = ("\n".join(rows) + "\n").encode() if rows else b""
    return out


def _ai_toolkit(items: list[Placed], s: LayoutSettings) -> LayoutFiles:
    """images/NAME.ext + NAME.txt, and ai-toolkit.yaml: the `datasets` block of a job file."""
    import yaml

    out = LayoutFiles()
    folders: dict[str, int] = {}
    for it in items:
        folder = _folder(s, it.shot, "images")
        folders.setdefault(folder, it.repeats)
        _pair(out, folder, it.stem, it)
    block = [{
        "folder_path": folder,
        "caption_ext": CAPTION_EXT.lstrip("."),
        "caption_dropout_rate": float(s.caption_dropout),
        "shuffle_tokens": bool(s.shuffle),
        "keep_tokens": int(s.keep_tokens),
        "num_repeats": int(repeats),
        "cache_latents_to_disk": True,
        "resolution": [int(s.resolution)],
    } for folder, repeats in sorted(folders.items())]
    head = ("# The dataset block of an ostris ai-toolkit job: put it under config.process[0].\n"
            "# folder_path is relative to this folder: make it absolute for ai-toolkit.\n")
    out.texts["ai-toolkit.yaml"] = (head + yaml.safe_dump({"datasets": block}, sort_keys=False)).encode()
    return out
