"""The `source` kind: an album of images from a project folder or a web scrape."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ...core.artifact import Artifact, ArtifactView
from ...core.kind import BuildContext, FileInput, KindConfig, Ref, Tolerance
from .. import MediaKind
from .config import DecodeConfig, DedupConfig, FilterConfig
from .scrape_config import ScrapeConfig


class SourceConfig(KindConfig):
    dir: str | None = Field(None, description="project folder of images (recursive); NAME.txt beside an image is its caption")
    scrape: ScrapeConfig | None = Field(None, description=(
        "crawl a web site and download its images with their captions (frozen until the config "
        "changes or `imagineer build --refresh TARGET`)"))
    faces: str | None = Field(None, description="a faces target: an album of the photos where `person` appears")
    person: str | None = Field(None, description="faces: the person's name, as the faces target's people file gives it")
    crop: Literal["none", "head", "upper-body"] = Field(
        "none", description="faces: cut each photo around the person's face (head, upper-body) or keep it whole")
    sidecar_ext: str | None = Field(".txt", description="caption file extension; null to ignore sidecars")
    follow_links: bool = Field(False, description=(
        "dir: follow symbolic links that lead out of the folder (by default they are skipped and reported)"))
    filter: FilterConfig = Field(default_factory=FilterConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    decode: DecodeConfig = Field(default_factory=DecodeConfig)


VARIANTS = ("dir", "scrape", "faces")
ALBUM_ONLY = ("sidecar_ext", "filter", "dedup", "decode")  # settings a faces source does not use


class SourceKind(MediaKind):
    name = "source"
    section = "sources"
    version = "2"  # 2: album.jsonl and album.csv in the out view, readable scrape file names
    Config = SourceConfig

    def resources_for(self, config: SourceConfig) -> dict[str, int]:
        return {"net": 1} if config.scrape is not None else {"cpu": 1}

    def refs(self, config: SourceConfig) -> list[Ref]:
        return [Ref(config.faces, ("faces",))] if config.faces is not None else []

    def check(self, config: SourceConfig, settings: dict[str, Any]):
        given = [v for v in VARIANTS if getattr(config, v) is not None]
        if len(given) != 1:
            return [((), f"a source needs exactly one of: {', '.join(VARIANTS)} (got {', '.join(given) or 'none'})")]
        if config.faces is None:
            return [((key,), f"{key} is for a faces source (faces: TARGET, person: NAME)")
                    for key in ("person", "crop") if key in config.model_fields_set]
        problems = [((key,), f"{key} does not apply to a faces source: it passes on the faces target's photos")
                    for key in ALBUM_ONLY if key in config.model_fields_set]
        if config.person is None or not config.person.strip():
            problems.append(((), "a faces source needs person: NAME (a name from the faces target's people file)"))
        return problems

    def needs(self, config: SourceConfig) -> list[tuple[str, str, str]]:
        if config.scrape is None:
            return []
        out = [("httpx", "web", "scrape"), ("bs4", "web", "scrape"), ("lxml", "web", "scrape")]
        if config.scrape.render == "js":
            out.append(("playwright", "web", "scrape with render: js"))
        return out

    def nondeterminism(self, config: SourceConfig, settings: dict[str, Any]) -> str | None:
        return "a scrape saves what the site serves at build time" if config.scrape is not None else None

    def tolerance(self, config: SourceConfig, settings: dict[str, Any]) -> Tolerance | None:
        return None if config.scrape is not None else Tolerance()

    def files(self, config: SourceConfig) -> list[FileInput]:
        if config.dir is not None:
            return [FileInput(config.dir, ("dir",), want="dir", follow_links=config.follow_links)]
        return []

    def build(self, ctx: BuildContext) -> Artifact:
        if ctx.config.faces is not None:
            from .person import build_person

            return build_person(ctx)
        if ctx.config.scrape is not None:
            from .scrape import build_scrape

            return build_scrape(ctx)
        from .dir_source import build_dir

        return build_dir(ctx)

    def describe(self, view: ArtifactView, limit: int | None = 50) -> str:
        from ...media.album import Album
        from ...textfmt import lines_cut, pairs, plural

        album = Album.from_meta(view.meta)
        lines = [plural(len(album.images), "image")]
        lines += lines_cut([f"  {im.path}  {im.width}x{im.height} {im.format}"
                            + (f"  “{im.caption[:60]}”" if im.caption else "") for im in album.images], limit)
        for section, entries in album.report.items():
            if section == "urls":  # scrape: one record per URL; show the ones that did not work
                bad = [e for e in entries if e.get("status") != "ok"]
                lines.append(f"urls: {len(entries)} ({len(entries) - len(bad)} ok)")
                lines += lines_cut([f"  {e['status']} {e['url']}: {e.get('reason')}" for e in bad], limit)
            elif isinstance(entries, dict) and entries:
                lines.append(f"{section}: {pairs(entries)}")
            elif entries:
                lines.append(f"{section}: {len(entries)}")
                lines += lines_cut([f"  {e.get('path')}: {e.get('reason') or ('duplicate of ' + str(e.get('kept')))}"
                                    for e in entries], limit)
        return "\n".join(lines)
