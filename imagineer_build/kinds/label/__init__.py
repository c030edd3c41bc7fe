"""The `labels` kind: a caption, tags and an NSFW rating for every image of an album.

Labelers (claude, sidecar, template, manual) can be chained; hand edits from an overrides file
always win. Heavy parts (the anthropic SDK, Pillow resizing) load only inside build().
"""

from __future__ import annotations

from typing import Any

from ...core.artifact import Artifact, ArtifactView
from ...core.kind import BuildContext, FileInput, Ref, Tolerance
from .. import MediaKind
from .config import LabelsConfig, check


class LabelsKind(MediaKind):
    name = "labels"
    section = "labels"
    version = "1"
    Config = LabelsConfig
    resources = {"net": 1}

    def refs(self, config: LabelsConfig) -> list[Ref]:
        return [Ref(config.of, ("of",))]

    def files(self, config: LabelsConfig) -> list[FileInput]:
        return [FileInput(config.overrides, ("overrides",), want="file")] if config.overrides else []

    def check(self, config: LabelsConfig, settings: dict[str, Any]):
        return check(config, settings)

    def needs(self, config: LabelsConfig) -> list[tuple[str, str, str]]:
        return [("anthropic", "claude", "labeler: claude")] if "claude" in config.chain_names() else []

    def nondeterminism(self, config: LabelsConfig, settings: dict[str, Any]) -> str | None:
        return "Claude's answers vary between calls" if "claude" in config.chain_names() else None

    def tolerance(self, config: LabelsConfig, settings: dict[str, Any]) -> Tolerance | None:
        return None if "claude" in config.chain_names() else Tolerance()  # no paying to re-ask

    def build(self, ctx: BuildContext) -> Artifact:
        from .build import build_labels

        return build_labels(ctx)

    def describe(self, view: ArtifactView) -> str:
        from .show import describe

        return describe(view)
