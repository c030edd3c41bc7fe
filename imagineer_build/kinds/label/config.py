"""The `labels` spec: which album, which labelers, and their settings.

Settings left out of a spec come from imagineer.yaml `defaults: {labels: {...}}`, then
from the built-in defaults below (`resolve`), so a project sets its model once. The local
labelers (`vlm:`, `tagger:`) and `review:` are sub-sections merged key by key.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_serializer

from ...core.kind import KindConfig
from ...media.scoreset import Selection

LABELERS = ("claude", "vlm", "tagger", "sidecar", "alt-text", "template", "manual", "manifest")
LabelerName = Literal["claude", "vlm", "tagger", "sidecar", "alt-text", "template", "manual", "manifest"]
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


class VlmConfig(KindConfig):
    model: str = Field(..., description="a model from imagineer.yaml `models:` with arch: vlm (or builtin:tiny-vlm)")
    prompt: Literal["descriptive", "sd-prompt", "tags", "custom"] = Field(
        "descriptive", description="descriptive: a paragraph | sd-prompt: comma-separated phrases | "
                                   "tags: booru-style tags | custom: custom_prompt")
    custom_prompt: str | None = Field(None, description="the instruction for prompt: custom")
    max_new_tokens: int = Field(120, ge=1, le=4096, description="longest caption, in tokens")
    num_beams: int = Field(1, ge=1, le=16, description="1: greedy decoding (default); more: beam search")
    batch_size: int = Field(8, ge=1, le=512, description="images per generate() call")


class TaggerConfig(KindConfig):
    model: str = Field(..., description="a model from imagineer.yaml `models:` with arch: tagger (or builtin:tiny-tagger)")
    general_threshold: float = Field(0.35, ge=0, le=1, description="score a general tag needs")
    character_threshold: float = Field(0.85, ge=0, le=1, description="score a character tag needs")
    max_tags: int | None = Field(None, ge=1, description="keep at most this many tags (highest scores)")
    exclude_tags: list[str] = Field(default_factory=list, description="tags never given")
    replace_underscores: bool = Field(True, description="long_hair → long hair (kaomoji like ^_^ are kept)")
    as_caption: bool = Field(False, description="also give the tags, joined by commas, as the caption")
    batch_size: int = Field(32, ge=1, le=1024, description="images per onnxruntime call")


class ReviewConfig(KindConfig):
    by: str = Field(..., description="claude, or a model from `models:` with arch: vlm")
    rubric: str | None = Field(None, description="what a good caption is for this set (added to the reviewer's instructions)")
    style: Literal["terse", "descriptive"] = Field("terse", description="the style of proposed captions")
    file: str | None = Field(None, description="the review file `imagineer labels review` keeps (default reviews/TARGET.yaml)")
    max_new_tokens: int = Field(160, ge=8, le=4096, description="vlm reviewer: longest answer, in tokens")
    batch_size: int = Field(8, ge=1, le=512, description="vlm reviewer: images per generate() call")


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
    # local models
    vlm: VlmConfig | None = Field(None, description="labeler vlm: a vision-language captioning model")
    tagger: TaggerConfig | None = Field(None, description="labeler tagger: a WD14-style booru tagger")
    review: ReviewConfig | None = Field(
        None, description="propose caption fixes for people to approve (imagineer labels review TARGET)")

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


SECTIONS = ("vlm", "tagger", "review")
# Keys a project may set under defaults.labels: everything except what names targets and files.
DEFAULTABLE = tuple(k for k in LabelsConfig.model_fields if k not in ("of", "overrides", "select"))


def resolve(config: LabelsConfig, defaults: dict[str, Any] | None) -> LabelsConfig:
    """The config with project defaults and built-in values filled in where the spec is silent."""
    defaults = dict(defaults or {})
    unknown = sorted(set(defaults) - set(DEFAULTABLE))
    if unknown:
        raise ValueError(f"imagineer.yaml defaults.labels: unknown key(s) {', '.join(unknown)}")
    mine = config.model_dump(exclude_unset=True)
    merged = {**BUILTIN, **defaults, **mine}
    for k in SECTIONS:  # sub-sections merge key by key: a spec may change one setting
        if isinstance(defaults.get(k), dict) and isinstance(mine.get(k), dict):
            merged[k] = {**defaults[k], **mine[k]}
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
    problems += check_local(cfg, names, settings)
    if cfg.template:
        from .labelers.template import check_format

        for msg in [check_format(cfg.template)] + [check_format(t) for t in cfg.template_tags or []]:
            if msg:
                problems.append((("template",), msg))
    return problems


def check_local(cfg: LabelsConfig, names: list[str], settings: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """The vlm / tagger / review settings: present where needed, naming models of the right arch."""
    from ...models import check_model

    problems: list[tuple[tuple[Any, ...], str]] = []
    chain = ("labelers",) if cfg.labelers else ("labeler",)
    for name, arch in (("vlm", "vlm"), ("tagger", "tagger")):
        sub = getattr(cfg, name)
        if name in names and sub is None:
            problems.append((chain, f"labeler {name} needs {name}: {{model: NAME}} (a model with arch: {arch} "
                                 f"in imagineer.yaml `models:`, or builtin:tiny-{name})"))
        elif sub is not None:
            msg = check_model(sub.model, settings, (arch,))
            if msg:
                problems.append(((name, "model"), msg))
    if cfg.vlm is not None:
        if cfg.vlm.prompt == "custom" and not (cfg.vlm.custom_prompt or "").strip():
            problems.append((("vlm", "custom_prompt"), "prompt: custom needs custom_prompt: (the instruction)"))
        if cfg.vlm.custom_prompt and cfg.vlm.prompt != "custom":
            problems.append((("vlm", "custom_prompt"), "custom_prompt is used only with prompt: custom"))
    if cfg.review is not None and cfg.review.by != "claude":
        msg = check_model(cfg.review.by, settings, ("vlm",))
        if msg:
            problems.append((("review", "by"), f"review by: claude, or a vlm model: {msg}"))
    return problems


def local_models(cfg: LabelsConfig) -> dict[str, str]:
    """role → model name of the local models the target uses (vlm, tagger, reviewer)."""
    names = cfg.chain_names()
    out = {}
    if "vlm" in names and cfg.vlm:
        out["vlm"] = cfg.vlm.model
    if "tagger" in names and cfg.tagger:
        out["tagger"] = cfg.tagger.model
    if cfg.review and cfg.review.by != "claude":
        out["reviewer"] = cfg.review.by
    return out
