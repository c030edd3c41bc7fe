"""The `scores` kind: CLIP quality gates per image and per variation, with verdicts.

Light on import (pydantic and the config); torch and transformers load inside build().
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...core.artifact import Artifact, ArtifactView
from ...core.kind import BuildContext, FileInput, Kind, Ref
from .config import ScoresConfig, check, model_name


class ScoresKind(Kind):
    name = "scores"
    section = "scores"
    version = "1"
    Config = ScoresConfig
    resources = {"gpu": 1}

    def refs(self, config: ScoresConfig) -> list[Ref]:
        refs = [Ref(config.of, ("of",))]
        if config.baseline:
            refs.append(Ref(config.baseline, ("baseline",)))
        return refs

    def files(self, config: ScoresConfig) -> list[FileInput]:
        return [FileInput(config.overrides, ("overrides",))] if config.overrides else []

    def settings_files(self, config: ScoresConfig, settings: dict[str, Any]) -> list[FileInput]:
        from ...models import model_file_inputs

        return model_file_inputs(model_name(config, settings), settings)

    def key_extras(self, config: ScoresConfig, settings: dict[str, Any]) -> dict[str, Any]:
        from ...models import model_identity, resolve_model

        name = model_name(config, settings)
        return {"model": model_identity(resolve_model(name, settings), Path(settings["root"]))} if name else {}

    def check(self, config: ScoresConfig, settings: dict[str, Any]):
        """The config's own problems, then what it asks of the album it scores."""
        from .upstream import check_upstream

        return check(config, settings) + check_upstream(config, settings)

    def build(self, ctx: BuildContext) -> Artifact:
        from .build import build_scores

        return build_scores(ctx)

    def describe(self, view: ArtifactView, limit: int | None = 50) -> str:
        from .show import describe

        return describe(view, limit=limit)
