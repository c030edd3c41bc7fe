"""A LoRA spec as another trainer's config files, and the settings a trainer cannot honour.

Every setting either reaches the written config or is refused (`refusals`): check() reports a
spec's own values at file:line:col, the build re-checks the resolved ones (a value can come
from imagineer.yaml defaults or the dataset). What each trainer reads was taken from its code:
sd-scripts (`library/train_util.py`, `library/config_util.py`, `train_network.py`) and
ai-toolkit (`toolkit/config_modules.py`, `toolkit/scheduler.py`, `jobs/process/`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import BackendConfig, TrainSettings

FLOW_ARCHS = ("flux", "zimage")
NO_WARMUP = ("cosine", "cosine_with_restarts", "linear")  # ai-toolkit builds these from torch: no warmup
BUCKET_STEP = 64  # sd-scripts' default; train_network.py needs a multiple of 64, SDXL one of 32


def refusals(kind: str, arch: str | None, v: dict[str, Any], resolved: bool = False) -> list[tuple[str, str]]:
    """(setting, why) for each setting trainer `kind` would drop or misread on model family `arch`.

    `v` holds setting values: a spec's own (left-out ones absent) or, with resolved=True,
    every resolved one (where a left-out warmup_steps already holds its default)."""
    out: list[tuple[str, str]] = []
    sched, warmup = v.get("scheduler"), v.get("warmup_steps")
    if not resolved and sched == "constant" and warmup:
        out.append(("warmup_steps", "scheduler constant has no warmup (sd-scripts rejects the pair); "
                                    "use constant_with_warmup, or leave warmup_steps out"))
    if (v.get("clip_skip") or 1) > 1 and (kind == "ai-toolkit" or arch == "sdxl"):
        who = "ai-toolkit" if kind == "ai-toolkit" else "sd-scripts on SDXL"
        out.append(("clip_skip", f"{who} does not apply clip_skip; leave it at 1 or use the built-in trainer"))
    if kind != "ai-toolkit":
        return out
    if sched == "polynomial":
        out.append(("scheduler", "ai-toolkit has no polynomial schedule; use constant, constant_with_warmup, "
                                 "cosine, cosine_with_restarts or linear"))
    elif sched in NO_WARMUP and (warmup if resolved else warmup != 0):
        out.append(("scheduler", f"ai-toolkit's {sched} schedule has no warmup: add `warmup_steps: 0`, "
                                 "or use constant_with_warmup"))
    if "max_grad_norm" in v and v["max_grad_norm"] is None:
        out.append(("max_grad_norm", "ai-toolkit always clips gradients: give max_grad_norm a value"))
    if v.get("text_encoder_lr") is not None and v["text_encoder_lr"] != v.get("lr"):
        out.append(("text_encoder_lr", "ai-toolkit trains the text encoder at `lr`; leave text_encoder_lr out"))
    if arch in FLOW_ARCHS and v.get("prediction_type"):
        out.append(("prediction_type", f"{arch} trains by flow matching; prediction_type is for sd15 and sdxl"))
    return out


def _mixed(ts: TrainSettings) -> str:
    return ts.mixed_precision if ts.mixed_precision != "auto" else "bf16"


# ---- sd-scripts -------------------------------------------------------------------------------

def kohya_buckets(resolution: int) -> dict[str, int]:
    """Bucket bounds sd-scripts accepts for this resolution: sides in BUCKET_STEP steps, the
    smallest at most the resolution and the largest at least it (config_util / train_util
    assert both), spanning what the dataset kind's bucket plan spans by default."""
    lo = max(BUCKET_STEP, min(256, resolution // 2) // BUCKET_STEP * BUCKET_STEP)
    hi = -(-max(1024, 2 * resolution) // BUCKET_STEP) * BUCKET_STEP
    return {"min_bucket_reso": lo, "max_bucket_reso": hi, "bucket_reso_steps": BUCKET_STEP}


def kohya_configs(ts: TrainSettings, be: BackendConfig, name: str, base: str, folders: dict[int, Path],
                  work: Path, where=str) -> dict[str, str]:
    """{file name: text}: config.toml (train_network.py --config_file), dataset.toml, prompts.txt."""
    mixed = _mixed(ts)
    dataset = {
        "general": {"enable_bucket": True, **kohya_buckets(ts.resolution), "caption_extension": ".txt",
                    "shuffle_caption": False},
        "datasets": [{
            "resolution": ts.resolution, "batch_size": ts.batch_size,
            "subsets": [{"image_dir": where(folder), "num_repeats": repeats,
                         "caption_dropout_rate": ts.caption_dropout, "flip_aug": ts.flip}
                        for repeats, folder in sorted(folders.items())],
        }],
    }
    args: dict[str, Any] = {
        "pretrained_model_name_or_path": base, "dataset_config": where(work / "dataset.toml"),
        "output_dir": where(work / "output"), "output_name": name, "save_model_as": "safetensors",
        "network_module": "networks.lora", "network_dim": ts.rank, "network_alpha": ts.alpha,
        "network_dropout": ts.dropout or None, "network_train_unet_only": not ts.train_text_encoder,
        "learning_rate": ts.lr, "unet_lr": ts.lr,
        "text_encoder_lr": ts.text_encoder_lr if ts.train_text_encoder else None,
        # sd-scripts rejects a warmup on `constant`; ours (like diffusers') ignores it there
        "lr_scheduler": ts.scheduler, "lr_warmup_steps": 0 if ts.scheduler == "constant" else ts.warmup_steps,
        "max_train_steps": ts.steps, "gradient_accumulation_steps": ts.gradient_accumulation, "seed": ts.seed,
        "mixed_precision": mixed, "save_precision": mixed if mixed in ("fp16", "bf16") else "float",
        "save_every_n_steps": ts.save_every, "noise_offset": ts.noise_offset or None,
        "min_snr_gamma": ts.min_snr_gamma, "clip_skip": ts.clip_skip if ts.arch == "sd15" else None,
        "v_parameterization": True if ts.prediction_type == "v_prediction" else None,
        "gradient_checkpointing": ts.gradient_checkpointing or None,
        "optimizer_type": "AdamW8bit" if ts.optimizer == "adamw8bit" else "AdamW",
        "optimizer_args": [f"weight_decay={ts.weight_decay!r}"],
        "max_grad_norm": ts.max_grad_norm if ts.max_grad_norm is not None else 0.0,  # 0: no clipping
        "cache_latents": True, "sdpa": True,
        "sample_every_n_steps": (ts.sample_every or ts.steps) if ts.sample_prompts else None,
        "sample_prompts": where(work / "prompts.txt") if ts.sample_prompts else None,
        **be.extra,
    }
    script = "sdxl_train_network.py" if ts.arch == "sdxl" else "train_network.py"
    head = f"# sd-scripts: accelerate launch {script} --config_file config.toml (written by imagineer)\n"
    out = {"config.toml": head + to_toml(args), "dataset.toml": to_toml(dataset)}
    if ts.sample_prompts:
        out["prompts.txt"] = "".join(f"{p} --w {ts.resolution} --h {ts.resolution} --d {ts.seed + i} "
                                     f"--s {ts.sample_steps} --l {ts.sample_guidance}\n"
                                     for i, p in enumerate(ts.sample_prompts))
    return out


def to_toml(data: dict[str, Any]) -> str:
    """TOML by tomli-w; None means "leave the trainer's default", and TOML has no null."""
    import tomli_w

    return tomli_w.dumps(_without_none(data))


def _without_none(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _without_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_without_none(x) for x in v]
    return v


# ---- ai-toolkit -------------------------------------------------------------------------------

AI_TOOLKIT_MODELS = {
    "sdxl": {"is_xl": True},
    "sd15": {},
    "flux": {"is_flux": True, "quantize": True},
    "zimage": {"arch": "zimage"},
}
# our schedule → ai-toolkit's name and the lr_scheduler_params that make it the same curve
AI_TOOLKIT_SCHEDULES = {
    "constant": ("constant", {}), "cosine": ("cosine", {}), "cosine_with_restarts": ("cosine_with_restarts", {}),
    "linear": ("linear", {"start_factor": 1.0, "end_factor": 0.0}),  # torch's LinearLR decays with these
}
AI_TOOLKIT_DTYPES = {"fp16": "fp16", "bf16": "bf16", "no": "fp32"}


def ai_toolkit_config(ts: TrainSettings, be: BackendConfig, name: str, base: str, dataset_dir: Path,
                      work: Path, where=str) -> dict[str, str]:
    """{file name: text}: job.yaml for ai-toolkit's run.py."""
    import yaml

    arch = be.arch or ts.arch
    flow = arch in FLOW_ARCHS
    if ts.scheduler == "constant_with_warmup":
        schedule, schedule_params = "constant_with_warmup", {"num_warmup_steps": ts.warmup_steps}
    else:
        schedule, schedule_params = AI_TOOLKIT_SCHEDULES.get(ts.scheduler, (ts.scheduler, {}))
    model = {"name_or_path": base, **AI_TOOLKIT_MODELS[arch]}
    if not flow:
        model["is_v_pred"] = ts.prediction_type == "v_prediction"
    network: dict[str, Any] = {"type": "lora", "linear": ts.rank, "linear_alpha": ts.alpha}
    if ts.dropout:
        network["dropout"] = ts.dropout
    process = {
        "type": "sd_trainer", "training_folder": where(work / "output"), "device": "cuda:0",
        "training_seed": ts.seed,  # read by BaseTrainProcess; train.seed is read by nothing
        "network": network,
        "save": {"dtype": "float16", "save_every": ts.save_every, "max_step_saves_to_keep": 4},
        "datasets": [{"folder_path": where(dataset_dir), "caption_ext": "txt",
                      "caption_dropout_rate": ts.caption_dropout, "shuffle_tokens": False,
                      "flip_x": ts.flip, "cache_latents_to_disk": True, "resolution": [ts.resolution]}],
        "train": {"batch_size": ts.batch_size, "steps": ts.steps,
                  # `gradient_accumulation` counts one step per accumulation; the older
                  # gradient_accumulation_steps counts every micro-batch as a step
                  "gradient_accumulation": ts.gradient_accumulation, "train_unet": True,
                  "train_text_encoder": ts.train_text_encoder, "gradient_checkpointing": ts.gradient_checkpointing,
                  "noise_scheduler": "flowmatch" if flow else "ddpm",
                  "optimizer": "adamw8bit" if ts.optimizer != "adamw" else "adamw",
                  "optimizer_params": {"weight_decay": ts.weight_decay}, "lr": ts.lr,
                  "lr_scheduler": schedule, "lr_scheduler_params": schedule_params,
                  "dtype": AI_TOOLKIT_DTYPES[_mixed(ts)], "max_grad_norm": ts.max_grad_norm,
                  "min_snr_gamma": ts.min_snr_gamma, "noise_offset": ts.noise_offset},
        "model": model,
        "sample": {"sampler": "flowmatch" if flow else "ddpm", "sample_every": ts.sample_every or ts.steps,
                   "width": ts.resolution, "height": ts.resolution, "prompts": list(ts.sample_prompts),
                   "seed": ts.seed, "walk_seed": True, "guidance_scale": ts.sample_guidance,
                   "sample_steps": ts.sample_steps},
    }
    _merge(process, be.extra)
    job = {"job": "extension", "config": {"name": name, "process": [process]},
           "meta": {"name": name, "version": "1.0", "written_by": "imagineer"}}
    return {"job.yaml": yaml.safe_dump(job, sort_keys=False)}


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v
