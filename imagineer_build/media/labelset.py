"""The labels artifact shape: an album plus one label per image digest.

A `labels` target's artifact carries the same image files as the album it labels (same blob
digests, so nothing is copied) and:

meta = {"album": {... the labelled album, unchanged ...},
        "labels": {image digest: label dict (Label.to_dict())},
        "summary": {"labelled": int, "failed": int, "nsfw": {rating: count}, "top_tags": [[tag, n], ...]},
        "report": {...}}

Datasets and anything else that reads labels use LabelSet.from_meta, never the raw dict.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .album import Album

Rating = Literal["SAFE", "SUGGESTIVE", "ADULT", "EXPLICIT"]
NSFW_RATINGS: tuple[str, ...] = get_args(Rating)
NSFW_DEFAULT_EXCLUDE = ("ADULT", "EXPLICIT")


@dataclass
class Label:
    caption: str | None = None
    tags: list[str] = field(default_factory=list)
    nsfw: str | None = None  # one of NSFW_RATINGS, or None when no labeler rated it
    confidence: float | None = None
    labeler: str | None = None  # which labeler produced the caption: claude | sidecar | template | manual
    model: str | None = None  # e.g. the Claude model id
    prompt_version: str | None = None
    origin: str | None = None  # e.g. "sidecar:alt" — where a reused caption came from
    error: str | None = None  # why labelling failed for this image
    overridden: bool = False  # a hand edit from the overrides file changed this label

    def to_dict(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict was 39 % of relabelling 6,000 images for one new one
        return {"caption": self.caption, "tags": list(self.tags), "nsfw": self.nsfw, "confidence": self.confidence,
                "labeler": self.labeler, "model": self.model, "prompt_version": self.prompt_version,
                "origin": self.origin, "error": self.error, "overridden": self.overridden}


@dataclass
class LabelSet:
    album: Album
    labels: dict[str, Label]
    report: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> LabelSet:
        if "labels" not in meta:
            raise ValueError("this artifact is not a labels artifact (no labels)")
        album = Album.from_meta(meta)
        labels = {d: Label(**v) for d, v in meta["labels"].items()}
        return cls(album, labels, meta.get("report", {}))

    def summary(self) -> dict[str, Any]:
        nsfw = Counter(lab.nsfw for lab in self.labels.values() if lab.nsfw)
        tags = Counter(t for lab in self.labels.values() for t in lab.tags)
        return {
            "labelled": sum(1 for lab in self.labels.values() if lab.caption or lab.tags),
            "failed": sum(1 for lab in self.labels.values() if lab.error),
            "nsfw": {r: nsfw.get(r, 0) for r in NSFW_RATINGS},
            "top_tags": [[t, n] for t, n in tags.most_common(20)],
        }

    def meta(self) -> dict[str, Any]:
        m = self.album.meta()
        m["labels"] = {d: lab.to_dict() for d, lab in sorted(self.labels.items())}
        m["summary"] = self.summary()
        m["report"] = {**m.get("report", {}), **self.report}
        return m
