"""The `labels` spec: which album, which labelers, and the Claude settings.

Claude settings left out of a spec come from imagineer.yaml `defaults: {labels: {...}}`, then
from the built-in defaults below (`resolve`), so a project sets its model once.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_serializer

from ...core.kind import KindConfig
from ...media.scoreset import Selection

LABELERS = ("claude", "sidecar", "alt-text", "template", "manual", "manifest")
LabelerName = Literal["claude", "sidecar", "alt-text", "template", "manual", "manifest"]
# alt-text: the sidecar labeler limited to what a web page said about the image, best first
ALT_TEXT_ORIGINS = ["figcaption", "alt", "jsonld", "title", "meta", "nearby"]
PresetName = Literal["default", "sd_training", "tags_only"]

# Built-in values for settings a spec and the project defaults may both leave out.
BUILTIN: dict[str, Any] = {
    "model": "claude-sonnet-5-5",  # claude-sonnet-4-5 reaches end of life on 2026-11-30
    "max_tokens": 1024,
    "prompt": "default",
    "concurrency": 8,
    "timeout": 120.0,
    "max_retries": 2,
    "max_side": 1568,
    "batch": False,
    "poll_interval": 10.0,
}


class LabelsConfig(KindConfig):
    of: str = Field(..., description="the album target to label (a source, a generation, ...)")
    labeler: LabelerName | None = Field(
        None, description="one labeler: claude | sidecar | alt-text | template | manual | manifest (a generated "
                          "image's prompt → caption, its variation values → tags)")
    labelers: list[LabelerName] | None = Field(
        None, description="a chain of labelers tried in order, e.g. [sidecar, claude]")
    chain: Literal["first", "merge"] = Field(
        "first", description="first: the first labeler giving a caption wins and later ones are not asked; "
                             "merge: every labeler runs, the first caption wins and tags are merged")
    overrides: str | None = Field(
        None, description="project YAML file of hand edits keyed by image digest or file name; they always win")
    select: Selection | None = Field(
        None, description="when `of` is a scores target: label only the images it selects, e.g. "
                          "{verdict: [success], min_adherence: 25, top: 20%}")
    # sidecar
    prefer: list[str] | None = Field(
        None, description="sidecar: caption origins in order of preference, e.g. [sidecar, figcaption, alt]")
    # template
    template: str | None = Field(
        None, description="template: a caption format string over the image record, e.g. '{theme}, {suit}'")
    template_tags: list[str] | None = Field(None, description="template: tag format strings")
    # claude
    model: str | None = Field(None, description=f"Claude model id (default {BUILTIN['model']})")
    max_tokens: int | None = Field(None, ge=16, le=64000, description="answer token limit (default 1024)")
    temperature: float | None = Field(
        None, description="not supported: API version 2026-10-21 (anthropic SDK 2.x) rejects sampling parameters")
    prompt: PresetName | None = Field(None, description="prompt preset: default | sd_training | tags_only")
    custom_prompt: str | None = Field(None, description="instructions replacing the preset's text")
    context: str | None = Field(None, description="text about the collection added to the prompt")
    concurrency: int | None = Field(None, ge=1, le=256, description="requests in flight at once (default 8)")
    timeout: float | None = Field(None, gt=0, description="seconds per request attempt (default 120)")
    max_retries: int | None = Field(None, ge=0, le=10, description="SDK retries for 429/5xx (default 2)")
    max_side: int | None = Field(None, ge=64, le=8000, description="long side sent to the API (default 1568)")
    base_url: str | None = Field(None, description="API base URL (default: env ANTHROPIC_BASE_URL, else Anthropic's)")
    batch: bool | None = Field(None, description="use the Message Batches API (half price, slower)")
    poll_interval: float | None = Field(None, gt=0, description="batch mode: seconds between status polls")

    @field_validator("temperature")
    @classmethod
    def _no_temperature(cls, v):
        if v is not None:
            raise ValueError("temperature is not supported: the Messages API version sent by the anthropic "
                             "SDK 2.x (2026-10-21) rejects sampling parameters; remove it")
        return v

    @model_serializer(mode="wrap")
    def _keyed(self, handler):
        """`select` left out of the key while unset: adding it changed no existing target's key."""
        data = handler(self)
        if self.select is None:
            data.pop("select", None)
        return data

    def chain_names(self) -> list[str]:
        if self.labelers:
            return list(self.labelers)
        return [self.labeler] if self.labeler else []


# Keys a project may set under defaults.labels: everything except what names targets and files.
DEFAULTABLE = tuple(k for k in LabelsConfig.model_fields if k not in ("of", "overrides", "select"))


def resolve(config: LabelsConfig, defaults: dict[str, Any] | None) -> LabelsConfig:
    """The config with project defaults and built-in values filled in where the spec is silent."""
    defaults = dict(defaults or {})
    unknown = sorted(set(defaults) - set(DEFAULTABLE))
    if unknown:
        raise ValueError(f"imagineer.yaml defaults.labels: unknown key(s) {', '.join(unknown)}")
    merged = {**BUILTIN, **defaults, **config.model_dump(exclude_unset=True)}
    merged = {k: (BUILTIN[k] if v is None and k in BUILTIN else v) for k, v in merged.items()}
    try:
        return LabelsConfig.model_validate(merged)
    except ValidationError as e:
        raise ValueError(f"imagineer.yaml defaults.labels: {e}") from None


def check(config: LabelsConfig, settings: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    problems: list[tuple[tuple[Any, ...], str]] = []
    if config.labeler and config.labelers:
        problems.append(((), "give either labeler: or labelers:, not both"))
    try:
        cfg = resolve(config, settings.get("defaults", {}).get("labels"))
    except ValueError as e:
        return problems + [((), str(e))]
    names = cfg.chain_names()
    if not names:
        problems.append(((), f"a labels target needs labeler: (one of {', '.join(LABELERS)}) or labelers: [...]"))
    if len(set(names)) != len(names):
        problems.append((("labelers",), "a labeler is listed twice"))
    if "template" in names and not cfg.template:
        problems.append(((), "labeler template needs template: (a format string such as '{theme}, {suit}')"))
    if cfg.template:
        from .labelers.template import check_format

        for msg in [check_format(cfg.template)] + [check_format(t) for t in cfg.template_tags or []]:
            if msg:
                problems.append((("template",), msg))
    return problems
