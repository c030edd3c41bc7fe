"""The scores artifact shape, and selections over it that datasets and labels share.

A `scores` target's artifact carries the image files of the album it scored (same blob
digests), scores.csv and a contact sheet, and:

meta = {"album": {... the scored album, unchanged ...},
        "labels": {...} (only when the scored album was a labels target: passed on unchanged),
        "scores": {"model": str, "checked": [{"name", "source": "variation"|"column", "options": [...]}],
                   "thresholds": {"success": float, "partial": float},
                   "images": {image digest: ImageScore.to_dict()},
                   "summary": {...}},
        "report": {"unscored": [{"path", "digest", "error"}], ...}}

Anything that reads scores uses ScoreSet.from_meta and `select`, never the raw dict.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import Field, field_validator

from ..core.kind import KindConfig
from .album import Album, AlbumImage

Verdict = Literal["success", "partial", "failed", "unchecked"]
VERDICTS: tuple[str, ...] = ("success", "partial", "failed", "unchecked")


@dataclass
class ImageScore:
    adherence: float | None  # CLIPScore against the prompt: max(100·cos, 0); None when not asked
    chunks: int  # pieces the prompt was split into (CLIP reads 77 tokens); 0 without adherence
    checks: dict[str, dict[str, Any]]  # name → {"intended", "chosen", "p", "match"}
    matched: int
    checked: int
    score: float  # what `top` ranks by: mean P(intended) over checks, else adherence / 100
    verdict: str
    flag: str | None = None  # "failed" | "ok" from the hand flags file; it decided the verdict

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScoreSet:
    album: Album
    images: dict[str, ImageScore]  # by image digest; images that could not be scored are absent
    info: dict[str, Any] = field(default_factory=dict)  # meta["scores"] without "images"

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> ScoreSet:
        if "scores" not in meta:
            raise ValueError("this artifact is not a scores artifact (no scores)")
        info = {k: v for k, v in meta["scores"].items() if k != "images"}
        images = {d: ImageScore(**v) for d, v in meta["scores"]["images"].items()}
        return cls(Album.from_meta(meta), images, info)


class Selection(KindConfig):
    """Which scored images to keep; every condition given must hold (hand flags decided the verdict)."""

    verdict: list[Verdict] | None = Field(None, description="keep images with one of these verdicts, e.g. [success]")
    min_adherence: float | None = Field(None, ge=0, le=100, description="keep images whose prompt adherence is at least this")
    top: int | str | None = Field(None, description="keep the best N images, or 'N%' of the scored album, ranked by `by`")
    by: Literal["score", "adherence"] = Field(
        "score", description="ranking for `top`: score (mean P(intended option), else adherence) | adherence")

    @field_validator("top")
    @classmethod
    def _top(cls, v: int | str | None) -> int | str | None:
        if isinstance(v, str):
            text = v.strip()
            if not text.endswith("%"):
                raise ValueError(f"top must be a count or a percentage like '20%', got {v!r}")
            try:
                pct = float(text[:-1])
            except ValueError:
                raise ValueError(f"top must be a count or a percentage like '20%', got {v!r}") from None
            if not 0 < pct <= 100:
                raise ValueError(f"top percentage must be in (0, 100], got {v!r}")
        elif isinstance(v, int) and v < 1:
            raise ValueError("top must be at least 1")
        return v

    def top_count(self, total: int) -> int | None:
        if self.top is None:
            return None
        if isinstance(self.top, int):
            return self.top
        return math.ceil(float(self.top.strip()[:-1]) * total / 100 - 1e-9)


def select(ss: ScoreSet, sel: Selection) -> tuple[list[AlbumImage], list[dict[str, Any]]]:
    """(kept images in album order, left out [{image, digest, reason}]), judged on the recorded
    numbers. `top` ranks among every scored image (ties by digest), so the conditions are
    independent: "the best 20 %, and of those the successes with adherence ≥ 25". An image a
    person flagged failed is never selected and takes no place in the ranking."""
    ranked = sorted((d for d, s in ss.images.items() if s.flag != "failed"),
                    key=lambda d: (-_rank(ss.images[d], sel.by), d))
    n = sel.top_count(len(ss.images))
    best = set(ranked[:n]) if n is not None else None
    kept: list[AlbumImage] = []
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for im in ss.album.images:
        if im.digest in seen:
            continue
        seen.add(im.digest)
        reason = _reason(im.digest, ss.images.get(im.digest), sel, best)
        if reason:
            out.append({"image": im.path, "digest": im.digest, "reason": reason})
        else:
            kept.append(im)
    return kept, out


def _rank(s: ImageScore, by: str) -> float:
    return s.score if by == "score" else (s.adherence if s.adherence is not None else -1.0)


def _reason(digest: str, s: ImageScore | None, sel: Selection, best: set[str] | None) -> str | None:
    if s is None:
        return "not scored (the image could not be read)"
    if s.flag == "failed":
        return "flagged failed by hand"
    if sel.verdict is not None and s.verdict not in sel.verdict:
        return f"verdict {s.verdict}" + (f" (flagged {s.flag})" if s.flag else "") + " is not in select.verdict"
    if sel.min_adherence is not None and (s.adherence is None or s.adherence < sel.min_adherence):
        return f"adherence {s.adherence} is below select.min_adherence {sel.min_adherence:g}"
    if best is not None and digest not in best:
        return f"not in the top {sel.top} by {sel.by}"
    return None
