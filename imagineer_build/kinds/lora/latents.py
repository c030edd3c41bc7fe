"""Latents and text embeddings, memoized in the store so a second run encodes nothing again.

Latents: one entry per (image digest, VAE identity, bucket size, flip) holding the VAE's
posterior mean and std (safetensors); a fresh sample is drawn each step from the training
generator, as if the VAE ran every step. Text: one entry per (caption, text-encoder identity,
clip skip) holding the hidden states (and SDXL's pooled embedding).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.kind import BuildContext, Memo
from .data import TrainItem

LATENT_NS = "lora.latents"
TEXT_NS = "lora.text"
FORMAT = "2"  # bump when what is stored changes (2: one item per call on a CPU)


@dataclass(frozen=True)
class LatentRef:
    blob: str
    orig: tuple[int, int]  # original (h, w)
    crop: tuple[int, int]  # crop (top, left) at the bucket scale


def load_pixels(path: Path, bucket: tuple[int, int], flip: bool):
    """The image resized to cover the bucket, center-cropped, as a [3, h, w] tensor in [-1, 1]."""
    import numpy as np
    import torch
    from PIL import Image, ImageOps

    w, h = bucket
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        ow, oh = im.size
        scale = max(w / ow, h / oh)
        rw, rh = max(w, round(ow * scale)), max(h, round(oh * scale))
        im = im.resize((rw, rh), Image.Resampling.BICUBIC)
        left, top = (rw - w) // 2, (rh - h) // 2
        im = im.crop((left, top, left + w, top + h))
        if flip:
            im = ImageOps.mirror(im)
    arr = np.asarray(im, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous(), (oh, ow), (top, left)


def latent_key(memo: Memo, item: TrainItem, vae_identity: Any, flip: bool) -> str:
    return memo.key(FORMAT, item.digest, vae_identity, list(item.bucket), flip)


def ensure_latents(ctx: BuildContext, pipe, items: list[TrainItem], flips: list[bool], vae_identity: Any,
                   batch_size: int = 8) -> tuple[dict[tuple[int, bool], LatentRef], set[int]]:
    """(item index, flip) → its memo entry, encoding only what the memo does not have; and the
    indices of images that could not be read (reported, then left out of training)."""
    import torch
    from safetensors.torch import save

    from ...models import item_batch

    batch_size = item_batch(batch_size, pipe.vae.device)
    memo = ctx.memo(LATENT_NS)
    wanted = {(i, f): latent_key(memo, it, vae_identity, f) for i, it in enumerate(items) for f in flips}
    found = memo.get_many(set(wanted.values()))
    refs: dict[tuple[int, bool], LatentRef] = {}
    todo: dict[tuple[int, int], list[tuple[int, bool]]] = {}
    for (i, f), k in wanted.items():
        if k in found:
            v, blob = found[k]
            refs[(i, f)] = LatentRef(blob, tuple(v["orig"]), tuple(v["crop"]))
        else:
            todo.setdefault(items[i].bucket, []).append((i, f))
    total = sum(len(v) for v in todo.values())
    if total:
        ctx.log(f"encoding {total} latents ({len(refs)} from the memo)")
    vae = pipe.vae
    device, dtype = vae.device, vae.dtype
    done = 0
    bad: set[int] = set()
    for _bucket, group in sorted(todo.items()):
        for s in range(0, len(group), batch_size):
            part = group[s:s + batch_size]
            pixels, metas = [], []
            for i, f in list(part):
                try:
                    px, orig, crop = load_pixels(items[i].path, items[i].bucket, f)
                except (OSError, ValueError, SyntaxError) as e:  # what PIL raises for bad bytes
                    if i not in bad:
                        ctx.log(f"leaving out {items[i].name or items[i].digest}: "
                                f"cannot read it ({e})", "warning")
                    bad.add(i)
                    part.remove((i, f))
                    continue
                pixels.append(px)
                metas.append((orig, crop))
            if not part:
                continue
            with torch.no_grad():
                dist = vae.encode(torch.stack(pixels).to(device, dtype)).latent_dist
            for (i, f), (orig, crop), mean, std in zip(part, metas, dist.mean, dist.std, strict=True):
                data = save({"mean": mean.float().cpu().contiguous(), "std": std.float().cpu().contiguous()})
                blob = memo.put_bytes(wanted[(i, f)], data, {"orig": list(orig), "crop": list(crop)})
                refs[(i, f)] = LatentRef(blob, orig, crop)
            done += len(part)
            ctx.progress(done, total, "latents encoded")
            ctx.check_cancelled()
    return refs, bad


def text_key(memo: Memo, caption: str, te_identity: Any, clip_skip: int) -> str:
    return memo.key(FORMAT, caption, te_identity, clip_skip)


def encode_text(pipe, arch: str, captions: list[str], clip_skip: int):
    """(hidden states [n, 77, d], pooled [n, p] or None) through the pipeline's own encode_prompt."""
    skip = clip_skip - 1 or None  # ours counts like kohya (1 = last layer); diffusers counts skipped
    device = pipe.unet.device
    if arch == "sdxl":
        hidden, _, pooled, _ = pipe.encode_prompt(captions, device=device, num_images_per_prompt=1,
                                                  do_classifier_free_guidance=False, clip_skip=skip)
        return hidden, pooled
    hidden, _ = pipe.encode_prompt(captions, device, 1, False, clip_skip=skip)
    return hidden, None


def ensure_text(ctx: BuildContext, pipe, arch: str, captions: list[str], te_identity: Any, clip_skip: int,
                batch_size: int = 32) -> dict[str, str]:
    """caption → blob digest of its embeddings, encoding only what the memo does not have."""
    import torch
    from safetensors.torch import save

    from ...models import item_batch

    batch_size = item_batch(batch_size, pipe.text_encoder.device)
    memo = ctx.memo(TEXT_NS)
    wanted = {c: text_key(memo, c, te_identity, clip_skip) for c in sorted(set(captions))}
    found = memo.get_many(set(wanted.values()))
    out = {c: found[k][1] for c, k in wanted.items() if k in found}
    todo = [c for c in wanted if c not in out]
    for s in range(0, len(todo), batch_size):
        part = todo[s:s + batch_size]
        with torch.no_grad():
            hidden, pooled = encode_text(pipe, arch, part, clip_skip)
        for n, c in enumerate(part):
            tensors = {"hidden": hidden[n].float().cpu().contiguous()}
            if pooled is not None:
                tensors["pooled"] = pooled[n].float().cpu().contiguous()
            out[c] = memo.put_bytes(wanted[c], save(tensors))
    return out


class BlobTensors:
    """Memo blobs read once and kept in memory up to a byte budget (the rest are re-read each
    time): an epoch then costs no disk reads on any dataset that fits."""

    def __init__(self, ctx, budget_bytes: int = 2 << 30):
        self.ctx, self.budget = ctx, budget_bytes
        self.used = 0
        self._kept: dict[str, dict] = {}

    def get(self, blob: str) -> dict:
        found = self._kept.get(blob)
        if found is not None:
            return found
        from safetensors.torch import load

        tensors = load(self.ctx.blob_path(blob).read_bytes())
        size = sum(t.numel() * t.element_size() for t in tensors.values())
        if self.used + size <= self.budget:
            self._kept[blob] = tensors
            self.used += size
        return tensors
