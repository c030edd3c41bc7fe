"""Batched inference with a per-image memo: only images never made with these exact inputs run.

Every image has its own seeded generator, so which batch it lands in does not change it, and
each finished batch is memoised at once, so a cancelled build resumes where it stopped.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from ...core.kind import BuildContext, Memo
from .lora_stack import StackedLora, applied
from .schedulers import using

RENDER_VERSION = "3"  # bump when the same inputs would give other pixels (3: one image per call on a CPU)
MEMO_NS = "generation.image"


@dataclass
class ImageJob:
    """One image to have: where it sits in the album and everything that decides its pixels."""

    index: int
    stem: str
    row_index: int
    row: dict[str, str]
    variations: dict[str, str]
    copy: int
    prompt: str
    negative: str
    seed: int
    memo_key: str = ""


@dataclass
class Settings:
    """What every image of one target shares."""

    model_name: str
    model_spec: Any
    model_identity: dict[str, Any]
    width: int
    height: int
    steps: int
    guidance: float
    scheduler: str
    batch_size: int
    stack: list[StackedLora] = field(default_factory=list)

    def memo_keys(self, jobs: list[ImageJob]) -> list[str]:
        return Memo.keys_of(([job.prompt, job.negative, job.seed] for job in jobs),
                            before=[RENDER_VERSION, self.model_identity, [lo.key() for lo in self.stack]],
                            after=[self.width, self.height, self.steps, self.guidance, self.scheduler])


@dataclass
class Rendered:
    """Memoised PNGs by memo key, the images that failed, and how many ran now."""

    images: dict[str, tuple[str, dict[str, Any]]]  # memo key → (PNG blob digest, {"phash"})
    failed: dict[str, str]  # memo key → reason
    generated: int


def render(ctx: BuildContext, jobs: list[ImageJob], s: Settings) -> Rendered:
    memo = ctx.memo(MEMO_NS)
    for job, key in zip(jobs, s.memo_keys(jobs), strict=True):
        job.memo_key = key
    # the store's memo lookup leaves out entries whose blob fails its check: a damaged or
    # collected PNG is made again, never reused
    images: dict[str, tuple[str, dict[str, Any]]] = {
        k: (blob, value or {}) for k, (value, blob) in memo.get_many({j.memo_key for j in jobs}).items() if blob}
    todo: dict[str, ImageJob] = {}
    for job in jobs:
        if job.memo_key not in images and in_shard(job.memo_key, ctx.shard):
            todo.setdefault(job.memo_key, job)
    total = len({j.memo_key for j in jobs})
    ctx.progress(len(images), total, "images found in the memo")
    failed: dict[str, str] = {}
    if todo:
        _generate(ctx, list(todo.values()), s, memo, images, failed, total)
    return Rendered(images, failed, len(todo) - len(failed))


def _generate(ctx: BuildContext, todo: list[ImageJob], s: Settings, memo: Memo,
              images: dict[str, tuple[str, dict[str, Any]]], failed: dict[str, str], total: int) -> None:

    from ...models import pipeline_cache
    from ...models.loading import apply_threads

    apply_threads(ctx.settings)
    done = len(images)
    ctx.progress(done, total, f"loading model {s.model_name}")
    with pipeline_cache.lease(s.model_spec, ctx.project_root, ctx.models_dir) as pipe, using(pipe, s.scheduler):
        if s.stack:
            ctx.progress(done, total, f"loading {len(s.stack)} LoRA{'s' if len(s.stack) > 1 else ''}")
        with applied(pipe, s.stack, ctx.workdir, s.model_name, s.model_spec.arch):
            ctx.progress(done, total, "images generated")
            _batches(ctx, pipe, todo, s, memo, images, failed, total)


def _batches(ctx: BuildContext, pipe: Any, todo: list[ImageJob], s: Settings, memo: Memo,
             images: dict[str, tuple[str, dict[str, Any]]], failed: dict[str, str], total: int) -> None:
    from ...models import item_batch

    size = item_batch(s.batch_size, pipe.device)
    for start in range(0, len(todo), size):
        ctx.check_cancelled()
        batch = todo[start:start + size]
        try:
            results = run_batch(pipe, batch, s)
        except Exception as e:  # one bad batch: retry its images one by one to find the culprit
            if len(batch) == 1:
                results = [e]
            else:
                results = [run_one(pipe, job, s) for job in batch]
        for job, res in zip(batch, results, strict=True):
            if isinstance(res, Exception):
                failed[job.memo_key] = f"{type(res).__name__}: {str(res).splitlines()[0][:300] if str(res) else ''}"
                ctx.log(f"image {job.stem} failed: {failed[job.memo_key]}", "warning")
                continue
            png, info = res
            images[job.memo_key] = (memo.put_bytes(job.memo_key, png, info), info)
        ctx.progress(len(images), total, "images generated")


def run_one(pipe: Any, job: ImageJob, s: Settings):
    try:
        return run_batch(pipe, [job], s)[0]
    except Exception as e:
        return e


def run_batch(pipe: Any, batch: list[ImageJob], s: Settings) -> list[Any]:
    """One inference call; each result is (PNG bytes, info) or the exception for that image."""
    import numpy as np
    import torch

    gens = [torch.Generator("cpu").manual_seed(j.seed) for j in batch]
    with torch.inference_mode():
        out = pipe(prompt=[j.prompt for j in batch], negative_prompt=[j.negative for j in batch],
                   num_inference_steps=s.steps, guidance_scale=s.guidance, height=s.height, width=s.width,
                   generator=gens, output_type="np").images
    results: list[Any] = []
    for arr in out:
        if not np.isfinite(arr).all():
            results.append(FloatingPointError("the model produced NaN/inf pixels (try dtype fp32)"))
            continue
        results.append(encode(arr))
    return results


def encode(arr) -> tuple[bytes, dict[str, Any]]:
    """float HWC in [0, 1] → PNG bytes (deterministic) and its perceptual hash."""
    import numpy as np
    from PIL import Image

    from ...media.phash import phash

    im = Image.fromarray((np.clip(arr, 0.0, 1.0) * 255.0).round().astype(np.uint8))
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=6)
    return buf.getvalue(), {"phash": phash(im)}


def in_shard(memo_key: str, shard: tuple[int, int] | None) -> bool:
    """Shard i of n renders the images whose memo key falls in its share: a function of the
    key alone, so shards running at once never split the work differently."""
    return shard is None or int(memo_key[:8], 16) % shard[1] == shard[0]
