"""The `source` kind: an album of images from a project folder (and, later, the web)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ...core.artifact import Artifact, ArtifactView
from ...core.kind import BuildContext, FileInput, Kind, KindConfig
from .config import DecodeConfig, DedupConfig, FilterConfig


class SourceConfig(KindConfig):
    dir: str | None = Field(None, description="project folder of images (recursive); NAME.txt beside an image is its caption")
    sidecar_ext: str | None = Field(".txt", description="caption file extension; null to ignore sidecars")
    filter: FilterConfig = Field(default_factory=FilterConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    decode: DecodeConfig = Field(default_factory=DecodeConfig)


VARIANTS = ("dir",)


class SourceKind(Kind):
    name = "source"
    section = "sources"
    version = "1"
    Config = SourceConfig
    resources = {"cpu": 1}

    def check(self, config: SourceConfig, settings: dict[str, Any]):
        given = [v for v in VARIANTS if getattr(config, v) is not None]
        if len(given) != 1:
            return [((), f"a source needs exactly one of: {', '.join(VARIANTS)} (got {', '.join(given) or 'none'})")]
        return []

    def files(self, config: SourceConfig) -> list[FileInput]:
        if config.dir is not None:
            return [FileInput(config.dir, ("dir",))]
        return []

    def build(self, ctx: BuildContext) -> Artifact:
        from .dir_source import build_dir

        return build_dir(ctx)

    def describe(self, view: ArtifactView) -> str:
        from ...media.album import Album

        album = Album.from_meta(view.meta)
        lines = [f"{len(album.images)} images"]
        for im in album.images[:50]:
            cap = f"  “{im.caption[:60]}”" if im.caption else ""
            lines.append(f"  {im.path}  {im.width}x{im.height} {im.format}{cap}")
        for section, entries in album.report.items():
            if entries:
                lines.append(f"{section}: {len(entries)}")
                for e in entries[:20]:
                    lines.append(f"  {e.get('path')}: {e.get('reason') or ('duplicate of ' + str(e.get('kept')))}")
        return "\n".join(lines)
