"""The `generations` spec: rows × variations × images per prompt, one model, one LoRA stack.

Defaults are the ones the original card app had tuned (see DOMAIN.md): 512×512, 25 steps,
guidance 8.0, DPM-Solver multistep, negative "blurry, low quality".
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema, field_validator, model_validator

from ...core.kind import KindConfig

SchedulerName = Literal["dpmpp", "dpmpp_karras", "euler", "euler_a", "ddim", "pndm", "heun", "unipc"]
RESERVED_VARIATION_KEYS = ("mode", "limit", "seed")
# An image side: the VAE works in 8-pixel cells. In the JSON Schema too (`multipleOf`), so an
# editor flags what `imagineer status` does; the validator below words the error.
Side = Annotated[int, WithJsonSchema({"type": "integer", "minimum": 8, "multipleOf": 8})]


class LoraUse(KindConfig):
    """One LoRA of the stack: a `lora` target of this project, or a .safetensors file."""

    use: str | None = Field(None, description="a `lora` target whose weights to apply")
    path: str | None = Field(None, description="a project .safetensors file (diffusers or kohya layout)")
    weight: float = Field(1.0, ge=-4.0, le=4.0, description="adapter weight (typical 0.3–1.0; above 1 artifacts)")


class VariationsConfig(KindConfig):
    """Named value lists crossed with every row; `{Name}` is usable in the prompt.

    Written either as `{values: {...}, mode, limit, seed}` or in short form, the names
    directly under `variations:` beside optional `mode`, `limit` and `seed`.
    """

    values: dict[str, list[Any] | str] = Field(
        default_factory=dict, description="name → list of values, or a project YAML file holding the list")
    mode: Literal["combinatorial", "random"] = Field(
        "combinatorial", description="combinatorial: every combination; random: `limit` drawn combinations per row")
    limit: int | None = Field(None, ge=1, le=1_000_000, description="at most this many combinations per row")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="seed of the random draw (mode: random)")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and "values" not in data:
            rest = {k: v for k, v in data.items() if k not in RESERVED_VARIATION_KEYS}
            return {**{k: data[k] for k in RESERVED_VARIATION_KEYS if k in data}, "values": rest}
        return data

    @field_validator("values")
    @classmethod
    def _names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name, vals in v.items():
            if not name.isidentifier():
                raise ValueError(f"variation name {name!r} must be usable as a {{placeholder}} (letters, digits, _)")
            if isinstance(vals, list) and not vals:
                raise ValueError(f"variation {name!r} has no values")
        return v


class GenerationConfig(KindConfig):
    template: str | None = Field(None, description="project CSV file: one prompt per row, columns are {placeholders}")
    prompt: str = Field(..., description="prompt template over the row's columns, variations, base, theme, style, vars")
    base: str = Field("", description="base prompt, placed first unless the template places {base}")
    theme: str = Field("", description="the theme (e.g. gothic steampunk), placed after base unless the template places {theme}")
    style: str = Field("", description="style suffix, placed last unless the template places {style}")
    negative: str = Field("blurry, low quality", description="negative prompt (a template too)")
    vars: dict[str, str] = Field(default_factory=dict, description="extra constant {placeholders}")
    variations: VariationsConfig = Field(default_factory=VariationsConfig)
    name: str | None = Field(None, description="file name template, e.g. '{value} of {suit}' (default: the first two columns)")
    model: str | None = Field(None, description="a model of imagineer.yaml `models:` (or defaults: {generations: {model}})")
    loras: list[LoraUse] = Field(default_factory=list, description="LoRA stack, applied together with their weights")
    size: tuple[Side, Side] = Field((512, 512), description="[width, height], multiples of 8")
    steps: int = Field(25, ge=1, le=500)
    guidance: float = Field(8.0, ge=0.0, le=50.0, description="classifier-free guidance scale (CFG)")
    scheduler: SchedulerName = Field("dpmpp", description="sampler: dpmpp (DPM++ 2M) | dpmpp_karras | euler | euler_a | ddim | pndm | heun | unipc")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="base seed; each image's seed derives from it and its row (or a `seed` column)")
    images_per_prompt: int = Field(1, ge=1, le=64)
    batch_size: int = Field(4, ge=1, le=64, description="images per inference call (does not change any image)")

    @field_validator("size")
    @classmethod
    def _size(cls, v: tuple[int, int]) -> tuple[int, int]:
        for side in v:
            if side < 8 or side % 8 or side > 8192:
                raise ValueError(f"size sides must be multiples of 8 from 8 to 8192, got {v[0]}x{v[1]}")
        return v
