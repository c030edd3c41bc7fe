"""The `labels` kind: a caption, tags and an NSFW rating for every image of an album.

Labelers (claude, vlm, tagger, sidecar, template, manual) can be chained; hand edits from an
overrides file always win; `review:` proposes caption fixes that people approve. Heavy parts
(the anthropic SDK, transformers, onnxruntime, Pillow resizing) load only inside build().
"""

from __future__ import annotations

from typing import Any

from ...core.artifact import Artifact, ArtifactView
from ...core.kind import BuildContext, FileInput, Ref, Tolerance
from .. import MediaKind
from .config import LabelsConfig, check, local_models, resolve


def _local_models(config: LabelsConfig, settings: dict[str, Any]) -> dict[str, str]:
    try:
        return local_models(resolve(config, settings.get("defaults", {}).get("labels")))
    except ValueError:  # bad project defaults: check() reports them
        return {}


class LabelsKind(MediaKind):
    name = "labels"
    section = "labels"
    version = "2"  # 2: album.jsonl and album.csv beside the images
    Config = LabelsConfig
    resources = {"net": 1}

    def refs(self, config: LabelsConfig) -> list[Ref]:
        return [Ref(config.of, ("of",))]

    def resources_for(self, config: LabelsConfig) -> dict[str, int]:
        """`gpu` for local models (it serialises model work: one warm model serves every target),
        `net` for Claude and the labelers that need no model."""
        names = set(config.chain_names())
        local = bool({"vlm", "tagger"} & names) or bool(config.review and config.review.by != "claude")
        online = "claude" in names or bool(config.review and config.review.by == "claude")
        out = {"gpu": 1} if local else {}
        if online or not local:
            out["net"] = 1
        return out

    def files(self, config: LabelsConfig) -> list[FileInput]:
        return [FileInput(config.overrides, ("overrides",), want="file")] if config.overrides else []

    def settings_files(self, config: LabelsConfig, settings: dict[str, Any]) -> list[FileInput]:
        """Local model folders: their bytes are in the key."""
        from ...models import model_file_inputs

        seen: dict[str, FileInput] = {}
        for name in _local_models(config, settings).values():
            for f in model_file_inputs(name, settings):
                seen.setdefault(f.path, f)
        return list(seen.values())

    def key_extras(self, config: LabelsConfig, settings: dict[str, Any]) -> dict[str, Any]:
        from pathlib import Path

        from ...models import ModelError, model_identity, resolve_model

        out: dict[str, Any] = {}
        for role, name in sorted(_local_models(config, settings).items()):
            try:
                out[f"{role}_model"] = model_identity(resolve_model(name, settings), Path(settings["root"]))
            except (ModelError, ValueError):  # check() reports it
                pass
        return out

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

    def describe(self, view: ArtifactView, limit: int | None = 50) -> str:
        from .show import describe

        return describe(view, limit)
