"""A `lora` target built with the built-in trainer: resolve, encode (memoized), train, export."""

from __future__ import annotations

import json
import platform

from ... import models
from ...core.artifact import Artifact
from ...core.hashing import digest_json
from ...core.kind import BuildContext
from ...kernels import cpu_kernels
from ...models import ModelSpec, model_identity, resolve_model
from .checkpoint import finish
from .config import TrainSettings, resolve_settings
from .data import count_batches, load_dataset, train_items

TRAINER_VERSION = "1"  # part of the checkpoint identity: bump when the loop's arithmetic changes


def plan_settings(ctx: BuildContext):
    cfg = ctx.config
    spec = resolve_model(cfg.model, ctx.settings)
    view = ctx.upstream[cfg.dataset]
    info = load_dataset(view, cfg.dataset)
    defaults = dict((ctx.settings.get("defaults") or {}).get("loras") or {})
    ts = resolve_settings(cfg, spec.arch, dict(info.recommended or {}), defaults, info.resolution,
                          info.caption_dropout,
                          lambda res, bs: count_batches(train_items(ctx, view, info, res), bs))
    return spec, view, info, ts


def build_builtin(ctx: BuildContext) -> Artifact:

    from ...models.loading import apply_threads
    from ...models.pipeline_cache import lease
    from .latents import ensure_latents, ensure_text
    from .train import Trainer, deterministic

    cfg = ctx.config
    spec, view, info, ts = plan_settings(ctx)
    items = train_items(ctx, view, info, ts.resolution)
    threads = apply_threads(ctx.settings)
    model_id = {**models.memo_model_identity(spec, ctx.project_root, ctx.inputs), "threads": threads}
    identity = digest_json([TRAINER_VERSION, ts.to_dict(), view.digest, model_id, threads])
    ctx.log(f"training: {len(items)} images, {ts.steps} steps, rank {ts.rank}, "
            f"batch {ts.batch_size}×{ts.gradient_accumulation}, lr {ts.lr:g}")
    ctx.progress(0, None, f"loading model {cfg.model}")
    with lease(spec, ctx.project_root, ctx.models_dir) as pipe, deterministic():
        vae_id = {"model": model_id, "dtype": str(pipe.vae.dtype), "component": "vae"}
        latents, bad = ensure_latents(ctx, pipe, items, [False, True] if ts.flip else [False], vae_id)
        if bad:
            items, latents = drop_items(items, latents, bad)
        text_blobs: dict[str, str] = {}
        if not ts.train_text_encoder:
            te_id = {"model": model_id, "dtype": str(pipe.text_encoder.dtype), "component": "text"}
            captions = [it.caption for it in items] + ([""] if ts.caption_dropout else [])
            text_blobs = ensure_text(ctx, pipe, ts.arch, captions, te_id, ts.clip_skip)
        trainer = Trainer(ctx, pipe, ts, items, latents, text_blobs, identity,
                          cfg.prediction_type or spec.prediction_type)
        with trainer.attached():
            result = trainer.run()
    artifact = assemble(ctx, spec, view.digest, ts, result, len(items))
    finish(ctx, identity, ts.steps)
    return artifact


def drop_items(items, latents, bad: set[int]):
    """The items that could be read, with their latent references renumbered."""
    from .data import DatasetError

    keep = [i for i in range(len(items)) if i not in bad]
    if not keep:
        raise DatasetError("none of the dataset's images could be read")
    new_index = {old: new for new, old in enumerate(keep)}
    refs = {(new_index[i], f): r for (i, f), r in latents.items() if i in new_index}
    return [items[i] for i in keep], refs


def assemble(ctx: BuildContext, spec: ModelSpec, dataset_digest: str, ts: TrainSettings, result,
             images: int) -> Artifact:
    import diffusers
    import peft
    import torch

    from .export import write_diffusers, write_kohya
    from .plot import loss_png

    name = ctx.target
    base = model_identity(spec, ctx.project_root)
    final_loss = _tail_mean(result.losses)
    info = {
        "target": name, "dataset": ctx.config.dataset, "dataset_artifact": dataset_digest,
        "model": ctx.config.model, "base_model": base, "settings": ts.to_dict(),
        "base_model_commit": models.resolved_hf_commit(spec),
        "steps": result.steps, "final_loss": final_loss,
        "last_loss": result.losses[-1] if result.losses else None, "images": images,
        "threads": ctx.settings.get("threads"), **result.extra,
        "samples": [{k: v for k, v in s.items() if k != "blob"} for s in result.samples],
        "loss_history": result.losses,
    }
    files: dict[str, str] = {}
    work = ctx.workdir
    lora_file, kohya_file = f"{name}.safetensors", f"{name}.kohya.safetensors"
    write_diffusers(work / lora_file, ts.arch, result.parts)
    write_kohya(work / kohya_file, name, ts.arch, {k: sd for k, (sd, _) in result.parts.items()}, ts.rank,
                ts.alpha, {k: v for k, v in info.items() if k not in ("loss_history", "samples")})
    files[lora_file] = ctx.put_file(work / lora_file)
    files[kohya_file] = ctx.put_file(work / kohya_file)
    files["training.json"] = ctx.put_bytes(json.dumps(info, indent=2, sort_keys=True).encode())
    files["loss.png"] = ctx.put_bytes(loss_png(result.losses, f"{name}: loss over {result.steps} steps"))
    for s in result.samples:
        files[s["file"]] = s["blob"]
    meta = {"lora": {"file": lora_file, "kohya_file": kohya_file, "arch": ts.arch, "rank": ts.rank,
                     "alpha": ts.alpha, "base_model": base, "steps": result.steps, "final_loss": final_loss,
                     "train_text_encoder": ts.train_text_encoder,
                     "samples": info["samples"]}}
    facts = {"steps": result.steps, "final_loss": round(final_loss, 5) if final_loss is not None else None,
             "rank": ts.rank, "images": images}
    run = {"seconds": round(result.seconds, 3), "seconds_per_step": result.seconds_per_step,
           "cpu_seconds_per_step": result.cpu_seconds_per_step, "resumed_from": result.resumed_from,
           "device": result.device, "cpu_kernels": cpu_kernels(),
           "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__,
                        "peft": peft.__version__, "python": platform.python_version()}}
    return Artifact(files=files, meta=meta, facts=facts, run=run)


def _tail_mean(losses: list[float], n: int = 10) -> float | None:
    """The final loss as the mean of the last steps (one step's loss is mostly noise)."""
    tail = losses[-n:]
    return float(sum(tail) / len(tail)) if tail else None
