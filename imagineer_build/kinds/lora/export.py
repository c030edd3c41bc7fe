"""The trained adapters as files other tools load.

NAME.safetensors: the diffusers layout (`unet.…`, `text_encoder.…` keys) with the peft adapter
config in its metadata, so `pipe.load_lora_weights()` keeps alpha. NAME.kohya.safetensors:
`lora_unet_…` / `lora_te_…` keys with `.alpha` entries, the layout ComfyUI and the web UIs read,
with sd-scripts' metadata (`ss_…`, and the `sshs_…` hashes the web UIs look a LoRA up by).

Text-encoder modules are named as transformers 4 names them (`text_model.encoder.layers.0…`):
sd-scripts derives kohya names from that path and ComfyUI maps only that form, while
transformers 5 dropped the `text_model` level from CLIPTextModel. diffusers strips the level
again when the loaded model lacks it, so both files load there either way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...media.tensors import canonicalize, save
from ...media.webui_hashes import sshs_metadata

KOHYA_TE_PREFIX = {"sd15": {"text_encoder": "lora_te"},
                   "sdxl": {"text_encoder": "lora_te1", "text_encoder_2": "lora_te2"}}
KOHYA_BASE_VERSION = {"sd15": "sd_v1", "sdxl": "sdxl_base_v1-0"}


def clip_module_path(path: str) -> str:
    """A CLIP text-encoder module path in transformers 4's form, which has the `text_model` level
    (CLIPTextModelWithProjection's `text_projection` sits beside it)."""
    if path.startswith(("text_model.", "text_projection")):
        return path
    return f"text_model.{path}"


def _named_like_transformers4(comp: str, sd: dict[str, Any]) -> dict[str, Any]:
    if comp == "unet":
        return sd
    return {clip_module_path(k): v for k, v in sd.items()}


def write_diffusers(path: Path, arch: str, parts: dict[str, tuple[dict, dict]]) -> None:
    """parts: component ('unet', 'text_encoder', 'text_encoder_2') → (peft state dict, peft config dict)."""
    from diffusers.utils import convert_state_dict_to_diffusers

    from ...models.loading import pipeline_class

    kwargs: dict[str, Any] = {}
    for comp, (sd, cfg) in parts.items():
        kwargs[f"{comp}_lora_layers"] = convert_state_dict_to_diffusers(_named_like_transformers4(comp, sd))
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
        for key, tensor in _named_like_transformers4(comp, sd).items():
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


def write_kohya(path: Path, name: str, arch: str, parts: dict[str, dict], rank: int, alpha: float,
                info: dict[str, Any]) -> None:
    """ss_output_name makes `<lora:NAME:w>` find the file in the web UIs whatever it is called."""
    meta = {
        "ss_network_module": "networks.lora", "ss_network_dim": str(rank), "ss_network_alpha": str(alpha),
        "ss_base_model_version": KOHYA_BASE_VERSION[arch], "ss_v2": "False", "ss_output_name": name,
        "ss_sd_model_name": str(info.get("base_model", "")), "imagineer": json.dumps(info, sort_keys=True),
    }
    tensors = kohya_state_dict(arch, parts, alpha)
    save(tensors, path, metadata={**meta, **sshs_metadata(tensors, meta)})
