"""Other tools' rules for the files we write, rebuilt in our own words from their code.

Each function names where its rule was read; none of their code is copied. The tests check
what we write against these rules, so a file another tool would silently misread fails here.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

# ---- ComfyUI comfy/lora.py: which LoRA keys it maps -------------------------------------------
# model_lora_keys_clip: for CLIP layer b and each of six Linear layers it accepts
# `lora_te_text_model_encoder_layers_{b}_{layer}` (and `lora_te1_…`) for the first CLIP, and
# `lora_te2_…` for SDXL's second; diffusers-style `text_encoder.text_model.encoder.layers.{b}.{layer}`
# (and `text_encoder_2.…`). model_lora_keys_unet: `lora_unet_` + a diffusers UNet weight's path
# with dots as underscores. load_lora: a mapped name N is read from `N.lora_up.weight`,
# `N.lora_down.weight` and `N.alpha` (kohya), or `N.lora_linear_layer.up/down.weight`,
# `N.lora.up/down.weight`, `N.lora_B/lora_A.weight` (diffusers); any other key is logged as
# "lora key not loaded".
CLIP_LAYERS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
               "mlp.fc1", "mlp.fc2")
KOHYA_PARTS = (".lora_down.weight", ".lora_up.weight", ".alpha")
DIFFUSERS_PARTS = (".lora_linear_layer.down.weight", ".lora_linear_layer.up.weight", ".lora.down.weight",
                   ".lora.up.weight", ".lora_A.weight", ".lora_B.weight")


def comfyui_clip_names(arch: str, layers: dict[str, int]) -> dict[str, tuple[str, str]]:
    """LoRA name → (component, layer path in transformers 4's form) ComfyUI maps for CLIP.

    layers: component → number of encoder layers."""
    names: dict[str, tuple[str, str]] = {}
    for comp, count in layers.items():
        if comp == "text_encoder":
            kohya = ("lora_te", "lora_te1")
        else:
            kohya = ("lora_te2",)
        for b in range(count):
            for layer in CLIP_LAYERS:
                path = f"text_model.encoder.layers.{b}.{layer}"
                for prefix in kohya:
                    names[f"{prefix}_{path.replace('.', '_')}"] = (comp, path)
                names[f"{comp}.{path}"] = (comp, path)
    return names


def comfyui_unet_names(unet_weight_keys) -> dict[str, str]:
    """`lora_unet_…` name → diffusers UNet module path, for every weight of the UNet."""
    out = {}
    for k in unet_weight_keys:
        if k.endswith(".weight"):
            path = k[: -len(".weight")]
            out[f"lora_unet_{path.replace('.', '_')}"] = path
    return out


def split_key(key: str, parts: tuple[str, ...]) -> tuple[str, str] | None:
    for part in parts:
        if key.endswith(part):
            return key[: -len(part)], part
    return None


# ---- sd-scripts networks/lora.py: how it names modules ------------------------------------------
# LoRANetwork.create_modules walks `root.named_modules()` and, inside modules of the target
# classes (CLIPAttention / CLIPSdpaAttention / CLIPMLP in the text encoders, Transformer2DModel
# in the UNet), takes each Linear (or Conv2d) child: name = prefix + "." + module path + "." +
# child path, dots replaced by underscores; prefix lora_te (SD 1.5), lora_te1 / lora_te2 (SDXL)
# or lora_unet. sd-scripts loads CLIP with transformers 4, whose CLIPTextModel keeps its layers
# under a `text_model` attribute, so every text-encoder path starts with `text_model.`.
SD_SCRIPTS_TE_CLASSES = ("CLIPAttention", "CLIPSdpaAttention", "CLIPMLP")


def sd_scripts_names(prefix: str, root, classes: tuple[str, ...], transformers4_clip: bool = False) -> set[str]:
    lead = "text_model." if transformers4_clip and not hasattr(root, "text_model") else ""
    names = set()
    for name, module in root.named_modules():
        if type(module).__name__ not in classes:
            continue
        for child_name, child in module.named_modules():
            if type(child).__name__ in ("Linear", "Conv2d") and child_name:
                names.add(f"{prefix}.{lead}{name}.{child_name}".replace(".", "_"))
    return names


# ---- sd-scripts library/config_util.py, train_util.py: bucket settings it accepts -------------
# BaseDataset.adjust_min_max_bucket_reso_by_steps rounds min_bucket_reso down and
# max_bucket_reso up to multiples of bucket_reso_steps, then asserts min <= the smaller side of
# the resolution and max >= the larger; BucketManager asserts max >= both sides and max >= min;
# train_network.py asserts bucket_reso_steps % 64 == 0 (SD 1.5), sdxl_train_network.py % 32.
# Defaults when a key is absent (config_util's dataset params): 256, 1024, 64.
def sd_scripts_bucket_problems(dataset_toml: dict, arch: str) -> list[str]:
    problems = []
    general = dataset_toml.get("general", {})
    for ds in dataset_toml["datasets"]:
        opts = {**general, **ds}
        if not opts.get("enable_bucket"):
            continue
        res = opts["resolution"]
        w, h = (res, res) if isinstance(res, int) else res
        step = opts.get("bucket_reso_steps", 64)
        lo, hi = opts.get("min_bucket_reso", 256), opts.get("max_bucket_reso", 1024)
        lo -= lo % step
        if hi % step:
            hi += step - hi % step
        if lo > min(w, h):
            problems.append(f"min_bucket_reso {lo} > resolution {min(w, h)}")
        if hi < max(w, h):
            problems.append(f"max_bucket_reso {hi} < resolution {max(w, h)}")
        if hi < lo:
            problems.append("max_bucket_reso < min_bucket_reso")
        need = 64 if arch == "sd15" else 32
        if step % need:
            problems.append(f"bucket_reso_steps {step} is not a multiple of {need}")
    return problems


# ---- A1111: reading the infotext and finding the LoRA it names ------------------------------
# modules/infotext_utils.py parse_generation_parameters: the last line holds `Key: value`
# pairs (a value is a JSON string when quoted, else runs to the next comma); the lines above
# are the prompt, then `Negative prompt:`. extensions-builtin/Lora: extra_networks_lora writes
# `Lora hashes` as "alias: shorthash" pairs joined by ", "; network.NetworkOnDisk takes a file's
# hash from its `sshs_model_hash` metadata, else modules/hashes.addnet_hash_safetensors (sha256
# of the bytes after the header), and keys it by the first 12 hex digits; its alias is the
# `ss_output_name` metadata, else the file name. lora_script.infotext_pasted replaces each
# `<lora:ALIAS:` of the prompt whose alias has a hash with the alias of the file of that hash.
PARAM_RE = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def a1111_parse(text: str) -> dict[str, str]:
    *lines, last = text.strip().split("\n")
    if len(PARAM_RE.findall(last)) < 3:
        lines.append(last)
        last = ""
    prompt, negative, in_negative = [], [], False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line[len("Negative prompt:"):].strip()
        (negative if in_negative else prompt).append(line)
    out = {"Prompt": "\n".join(prompt), "Negative prompt": "\n".join(negative)}
    for key, value in PARAM_RE.findall(last):
        if value[:1] == '"' and value[-1:] == '"':
            value = json.loads(value)
        out[key] = value
    return out


def a1111_lora_entry(path: Path) -> tuple[str, str]:
    """(alias, short hash) of a LoRA file, as the web UI indexes it."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        meta = json.loads(f.read(n)).get("__metadata__", {})
        import hashlib

        full = meta.get("sshs_model_hash") or hashlib.sha256(f.read()).hexdigest()
    return meta.get("ss_output_name", path.name.rsplit(".", 1)[0]), full[:12]


def a1111_resolve(infotext: str, lora_files: list[Path]) -> dict[str, str]:
    """alias in the prompt → alias of the file its hash names, for each <lora:…> the UI resolves."""
    fields = a1111_parse(infotext)
    by_hash = {short: alias for alias, short in map(a1111_lora_entry, lora_files)}
    pairs = [p.strip().split(":", 1) for p in fields.get("Lora hashes", "").split(",") if ":" in p]
    hashes = {a.strip(): h.strip() for a, h in pairs}
    found = {}
    for alias in re.findall(r"<lora:([^:]+):", fields["Prompt"]):
        if hashes.get(alias) in by_hash:
            found[alias] = by_hash[hashes[alias]]
    return found
