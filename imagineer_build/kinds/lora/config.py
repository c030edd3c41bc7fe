"""The `loras:` entry: what a user may set, and how left-out values are filled in.

Anything left out comes from the dataset's recommended settings, then from imagineer.yaml
`defaults: {loras: …}`, then from the defaults the old trainer had tuned (DOMAIN.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ...core.kind import KindConfig

Scheduler = Literal["constant", "constant_with_warmup", "cosine", "cosine_with_restarts", "linear",
                    "polynomial"]


class BackendConfig(BaseModel):
    """An external trainer run instead of the built-in one."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["kohya", "ai-toolkit"] = Field(description="which trainer's config to write")
    command: list[str] | str | None = Field(
        None, description="command to run; {config} and {output_dir} are replaced. Default: "
        "imagineer.yaml defaults.loras.backend_commands.<kind>")
    arch: Literal["sd15", "sdxl", "flux", "zimage"] | None = Field(
        None, description="ai-toolkit model family (default: the base model's arch)")
    dry_run: bool = Field(False, description="write the config and the dataset only; train nothing")
    extra: dict[str, Any] = Field(default_factory=dict, description="merged into the written config")


class LoraConfig(KindConfig):
    dataset: str = Field(description="the dataset target to train on")
    model: str = Field(description="a model name from imagineer.yaml `models:` (or builtin:tiny-sd)")
    rank: int | None = Field(None, ge=1, le=1024, description="LoRA rank (default 8; 32 on SDXL)")
    alpha: float | None = Field(None, gt=0, le=100_000, description="LoRA alpha (default 32; 16 on SDXL)")
    dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout")
    steps: int | None = Field(None, ge=1, le=10_000_000, description="optimizer steps (or give epochs)")
    epochs: int | None = Field(None, ge=1, le=100_000, description="passes over the dataset (or give steps)")
    lr: float | None = Field(None, gt=0, description="learning rate (default 1e-4)")
    text_encoder_lr: float | None = Field(None, gt=0, description="text encoder learning rate (default lr)")
    scheduler: Scheduler | None = Field(None, description="learning-rate schedule (default constant_with_warmup)")
    warmup_steps: int | None = Field(None, ge=0, le=10_000_000, description="default: min(100, steps/10)")
    batch_size: int | None = Field(None, ge=1, le=4096)
    gradient_accumulation: int | None = Field(None, ge=1, le=4096, description="default: 4 / batch_size, at least 1")
    resolution: int | None = Field(None, ge=64, le=8192, description="training side length (default: the dataset's)")
    seed: int = Field(0, ge=0, le=2**63 - 1)
    train_text_encoder: bool = False
    noise_offset: float = Field(0.0, ge=0, le=10)
    min_snr_gamma: float | None = Field(None, gt=0, le=1000)
    caption_dropout: float | None = Field(None, ge=0, le=1, description="default: the dataset's")
    flip: bool = Field(False, description="random horizontal flip")
    clip_skip: int = Field(1, ge=1, le=4)
    prediction_type: Literal["epsilon", "v_prediction"] | None = Field(
        None, description="default: the model's scheduler")
    gradient_checkpointing: bool = False
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = Field(
        "auto", description="auto: the model's dtype on a GPU, none on the CPU")
    optimizer: Literal["auto", "adamw", "adamw8bit"] = Field(
        "auto", description="auto: 8-bit AdamW when bitsandbytes is present on CUDA")
    weight_decay: float = Field(1e-2, ge=0, le=100)
    max_grad_norm: float | None = Field(1.0, gt=0, le=1e6)
    save_every: int | None = Field(None, ge=1, le=10_000_000, description="checkpoint every N steps (default 500)")
    sample_every: int | None = Field(None, ge=1, le=10_000_000, description="sample images every N steps (and at the end)")
    sample_prompts: list[str] = Field(default_factory=list)
    sample_steps: int = Field(20, ge=1, le=1000)
    sample_guidance: float = Field(7.0, ge=0, le=100)
    backend: BackendConfig | None = None


# Fields whose defaults may come from the dataset or imagineer.yaml.
FILLABLE = ("rank", "alpha", "steps", "epochs", "lr", "text_encoder_lr", "scheduler", "warmup_steps",
            "batch_size", "gradient_accumulation", "resolution", "caption_dropout", "save_every",
            "noise_offset", "min_snr_gamma", "flip", "clip_skip", "dropout")


@dataclass
class TrainSettings:
    """Every training setting, resolved; written to training.json."""

    arch: str
    rank: int
    alpha: float
    dropout: float
    steps: int
    epochs: float
    lr: float
    text_encoder_lr: float
    scheduler: str
    warmup_steps: int
    batch_size: int
    gradient_accumulation: int
    resolution: int
    seed: int
    train_text_encoder: bool
    noise_offset: float
    min_snr_gamma: float | None
    caption_dropout: float
    flip: bool
    clip_skip: int
    prediction_type: str | None
    gradient_checkpointing: bool
    mixed_precision: str
    optimizer: str
    weight_decay: float
    max_grad_norm: float | None
    save_every: int
    sample_every: int | None
    sample_prompts: list[str] = field(default_factory=list)
    sample_steps: int = 20
    sample_guidance: float = 7.0

    def to_dict(self) -> dict[str, Any]:
        """The settings that decide the weights. save_every is left out: it says when to write
        checkpoints, not what is learnt, so changing it retrains to the same artifact (early
        cutoff) and a run may resume from a checkpoint written with another interval."""
        d = asdict(self)
        del d["save_every"]
        return d


def resolve_settings(cfg: LoraConfig, arch: str, recommended: dict[str, Any], defaults: dict[str, Any],
                     dataset_resolution: int, dataset_caption_dropout: float,
                     micro_batches_per_epoch) -> TrainSettings:
    """Fill left-out values: spec, then dataset recommendations, then project defaults, then ours.

    micro_batches_per_epoch(resolution, batch_size) counts batches, to turn epochs into steps.
    """
    given = cfg.model_dump(exclude_unset=True)

    def pick(name: str, fallback: Any) -> Any:
        if name in given and given[name] is not None:
            return given[name]
        if recommended.get(name) is not None:
            return recommended[name]
        if defaults.get(name) is not None:
            return defaults[name]
        return fallback

    sdxl = arch == "sdxl"
    rank = int(pick("rank", 32 if sdxl else 8))
    alpha = float(pick("alpha", 16.0 if sdxl else 32.0))
    batch = int(pick("batch_size", 1))
    accum = int(pick("gradient_accumulation", max(1, 4 // batch)))
    resolution = int(pick("resolution", dataset_resolution or (1024 if sdxl else 512)))
    lr = float(pick("lr", 1e-4))
    steps_given = given.get("steps")
    epochs_given = given.get("epochs")
    per_epoch = max(1, -(-micro_batches_per_epoch(resolution, batch) // accum))
    if steps_given:
        steps = int(steps_given)
    elif epochs_given:
        steps = int(epochs_given) * per_epoch
    elif recommended.get("epochs"):
        steps = int(recommended["epochs"]) * per_epoch
    elif defaults.get("steps"):
        steps = int(defaults["steps"])
    elif defaults.get("epochs"):
        steps = int(defaults["epochs"]) * per_epoch
    else:
        steps = 1500
    scheduler = str(pick("scheduler", "constant_with_warmup"))
    warmup = int(pick("warmup_steps", min(100, steps // 10)))
    return TrainSettings(
        arch=arch, rank=rank, alpha=alpha, dropout=float(pick("dropout", 0.0)), steps=steps,
        epochs=round(steps / per_epoch, 3), lr=lr, text_encoder_lr=float(pick("text_encoder_lr", lr)),
        scheduler=scheduler, warmup_steps=warmup, batch_size=batch, gradient_accumulation=accum,
        resolution=resolution, seed=cfg.seed, train_text_encoder=cfg.train_text_encoder,
        noise_offset=float(pick("noise_offset", 0.0)), min_snr_gamma=pick("min_snr_gamma", None),
        caption_dropout=float(pick("caption_dropout", dataset_caption_dropout or 0.0)),
        flip=bool(pick("flip", False)), clip_skip=int(pick("clip_skip", 1)),
        prediction_type=cfg.prediction_type, gradient_checkpointing=cfg.gradient_checkpointing,
        mixed_precision=cfg.mixed_precision, optimizer=cfg.optimizer, weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm, save_every=int(pick("save_every", 500)),
        sample_every=pick("sample_every", None), sample_prompts=list(cfg.sample_prompts),
        sample_steps=cfg.sample_steps, sample_guidance=cfg.sample_guidance,
    )
