"""Sample images during training: fixed prompts and seeds, so samples compare across steps."""

from __future__ import annotations

import io
from typing import Any


def make_samples(pipe, prompts: list[str], seed: int, size: tuple[int, int], steps: int, guidance: float,
                 train_step: int) -> list[tuple[dict[str, Any], bytes]]:
    """[(record, png bytes)]: one image per prompt, each with its own seeded generator."""
    import torch
    from PIL.PngImagePlugin import PngInfo

    out = []
    w, h = size
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # training's RNG stream is untouched
        for n, prompt in enumerate(prompts):
            s = seed + n
            g = torch.Generator("cpu").manual_seed(s)
            image = pipe(prompt, num_inference_steps=steps, guidance_scale=guidance, width=w, height=h,
                         generator=g).images[0]
            params = f"{prompt}\nSteps: {steps}, CFG scale: {guidance}, Seed: {s}, Size: {w}x{h}, " \
                     f"Training step: {train_step}"
            info = PngInfo()
            info.add_text("parameters", params)
            buf = io.BytesIO()
            image.save(buf, format="PNG", pnginfo=info)
            rel = f"samples/step{train_step:06d}_{n:02d}.png"
            out.append(({"file": rel, "prompt": prompt, "seed": s, "step": train_step, "size": [w, h],
                         "steps": steps, "guidance": guidance}, buf.getvalue()))
    return out
