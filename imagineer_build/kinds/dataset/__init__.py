"""The `dataset` kind: labelled albums → exactly what a trainer reads, plus a report on it.

Light on import (only pydantic and the config); everything heavy loads inside build().
"""

from __future__ import annotations

from typing import Any

from ...core.artifact import Artifact, ArtifactView
from ...core.kind import BuildContext, FileInput, Ref
from .. import MediaKind
from .config import DatasetConfig


class DatasetKind(MediaKind):
    name = "dataset"
    section = "datasets"
    version = "1"
    Config = DatasetConfig
    key_includes_name = True  # its outputs name the target (folders, origins)
    resources = {"cpu": 1}

    def refs(self, config: DatasetConfig) -> list[Ref]:
        refs = [Ref(name, ("from", i)) for i, name in enumerate(config.from_)]
        if config.shots.faces is not None:
            refs.append(Ref(config.shots.faces, ("shots", "faces")))
        return refs

    def files(self, config: DatasetConfig) -> list[FileInput]:
        if config.concepts.taxonomy:
            return [FileInput(config.concepts.taxonomy, ("concepts", "taxonomy"), want="file")]
        return []

    def check(self, config: DatasetConfig, settings: dict[str, Any]):
        from .captions import check_template

        problems: list[tuple[tuple[Any, ...], str]] = []
        for p in check_template(config.caption):
            problems.append((("caption",), f"caption template: {p}"))
        if len(set(config.from_)) != len(config.from_):
            problems.append((("from",), "a labels target is named twice in from"))
        b = config.buckets
        lo, hi = b.sides(config.resolution)
        if lo > hi:
            problems.append((("buckets", "min_side"), f"min_side {lo} is above max_side {hi}"))
        elif b.enabled and config.resolution // b.step * b.step > hi:
            problems.append((("buckets", "max_side"), f"max_side {hi} is below the resolution {config.resolution}"))
        if config.resolution < b.step:
            problems.append((("resolution",), f"resolution {config.resolution} is below buckets.step {b.step}"))
        if config.shots.far >= config.shots.close:
            problems.append((("shots", "far"), f"far ({config.shots.far}) must be below close ({config.shots.close})"))
        for key in ("faces", "person"):
            if getattr(config.shots, key) is not None and not config.shots.detect:
                problems.append((("shots", key), f"shots.{key} needs shots.detect (it is off)"))
        if config.trigger is not None and not config.trigger.strip():
            problems.append((("trigger",), "trigger is empty; leave it out instead"))
        return problems

    def build(self, ctx: BuildContext) -> Artifact:
        from .build import build_dataset

        return build_dataset(ctx)

    def describe(self, view: ArtifactView, limit: int | None = 50) -> str:
        from ...textfmt import lines_cut, pairs

        d = view.meta.get("dataset", {})
        r = view.meta.get("report", {})
        counts = r.get("counts", {})
        lines = [f"{counts.get('images', len(d.get('entries', [])))} images, layout {d.get('layout')}, "
                 f"trigger {d.get('trigger')!r}, resolution {d.get('resolution')}",
                 f"recommended: {pairs(d.get('recommended'))}"]
        shots = r.get("shots")
        if shots:
            lines.append("shots: " + ", ".join(f"{k} {v}" for k, v in shots["counts"].items()))
        top = r.get("top_concepts") or []
        if top:
            lines.append("top concepts: " + ", ".join(f"{t['term']} {t['frequency']:.0%}" for t in top[:10]))
        for w in r.get("warnings", []):
            lines.append(f"warning: {w}")
        excluded = r.get("excluded", [])
        if excluded:
            lines.append(f"excluded: {len(excluded)}")
            lines += lines_cut([f"  {e['image']}: {e['reason']}" for e in excluded], limit)
        lines += lines_cut([f"  {e['image']}  {e['bucket'][0]}x{e['bucket'][1]}  “{e['caption'][:70]}”"
                            for e in d.get("entries", [])], limit)
        return "\n".join(lines)
