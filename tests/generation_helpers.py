"""Helpers for the generation tests: real LoRA files for the tiny models, made with peft."""

from __future__ import annotations

import csv
from pathlib import Path

CARD_ROWS = [
    {"value": "Ace", "suit": "Spades", "visual_layout": "one large spade, ornate border"},
    {"value": "Two", "suit": "Hearts", "visual_layout": "two hearts, top and bottom"},
    {"value": "King", "suit": "Clubs", "visual_layout": "a king holding a club, mirrored"},
]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def tiny_settings(threads: int = 1) -> str:
    return f"cache: cache\nout: out\nthreads: {threads}\nmodels:\n  tiny: {{base: 'builtin:tiny-sd'}}\n"


def make_lora(path: Path, store_root: Path, arch: str = "sd15", rank: int = 4, alpha: float = 4.0,
              seed: int = 0, scale: float = 0.5) -> Path:
    """A LoRA with non-zero random weights on the tiny model's UNet attention, saved in the
    diffusers layout (`unet.` prefix, alpha kept through the adapter metadata)."""
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from imagineer_build.models import ModelSpec
    from imagineer_build.models.loading import load_pipeline

    spec = ModelSpec(base="builtin:tiny-sd" if arch == "sd15" else "builtin:tiny-sdxl", arch=arch)
    pipe = load_pipeline(spec, store_root, store_root)
    cfg = LoraConfig(r=rank, lora_alpha=alpha, init_lora_weights=False,
                     target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    pipe.unet.add_adapter(cfg, adapter_name="helperlora")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in pipe.unet.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
    layers = get_peft_model_state_dict(pipe.unet, adapter_name="helperlora")
    meta = {"r": rank, "lora_alpha": alpha, "target_modules": ["to_q", "to_k", "to_v", "to_out.0"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    type(pipe).save_lora_weights(path.parent, unet_lora_layers=layers, weight_name=path.name,
                                 unet_lora_adapter_metadata=meta)
    return path
