"""The `dataset` spec: which labelled images, how their captions read, how they are laid out."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_serializer

from ...core.kind import KindConfig
from ...media.labelset import NSFW_DEFAULT_EXCLUDE, Rating
from ...media.scoreset import Selection

Shot = Literal["close", "mid", "far", "unknown"]


class ExcludeConfig(KindConfig):
    nsfw: list[Rating] = Field(default_factory=lambda: list(NSFW_DEFAULT_EXCLUDE),
                               description="NSFW ratings left out (ADULT and EXPLICIT by default)")
    tags: list[str] = Field(default_factory=list, description="leave out images with any of these tags")


class IncludeConfig(KindConfig):
    tags: list[str] = Field(default_factory=list,
                            description="keep only images with at least one of these tags (empty: all)")


class BucketConfig(KindConfig):
    enabled: bool = Field(True, description="aspect-ratio buckets; off: every image is a square crop")
    step: int = Field(64, ge=8, le=1024, description="bucket sides are multiples of this")
    min_side: int | None = Field(None, ge=8, le=16384, description="smallest bucket side (default: 256, or resolution/2 if smaller)")
    max_side: int | None = Field(None, ge=8, le=16384, description="largest bucket side (default: 1024, or 2 x resolution if larger)")

    def sides(self, resolution: int) -> tuple[int, int]:
        """(min_side, max_side) with the defaults worked out for this resolution."""
        lo = self.min_side if self.min_side is not None else max(self.step, min(256, resolution // 2))
        hi = self.max_side if self.max_side is not None else max(1024, 2 * resolution)
        return lo, hi


class ShotConfig(KindConfig):
    detect: bool = Field(True, description="classify close / mid / far by the largest face")
    close: float = Field(0.25, gt=0, lt=1, description="face share of the image above which a shot is close")
    far: float = Field(0.08, gt=0, lt=1, description="face share below which a shot is far")
    folders: bool = Field(False, description="one layout folder per shot type")
    prefix: dict[Shot, str] = Field(default_factory=dict,
                                    description="text put before the caption per shot type, e.g. {close: close-up}")
    faces: str | None = Field(None, description=(
        "a faces target: its face boxes (dlib) decide the shots of the images it scanned; images that "
        "come through a faces target or a person source use theirs anyway; others fall back to Haar"))
    person: str | None = Field(None, description="whose face decides the shot when a photo has several (default: the largest)")


class ConceptConfig(KindConfig):
    taxonomy: str | None = Field(None, description="project YAML/JSON file: category → terms (default: shipped)")
    custom: dict[str, list[str]] = Field(default_factory=dict,
                                         description="extra categories → terms, merged over the taxonomy")
    top: int = Field(20, ge=1, le=10_000, description="how many top concepts metadata.json lists")


class DatasetConfig(KindConfig):
    from_: list[str] = Field(..., alias="from", min_length=1,
                             description="labels (or scores) targets; an image in several appears once, labelled by the first")
    select: Selection | None = Field(
        None, description="for the scores targets in `from`: keep only the images this selects, e.g. "
                          "{verdict: [success], min_adherence: 25, top: 20%}")
    exclude: ExcludeConfig = Field(default_factory=ExcludeConfig)
    include: IncludeConfig = Field(default_factory=IncludeConfig)
    require_caption: bool = Field(True, description="leave out (and list) images without a caption")
    min_size: tuple[int, int] | None = Field(None, description="minimum [width, height]")
    limit: int | None = Field(None, ge=1, le=100_000_000, description="at most this many images, a seeded sample")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="seed for the sample and tag shuffling")
    trigger: str | None = Field(None, description="trigger word put in captions ({trigger})")
    caption: str = Field("{trigger}, {caption}",
                         description="caption template: {trigger} {caption} {tags} {tags:N} {shot} {name}")
    shuffle_tags: bool = Field(False, description="shuffle comma-separated caption parts (seeded)")
    keep_tokens: int = Field(1, ge=0, le=1000, description="leading caption parts never shuffled")
    caption_dropout: float = Field(0.0, ge=0, le=1, description="caption dropout rate passed on to training")
    max_caption_length: int = Field(400, ge=10, le=1_000_000, description="captions are cut (with a warning) above this many characters")
    format: Literal["kohya", "flat", "imagefolder", "ai-toolkit"] = Field("kohya", description="layout written")
    names: Literal["file", "caption"] = Field(
        "file", description="file names: the source's (file), or the caption slugified and numbered "
                            "(caption: red-circle-on-blue_0001.png)")
    repeats: int | None = Field(None, ge=1, le=100_000, description="kohya repeats (default: from the dataset size)")
    resolution: int = Field(512, ge=64, le=8192, description="training side length the bucket plan is for")
    buckets: BucketConfig = Field(default_factory=BucketConfig)
    shots: ShotConfig = Field(default_factory=ShotConfig)
    concepts: ConceptConfig = Field(default_factory=ConceptConfig)
    contact_sheet: bool = Field(True, description="write contact_sheet.png")

    @model_serializer(mode="wrap")
    def _keyed(self, handler):
        """`select` left out of the key while unset: adding it changed no existing target's key."""
        data = handler(self)
        if self.select is None:
            data.pop("select", None)
        return data
