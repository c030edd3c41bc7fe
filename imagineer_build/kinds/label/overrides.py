"""Hand edits: a YAML file keyed by image digest (or file name) whose values always win.

The same format is what `imagineer labels export` writes, so a person can export, edit captions,
flip NSFW ratings, add or remove tags, and commit the file as the target's `overrides:`.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from ...core.kind import KindConfig
from ...media.album import AlbumImage
from ...media.labelset import Label, Rating


class OverrideEntry(KindConfig):
    file: str | None = Field(None, description="the image's file name (for people; matching uses the key)")
    caption: str | None = None
    tags: list[str] | None = None
    add_tags: list[str] = Field(default_factory=list)
    remove_tags: list[str] = Field(default_factory=list)
    nsfw: Rating | None = None
    confidence: float | None = None
    note: str | None = Field(None, description="free text for reviewers; not used")
    labeler: str | None = Field(None, description="written by export for reviewers; not used")
    error: str | None = Field(None, description="written by export for reviewers; not used")


class OverridesError(ValueError):
    pass


def load_overrides(path: Path, shown: str) -> dict[str, OverrideEntry]:
    """Parse and validate the file; any problem names the file and the entry."""
    from ...core.spec import SpecErrors, load_yaml

    try:
        doc = load_yaml(path, shown)
    except SpecErrors as e:
        raise OverridesError(f"overrides {e.errors[0]}") from None
    data = doc.data
    if data in (None, {}):
        return {}
    if not isinstance(data, dict):
        raise OverridesError(f"overrides {doc.pos(())}: expected a mapping of image digest or file name → edits, "
                             f"got {type(data).__name__}")
    out: dict[str, OverrideEntry] = {}
    for key, value in data.items():
        if value is None:
            value = {}
        try:
            out[str(key)] = OverrideEntry.model_validate(value)
        except ValidationError as e:
            x = e.errors()[0]
            where = doc.pos((key, *x["loc"])) if x["loc"] else doc.pos((key,))
            errs = "; ".join(f"{'.'.join(map(str, x['loc'])) or 'entry'}: {x['msg']}" for x in e.errors())
            raise OverridesError(f"overrides {where}: entry {str(key)[:60]!r}: {errs}") from None
    return out


@dataclass
class Applied:
    changed: int = 0
    unmatched: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)


def match(entries: dict[str, OverrideEntry], images: list[AlbumImage]) -> tuple[dict[str, list[OverrideEntry]], Applied]:
    """image digest → entries that name it (file-name matches first, so a digest key wins)."""
    by_digest = {im.digest: im for im in images}
    by_path = {im.path: im.digest for im in images}
    by_name: dict[str, list[str]] = {}
    for im in images:
        by_name.setdefault(posixpath.basename(im.path), []).append(im.digest)
    found: dict[str, list[tuple[int, OverrideEntry]]] = {}
    res = Applied()
    for key, entry in entries.items():
        if key in by_digest:
            found.setdefault(key, []).append((1, entry))
        elif key in by_path:
            found.setdefault(by_path[key], []).append((0, entry))
        elif key in by_name:
            if len(by_name[key]) > 1:
                res.ambiguous.append(key)
                continue
            found.setdefault(by_name[key][0], []).append((0, entry))
        else:
            res.unmatched.append(key)
    return {d: [e for _, e in sorted(v, key=lambda x: x[0])] for d, v in found.items()}, res


def apply_entry(label: Label, e: OverrideEntry) -> Label:
    """The label after one hand edit; `overridden` only when something actually changed."""
    new = Label(**label.to_dict())
    if "caption" in e.model_fields_set and e.caption != label.caption:
        new.caption = e.caption
        new.labeler, new.model, new.prompt_version, new.origin = "manual", None, None, "overrides"
        new.error = None
    if e.tags is not None:
        new.tags = list(dict.fromkeys(e.tags))
    if e.add_tags:
        new.tags = list(dict.fromkeys(new.tags + e.add_tags))
    if e.remove_tags:
        new.tags = [t for t in new.tags if t not in set(e.remove_tags)]
    if "nsfw" in e.model_fields_set:
        new.nsfw = e.nsfw
    if "confidence" in e.model_fields_set:
        new.confidence = e.confidence
    if new.caption is not None and new.error and new.labeler == "manual":
        new.error = None
    new.overridden = label.overridden or new.to_dict() != label.to_dict()
    return new


def apply_overrides(labels: dict[str, Label], entries: dict[str, OverrideEntry],
                    images: list[AlbumImage]) -> Applied:
    matched, res = match(entries, images)
    for digest, es in matched.items():
        lab = labels.get(digest, Label())
        for e in es:
            lab = apply_entry(lab, e)
        if lab.overridden:
            res.changed += 1
        labels[digest] = lab
    return res


def export_entries(labels: dict[str, Label], images: list[AlbumImage]) -> dict[str, dict[str, Any]]:
    """Current labels in the overrides format, in album order."""
    out: dict[str, dict[str, Any]] = {}
    for im in images:
        lab = labels.get(im.digest, Label())
        e: dict[str, Any] = {"file": posixpath.basename(im.path), "caption": lab.caption,
                             "tags": list(lab.tags), "nsfw": lab.nsfw}
        if lab.labeler:
            e["labeler"] = lab.labeler + (f" ({lab.model})" if lab.model else "")
        if lab.error:
            e["error"] = lab.error
        out[im.digest] = e
    return out
