"""Settings shared by every source variant: decoding limits, filters, dedup."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...core.kind import KindConfig
from ...media.decode import DecodeLimits

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")


class FilterConfig(KindConfig):
    min_size: tuple[int, int] = Field((100, 100), description="minimum [width, height] in pixels")
    max_aspect: float = Field(10.0, gt=0, le=1000, description="longest side / shortest side, at most")
    formats: list[Literal["jpeg", "png", "webp", "gif", "bmp", "tiff"]] = Field(
        default_factory=lambda: ["jpeg", "png", "webp", "gif", "bmp"],
        description="decoded formats kept (sniffed from the bytes, not the file name)",
    )


class DedupConfig(KindConfig):
    exact: bool = Field(True, description="drop byte-identical copies")
    near: bool = Field(True, description="drop perceptual near-duplicates, keeping the largest")
    threshold: int = Field(6, ge=0, le=64, description="max perceptual-hash Hamming distance")


class DecodeConfig(KindConfig):
    max_pixels: int = Field(64_000_000, gt=0, le=1 << 40, description="decompression-bomb guard")
    max_bytes: int = Field(50_000_000, gt=0, le=1 << 40, description="largest file accepted")
    animated: Literal["first", "skip"] = Field("first", description="animated images: keep (first frame) or skip")

    def limits(self) -> DecodeLimits:
        return DecodeLimits(self.max_pixels, self.max_bytes, self.animated)
