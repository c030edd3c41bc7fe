"""Which labelled images go into the dataset: merge label sets, filter, take a seeded sample.

Every image left out is listed with the reason, so nothing disappears silently.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from ...core.hashing import digest_json
from .config import DatasetConfig


@dataclass
class Candidate:
    """One labelled image as the dataset sees it."""

    digest: str
    blob_digest: str  # digest of the file in the labels artifact (normally == digest)
    blob: str  # path of the image bytes in the store (read-only)
    source: str  # the labels target it came from
    path: str  # its path inside that labels artifact
    width: int
    height: int
    format: str
    caption: str | None = None
    tags: list[str] = field(default_factory=list)
    nsfw: str | None = None
    label_error: str | None = None
    labeler: str | None = None
    overridden: bool = False
    face: dict[str, Any] | None = None  # a person source's record of whose face this image is about
    faces: list[dict[str, Any]] | None = None  # a faces target's boxes for this image
    face_detector: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.source}:{self.path}"

    @property
    def stem(self) -> str:
        return posixpath.splitext(posixpath.basename(self.path))[0]


def merge(upstreams: list[tuple[str, Any, Any]], locate) -> tuple[list[Candidate], list[dict[str, Any]]]:
    """Candidates from (target, LabelSet, ArtifactView) in `from` order, once per digest.

    When an image is in several label sets, the FIRST `from` entry's label wins (its caption,
    tags and rating): the order in the spec is the user's priority order. locate(view, rels)
    is where upstream files' bytes are. Later copies are reported as duplicates, not errors.
    """
    seen: dict[str, Candidate] = {}
    out: list[Candidate] = []
    dups: list[dict[str, Any]] = []
    for target, labelset, view in upstreams:
        images = labelset.album.images
        blobs = locate(view, [im.path for im in images])
        for im, blob in zip(images, blobs, strict=True):
            if im.digest in seen:
                dups.append({"image": f"{target}:{im.path}", "digest": im.digest, "kept": seen[im.digest].ref})
                continue
            lab = labelset.labels.get(im.digest)
            cand = Candidate(
                digest=im.digest, blob_digest=view.files[im.path], blob=blob, source=target, path=im.path,
                width=im.width, height=im.height, format=im.format,
                caption=(lab.caption if lab else im.caption) or None,
                tags=list(lab.tags) if lab else [],
                nsfw=lab.nsfw if lab else None,
                label_error=lab.error if lab else None,
                labeler=lab.labeler if lab else None,
                overridden=bool(lab and lab.overridden),
                face=im.extra.get("face"), faces=im.extra.get("faces"), face_detector=im.extra.get("face_detector"),
            )
            seen[im.digest] = cand
            out.append(cand)
    return out, dups


def exclusion_reason(c: Candidate, cfg: DatasetConfig) -> str | None:
    if c.nsfw and c.nsfw in cfg.exclude.nsfw:
        return f"NSFW rating {c.nsfw} is in exclude.nsfw"
    tags = {t.lower() for t in c.tags}
    bad = [t for t in cfg.exclude.tags if t.lower() in tags]
    if bad:
        return f"tag {bad[0]!r} is in exclude.tags"
    if cfg.include.tags and not any(t.lower() in tags for t in cfg.include.tags):
        return "none of include.tags (" + ", ".join(cfg.include.tags) + ")"
    if cfg.min_size and (c.width < cfg.min_size[0] or c.height < cfg.min_size[1]):
        return f"{c.width}x{c.height} is smaller than min_size {cfg.min_size[0]}x{cfg.min_size[1]}"
    if cfg.require_caption and not (c.caption and c.caption.strip()):
        why = f" (labelling failed: {c.label_error})" if c.label_error else ""
        return "no caption" + why
    return None


def sample_rank(seed: int, digest: str) -> str:
    """A stable pseudo-random rank: adding one image never reshuffles the others."""
    return digest_json([seed, digest])


def choose(cands: list[Candidate], cfg: DatasetConfig) -> tuple[list[Candidate], list[dict[str, Any]]]:
    """(kept in input order, excluded [{image, digest, reason}])."""
    kept: list[Candidate] = []
    excluded: list[dict[str, Any]] = []
    for c in cands:
        reason = exclusion_reason(c, cfg)
        if reason:
            excluded.append({"image": c.ref, "digest": c.digest, "reason": reason})
        else:
            kept.append(c)
    if cfg.limit is not None and len(kept) > cfg.limit:
        ranked = sorted(kept, key=lambda c: sample_rank(cfg.seed, c.digest))
        chosen = {c.digest for c in ranked[: cfg.limit]}
        for c in kept:
            if c.digest not in chosen:
                excluded.append({"image": c.ref, "digest": c.digest,
                                 "reason": f"not in the seeded sample (limit {cfg.limit}, seed {cfg.seed})"})
        kept = [c for c in kept if c.digest in chosen]
    return kept, excluded
