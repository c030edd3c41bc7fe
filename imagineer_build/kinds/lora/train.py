"""The built-in trainer: peft LoRA on the UNet attention (and optionally the text encoder).

Every random draw of a step comes from generators seeded by (seed, micro-batch number), and the
batch order is a function of (seed, epoch), so a run resumed from a checkpoint continues exactly
where an uninterrupted run would be. The pipeline is borrowed from the warm cache and handed
back as it was found: adapters removed, flags restored.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

from ...core.kind import BuildContext
from .checkpoint import load_checkpoint, restore_scheduler, save_checkpoint, scheduler_state
from .config import TrainSettings
from .data import BatchPlan, TrainItem
from .latents import BlobTensors, LatentRef, encode_text
from .samples import make_samples

ADAPTER = "imagineer_lora_train"  # distinctive: a substring of no module name
UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
TE_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]


class TrainingError(Exception):
    pass


@dataclass
class RunResult:
    steps: int
    losses: list[float]
    resumed_from: int
    samples: list[dict[str, Any]]  # records with "blob"
    parts: dict[str, tuple[dict, dict]]  # component → (peft state dict, peft config dict)
    seconds: float
    device: str
    seconds_per_step: float | None = None
    cpu_seconds_per_step: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # settings as they were resolved (artifact)


def step_seed(seed: int, n: int) -> int:
    h = hashlib.blake2b(f"{seed}:{n}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") & ((1 << 63) - 1)


@contextlib.contextmanager
def deterministic():
    """Deterministic kernels for the duration (warn only where an op has none)."""
    import os

    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    prev, prev_warn = torch.are_deterministic_algorithms_enabled(), \
        torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


def text_encoders(pipe, arch: str) -> dict[str, Any]:
    names = ["text_encoder", "text_encoder_2"] if arch == "sdxl" else ["text_encoder"]
    return {n: getattr(pipe, n) for n in names if getattr(pipe, n, None) is not None}


def _unwrap_lora(model) -> None:
    """Put back the plain modules peft wrapped (transformers has no unload for adapters)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, BaseTunerLayer):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
    for attr in ("peft_config",):
        if hasattr(model, attr):
            with contextlib.suppress(AttributeError):
                delattr(model, attr)
    if hasattr(model, "_hf_peft_config_loaded"):
        model._hf_peft_config_loaded = False


class Trainer:
    def __init__(self, ctx: BuildContext, pipe, ts: TrainSettings, items: list[TrainItem],
                 latents: dict[tuple[int, bool], LatentRef], text_blobs: dict[str, str], identity: str,
                 prediction_type: str | None):
        self.ctx, self.pipe, self.ts, self.items = ctx, pipe, ts, items
        self.latents, self.text_blobs, self.identity = latents, text_blobs, identity
        self.plan = BatchPlan(items, ts.batch_size, ts.seed)
        self.pred_override = prediction_type
        self.samples: list[dict[str, Any]] = []
        self.tensors = BlobTensors(ctx)

    # ---- borrowing the pipeline ----------------------------------------------------------

    @contextlib.contextmanager
    def attached(self):
        """Adapters on for the with-block; the pipeline is restored afterwards, whatever happens."""
        import torch
        from diffusers import DDPMScheduler
        from peft import LoraConfig

        pipe, ts = self.pipe, self.ts
        unet = pipe.unet
        tes = text_encoders(pipe, ts.arch) if ts.train_text_encoder else {}
        modules = {"unet": unet, **tes}
        self.device, self.dtype = unet.device, unet.dtype
        grads = {n: {k: p.requires_grad for k, p in m.named_parameters()} for n, m in modules.items()}
        had_adapters = {n: bool(getattr(m, "peft_config", None)) for n, m in modules.items()}
        was_training = {n: m.training for n, m in modules.items()}
        try:
            torch.manual_seed(ts.seed)  # LoRA initialisation draws from the global generator
            for name, m in modules.items():
                m.requires_grad_(False)
                targets = UNET_TARGETS if name == "unet" else TE_TARGETS
                m.add_adapter(LoraConfig(r=ts.rank, lora_alpha=ts.alpha, lora_dropout=ts.dropout,
                                         init_lora_weights="gaussian", target_modules=targets),
                              adapter_name=ADAPTER)
                for p in m.parameters():
                    if p.requires_grad:
                        p.data = p.data.float()  # trainable weights in fp32 even on a half model
                m.train()
                if ts.gradient_checkpointing:
                    if name == "unet":
                        m.enable_gradient_checkpointing()
                    else:  # transformers 5 renamed it
                        (getattr(m, "activation_checkpointing_enable", None) or m.gradient_checkpointing_enable)()
            self.modules = modules
            self.params = {n: [p for p in m.parameters() if p.requires_grad] for n, m in modules.items()}
            self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
            pred = self.pred_override or self.noise_scheduler.config.prediction_type
            self.noise_scheduler.register_to_config(prediction_type=pred)
            self.prediction_type = pred
            yield self
        finally:
            for name, m in modules.items():
                m.train(was_training[name])
                if ts.gradient_checkpointing:
                    if name == "unet":
                        m.disable_gradient_checkpointing()
                    else:
                        (getattr(m, "activation_checkpointing_disable", None) or m.gradient_checkpointing_disable)()
                if getattr(m, "peft_config", None) and ADAPTER in m.peft_config:
                    if name == "unet":
                        m.delete_adapters(ADAPTER)
                        if not had_adapters[name]:
                            m.unload_lora()
                    else:
                        m.delete_adapter(ADAPTER)
                        if not had_adapters[name]:
                            _unwrap_lora(m)
                for k, p in m.named_parameters():
                    p.requires_grad_(grads[name].get(k, False))

    # ---- the loop ------------------------------------------------------------------------

    def _optimizer(self):
        import importlib.util

        import torch

        ts = self.ts
        groups = [{"params": self.params["unet"], "lr": ts.lr}]
        te_params = [p for n, ps in self.params.items() if n != "unet" for p in ps]
        if te_params:
            groups.append({"params": te_params, "lr": ts.text_encoder_lr})
        cuda = self.pipe.unet.device.type == "cuda"
        want8 = ts.optimizer == "adamw8bit" or (
            ts.optimizer == "auto" and cuda and importlib.util.find_spec("bitsandbytes") is not None)
        if want8:
            if importlib.util.find_spec("bitsandbytes") is None or not cuda:
                raise TrainingError("optimizer adamw8bit needs bitsandbytes and a CUDA GPU; "
                                    "use optimizer: adamw")
            import bitsandbytes as bnb

            return bnb.optim.AdamW8bit(groups, lr=ts.lr, weight_decay=ts.weight_decay), "adamw8bit"
        return torch.optim.AdamW(groups, lr=ts.lr, weight_decay=ts.weight_decay), "adamw"

    def _amp(self):
        import torch

        unet = self.pipe.unet
        mp = self.ts.mixed_precision
        if unet.device.type != "cuda" or mp == "no":
            return None
        if mp == "auto":
            return unet.dtype if unet.dtype in (torch.float16, torch.bfloat16) else None
        return torch.float16 if mp == "fp16" else torch.bfloat16

    def run(self, total_seconds_before: float = 0.0) -> RunResult:
        import torch
        from diffusers.optimization import get_scheduler

        ctx, ts = self.ctx, self.ts
        self.optimizer, opt_name = self._optimizer()
        self.lr_scheduler = get_scheduler(ts.scheduler, optimizer=self.optimizer,
                                          num_warmup_steps=ts.warmup_steps, num_training_steps=ts.steps)
        self.amp_dtype = self._amp()
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        losses: list[float] = []
        start, elapsed = 0, 0.0
        ckpt = load_checkpoint(ctx, self.identity)
        if ckpt is not None:
            start, losses, elapsed = self._restore(ckpt)
            ctx.log(f"resuming from the checkpoint at step {start} of {ts.steps}")
        t0, cpu0 = time.perf_counter(), time.thread_time()
        timed_from, timed_t = start, t0
        aside = aside_cpu = 0.0
        for step in range(start, ts.steps):
            ctx.check_cancelled()
            loss = self._guarded_step(step)
            losses.append(loss)
            n = step + 1
            spent = time.perf_counter() - timed_t
            rate = spent / max(1, n - timed_from)
            eta = rate * (ts.steps - n)
            ctx.progress(n, ts.steps, f"loss {loss:.4f} · {rate:.2f} s/step · eta {eta:.0f} s")
            o0, oc0 = time.perf_counter(), time.thread_time()
            if ts.sample_every and ts.sample_prompts and n % ts.sample_every == 0 and n < ts.steps:
                self._sample(n)
            if n % ts.save_every == 0 and n < ts.steps:
                save_checkpoint(ctx, self.identity, self._state(n, losses, elapsed + time.perf_counter() - t0))
                ctx.log(f"checkpoint at step {n}")
            aside += time.perf_counter() - o0  # samples and checkpoints are not step time
            aside_cpu += time.thread_time() - oc0
        total_seconds = time.perf_counter() - t0
        train_seconds, train_cpu = total_seconds - aside, time.thread_time() - cpu0 - aside_cpu
        if ts.sample_prompts:
            self._sample(ts.steps)
        parts = self._export_parts()
        done = ts.steps - start
        return RunResult(steps=ts.steps, losses=losses, resumed_from=start, samples=self.samples, parts=parts,
                         seconds=elapsed + total_seconds, device=str(self.pipe.unet.device),
                         seconds_per_step=train_seconds / done if done else None,
                         cpu_seconds_per_step=train_cpu / done if done else None,
                         extra={"optimizer": opt_name, "prediction_type": self.prediction_type,
                                "mixed_precision": str(self.amp_dtype).replace("torch.", "") if self.amp_dtype
                                else "no"})

    def _guarded_step(self, step: int) -> float:
        try:
            return self._step(step)
        except RuntimeError as e:  # torch.OutOfMemoryError on CUDA; a plain RuntimeError on MPS
            if "out of memory" not in str(e).lower():
                raise
            raise TrainingError(
                f"out of memory at step {step + 1} (batch_size {self.ts.batch_size}, resolution "
                f"{self.ts.resolution}): lower batch_size or resolution, or set gradient_checkpointing: "
                "true / mixed_precision: bf16") from e

    def _step(self, step: int) -> float:
        import torch

        ts = self.ts
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for k in range(ts.gradient_accumulation):
            loss = self._micro(step * ts.gradient_accumulation + k)
            value = loss.item()
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"loss is {value} at step {step + 1}: training diverged. Lower lr (now {ts.lr:g}), "
                    "or raise warmup_steps / set max_grad_norm")
            scaled = loss / ts.gradient_accumulation
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            total += value
        params = [p for ps in self.params.values() for p in ps]
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        if ts.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, ts.max_grad_norm)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.lr_scheduler.step()
        return total / ts.gradient_accumulation

    def _micro(self, m: int):
        import torch
        import torch.nn.functional as F

        ts, pipe, items = self.ts, self.pipe, self.items
        unet = pipe.unet
        dev, udtype = self.device, self.dtype  # diffusers' .device/.dtype walk every parameter
        idx = self.plan.batch(m)
        rng = random.Random(step_seed(ts.seed, m))
        g = torch.Generator("cpu").manual_seed(step_seed(ts.seed, m))
        flips = [ts.flip and rng.random() < 0.5 for _ in idx]
        caps = ["" if ts.caption_dropout and rng.random() < ts.caption_dropout else items[i].caption
                for i in idx]
        refs = [self.latents[(i, f)] for i, f in zip(idx, flips, strict=True)]
        lat_t = [self.tensors.get(r.blob) for r in refs]
        mean = torch.stack([t["mean"] for t in lat_t])
        std = torch.stack([t["std"] for t in lat_t])
        vcfg = pipe.vae.config
        lat = mean + std * torch.randn(mean.shape, generator=g)
        lat = (lat - (getattr(vcfg, "shift_factor", None) or 0.0)) * vcfg.scaling_factor
        noise = torch.randn(lat.shape, generator=g)
        if ts.noise_offset:
            noise = noise + ts.noise_offset * torch.randn((lat.shape[0], lat.shape[1], 1, 1), generator=g)
        ns = self.noise_scheduler
        t = torch.randint(0, ns.config.num_train_timesteps, (lat.shape[0],), generator=g)
        noisy = ns.add_noise(lat, noise, t)
        target = noise if self.prediction_type == "epsilon" else ns.get_velocity(lat, noise, t)
        autocast = torch.autocast(dev.type, dtype=self.amp_dtype) if self.amp_dtype else contextlib.nullcontext()
        with autocast:
            if ts.train_text_encoder:
                hidden, pooled = encode_text(pipe, ts.arch, caps, ts.clip_skip)
            else:
                texts = [self.tensors.get(self.text_blobs[c]) for c in caps]
                hidden = torch.stack([t["hidden"] for t in texts])
                pooled = torch.stack([t["pooled"] for t in texts]) if ts.arch == "sdxl" else None
            kwargs: dict[str, Any] = {}
            if ts.arch == "sdxl":
                time_ids = torch.tensor([[*r.orig, *r.crop, items[i].bucket[1], items[i].bucket[0]]
                                         for r, i in zip(refs, idx, strict=True)], dtype=torch.float32)
                kwargs["added_cond_kwargs"] = {"text_embeds": pooled.to(dev, udtype),
                                               "time_ids": time_ids.to(dev, udtype)}
            pred = unet(noisy.to(dev, udtype), t.to(dev), hidden.to(dev, udtype), **kwargs).sample
        loss = F.mse_loss(pred.float(), target.to(dev).float(), reduction="none").mean(dim=[1, 2, 3])
        if ts.min_snr_gamma:
            from diffusers.training_utils import compute_snr

            snr = compute_snr(ns, t)
            w = torch.clamp(snr, max=ts.min_snr_gamma)
            w = w / (snr + 1) if self.prediction_type == "v_prediction" else w / snr
            loss = loss * w.to(dev)
        return loss.mean()

    # ---- checkpoints, samples, export ------------------------------------------------------

    def _trainable(self) -> dict[str, Any]:
        return {f"{n}/{k}": p for n, m in self.modules.items() for k, p in m.named_parameters() if p.requires_grad}

    def _state(self, step: int, losses: list[float], elapsed: float) -> dict[str, Any]:
        import torch

        state = {
            "step": step, "losses": list(losses), "elapsed": elapsed, "samples": list(self.samples),
            "weights": {k: p.detach().cpu().clone() for k, p in self._trainable().items()},
            "optimizer": self.optimizer.state_dict(), "scheduler": scheduler_state(self.lr_scheduler),
            "torch_rng": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        if self.scaler:
            state["scaler"] = self.scaler.state_dict()
        return state

    def _restore(self, ckpt: dict[str, Any]) -> tuple[int, list[float], float]:
        import torch

        params = self._trainable()
        missing = set(params) ^ set(ckpt["weights"])
        if missing:
            raise TrainingError(f"the checkpoint does not match this model ({len(missing)} tensors differ)")
        with torch.no_grad():
            for k, p in params.items():
                p.copy_(ckpt["weights"][k])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        restore_scheduler(self.lr_scheduler, ckpt["scheduler"])
        torch.set_rng_state(ckpt["torch_rng"])
        if "cuda_rng" in ckpt and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
        if self.scaler and "scaler" in ckpt:
            self.scaler.load_state_dict(ckpt["scaler"])
        self.samples = list(ckpt["samples"])
        return int(ckpt["step"]), [float(x) for x in ckpt["losses"]], float(ckpt["elapsed"])

    def _sample(self, step: int) -> None:
        ts = self.ts
        for m in self.modules.values():
            m.eval()
        try:
            made = make_samples(self.pipe, ts.sample_prompts, ts.seed, self.sample_size(), ts.sample_steps,
                                ts.sample_guidance, step)
        finally:
            for m in self.modules.values():
                m.train()
        for record, png in made:
            record["blob"] = self.ctx.put_bytes(png)
            self.samples.append(record)
        self.ctx.log(f"{len(made)} sample image(s) at step {step}")

    def sample_size(self) -> tuple[int, int]:
        buckets = sorted({it.bucket for it in self.items}, key=lambda b: (-sum(1 for it in self.items
                                                                              if it.bucket == b), b))
        return buckets[0]

    def _export_parts(self) -> dict[str, tuple[dict, dict]]:
        from peft.utils import get_peft_model_state_dict

        parts = {}
        for name, m in self.modules.items():
            sd = get_peft_model_state_dict(m, adapter_name=ADAPTER)
            cfg = _plain(m.peft_config[ADAPTER].to_dict())
            parts[name] = ({k: v.detach().float().cpu().contiguous() for k, v in sd.items()}, cfg)
        return parts



def _plain(value: Any) -> Any:
    """peft keeps target_modules as a set: sorted lists, so the saved config has one byte order."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
