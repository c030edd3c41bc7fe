"""The trained adapters as files other tools load.

NAME.safetensors: the diffusers layout (`unet.…`, `text_encoder.…` keys) with the peft adapter
config in its metadata, so `pipe.load_lora_weights()` keeps alpha. NAME.kohya.safetensors:
`lora_unet_…` / `lora_te_…` keys with `.alpha` entries, the layout ComfyUI and the web UIs read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...media.tensors import canonicalize, save

KOHYA_TE_PREFIX = {"sd15": {"text_encoder": "lora_te"},
                   "sdxl": {"text_encoder": "lora_te1", "text_encoder_2": "lora_te2"}}
KOHYA_BASE_VERSION = {"sd15": "sd_v1", "sdxl": "sdxl_base_v1-0"}


def write_diffusers(path: Path, arch: str, parts: dict[str, tuple[dict, dict]]) -> None:
    """parts: component ('unet', 'text_encoder', 'text_encoder_2') → (peft state dict, peft config dict)."""
    from diffusers.utils import convert_state_dict_to_diffusers

    from ...models.loading import pipeline_class

    kwargs: dict[str, Any] = {}
    for comp, (sd, cfg) in parts.items():
        kwargs[f"{comp}_lora_layers"] = convert_state_dict_to_diffusers(sd)
        kwargs[f"{comp}_lora_adapter_metadata"] = cfg
    pipeline_class(arch).save_lora_weights(path.parent, weight_name=path.name, safe_serialization=True,
                                           **kwargs)
    canonicalize(path)


def kohya_state_dict(arch: str, parts: dict[str, dict], alpha: float) -> dict[str, Any]:
    """peft `…module.lora_A.weight` keys → `lora_unet_module.lora_down.weight` + `.alpha`."""
    import torch

    out: dict[str, Any] = {}
    for comp, sd in parts.items():
        prefix = "lora_unet" if comp == "unet" else KOHYA_TE_PREFIX[arch][comp]
        for key, tensor in sd.items():
            for peft_part, kohya_part in ((".lora_A.weight", "lora_down"), (".lora_B.weight", "lora_up")):
                if key.endswith(peft_part):
                    module = key[: -len(peft_part)]
                    name = f"{prefix}_{module.replace('.', '_')}"
                    out[f"{name}.{kohya_part}.weight"] = tensor.detach().cpu().contiguous()
                    out[f"{name}.alpha"] = torch.tensor(float(alpha))
                    break
            else:
                raise ValueError(f"unexpected key in a LoRA state dict: {key}")
    return out


def write_kohya(path: Path, arch: str, parts: dict[str, dict], rank: int, alpha: float,
                info: dict[str, Any]) -> None:
    meta = {
        "ss_network_module": "networks.lora", "ss_network_dim": str(rank), "ss_network_alpha": str(alpha),
        "ss_base_model_version": KOHYA_BASE_VERSION[arch], "ss_v2": "False",
        "ss_sd_model_name": str(info.get("base_model", "")), "imagineer": json.dumps(info, sort_keys=True),
    }
    save(kohya_state_dict(arch, parts, alpha), path, metadata=meta)
