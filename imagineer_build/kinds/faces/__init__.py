"""The `faces` kind: find every face in albums, embed and cluster them, apply the people file.

Light on import (pydantic and the config only); dlib loads inside build().
"""

from __future__ import annotations

from typing import Any

from ...core.artifact import Artifact, ArtifactView
from ...core.kind import BuildContext, FileInput, Kind, Ref
from .config import FacesConfig


class FacesKind(Kind):
    name = "faces"
    section = "faces"
    version = "1"
    Config = FacesConfig
    resources = {"gpu": 1}  # model work: one target at a time, like every other model kind

    def refs(self, config: FacesConfig) -> list[Ref]:
        return [Ref(name, ("of", i)) for i, name in enumerate(config.of)]

    def files(self, config: FacesConfig) -> list[FileInput]:
        return [FileInput(config.people, ("people",))] if config.people else []

    def check(self, config: FacesConfig, settings: dict[str, Any]):
        problems: list[tuple[tuple[Any, ...], str]] = []
        if len(set(config.of)) != len(config.of):
            problems.append((("of",), "an album is named twice in of"))
        if config.people is not None and not config.people.endswith((".yaml", ".yml")):
            problems.append((("people",), f"{config.people}: a people file is YAML (.yaml or .yml)"))
        return problems

    def build(self, ctx: BuildContext) -> Artifact:
        from .build import build_faces

        return build_faces(ctx)

    def describe(self, view: ArtifactView, limit: int | None = 50) -> str:
        from .show import describe

        return describe(view, limit=limit)
