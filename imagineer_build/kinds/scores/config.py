"""The `scores` spec: which album, which CLIP, what to check, and when an image has failed.

The verdict thresholds are the braindump's: success when at least 80 % of the checked
variations match, partial from 50 %, failed below.
"""

from __future__ import annotations

import string
from typing import Any

from pydantic import Field, model_validator

from ...core.kind import KindConfig


class Thresholds(KindConfig):
    success: float = Field(0.8, ge=0, le=1, description="share of checked variations that must match for success")
    partial: float = Field(0.5, ge=0, le=1, description="share that must match for partial (below: failed)")

    @model_validator(mode="after")
    def _order(self) -> Thresholds:
        if self.partial > self.success:
            raise ValueError(f"partial ({self.partial}) must not be above success ({self.success})")
        return self


class ScoresConfig(KindConfig):
    of: str = Field(..., description="the album target to score (generation, source, labels, scores, dataset)")
    model: str | None = Field(None, description="a CLIP model of imagineer.yaml `models:` (arch: clip), or "
                                                "builtin:tiny-clip; default: defaults: {scores: {model}}")
    variations: list[str] | None = Field(
        None, description="variations of the album to check (default: every variation with two or more values)")
    columns: list[str] = Field(default_factory=list, description="CSV columns of a generation to check, e.g. [suit]")
    options: dict[str, list[str]] = Field(
        default_factory=dict, description="name → the options to choose among (default: the values the album used)")
    template: str = Field("a picture of {option}", description="text per option; {option} and {name} are filled in")
    templates: dict[str, str] = Field(default_factory=dict, description="name → its own option template")
    adherence: bool = Field(True, description="score each image against its prompt (CLIPScore)")
    prompt: str | None = Field(None, description="score every image against this text instead of its own prompt "
                                                 "(albums without prompts, e.g. scrapes)")
    thresholds: Thresholds = Field(default_factory=Thresholds)
    overrides: str | None = Field(None, description="project YAML file of hand flags (failed | ok) keyed by image "
                                                    "digest; they always win (`imagineer scores flag`)")
    baseline: str | None = Field(None, description="another scores target to compare with (per-value deltas)")
    batch_size: int = Field(32, ge=1, le=1024, description="images per forward pass (does not change any score)")

    def names(self) -> list[str]:
        """The explicitly checked names, variations first."""
        return [*(self.variations or []), *self.columns]


def template_problem(fmt: str) -> str | None:
    """Why an option template cannot be used, or None."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(fmt) if f is not None]
    except ValueError as e:
        return f"template {fmt!r}: {e}"
    bad = [f for f in fields if f not in ("option", "name")]
    if bad:
        return f"template {fmt!r}: unknown placeholder {{{bad[0]}}} (use {{option}} and {{name}})"
    if "option" not in fields:
        return f"template {fmt!r} must contain {{option}}"
    return None


def check(config: ScoresConfig, settings: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """The config's own problems (the album it scores is checked in upstream.py)."""
    from ...models import check_model

    problems: list[tuple[tuple[Any, ...], str]] = []
    name = model_name(config, settings)
    if not name:
        problems.append(((), "a scores target needs `model:` (a CLIP model: builtin:tiny-clip, or one declared "
                             "with arch: clip in imagineer.yaml), or defaults: {scores: {model: ...}}"))
    else:
        msg = check_model(name, settings, archs=("clip",))
        if msg:
            problems.append((("model",) if config.model else (), msg))
    for path, fmt in [(("template",), config.template), *((("templates", k), v) for k, v in config.templates.items())]:
        msg = template_problem(fmt)
        if msg:
            problems.append((path, msg))
    seen: set[str] = set()
    for i, n in enumerate(config.names()):
        if n in seen:
            where = ("variations", i) if i < len(config.variations or []) else ("columns", i - len(config.variations or []))
            problems.append((where, f"{n} is checked twice"))
        seen.add(n)
    for key in config.templates:
        if config.variations is not None and key not in seen:
            problems.append((("templates", key), f"a template for {key}, which is not in variations or columns"))
    for key, values in config.options.items():
        if config.variations is not None and key not in seen:
            problems.append((("options", key), f"options for {key}, which is not in variations or columns"))
        if len(set(values)) < 2:
            problems.append((("options", key), f"{key} has {len(set(values))} option(s); a choice needs at least two"))
    if config.baseline == config.of:
        problems.append((("baseline",), "baseline must be another scores target, not the album scored"))
    if config.prompt is not None and not config.prompt.strip():
        problems.append((("prompt",), "prompt is empty; leave it out instead"))
    return problems


def model_name(config: ScoresConfig, settings: dict[str, Any]) -> str | None:
    return config.model or (settings.get("defaults") or {}).get("scores", {}).get("model")
