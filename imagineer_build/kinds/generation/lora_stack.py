"""The LoRA stack: find each file, check it fits the model, load it as a named adapter, remove it.

A LoRA for another architecture must fail before any image is generated, with a message that
says so, rather than as a torch shape error halfway through a batch.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.kind import BuildContext
from .webui import lora_webui_hash

SDXL_SIZE_HINT = 150 * 1024 * 1024  # LoRA files above this are usually SDXL ones
COMPONENTS = ("unet", "text_encoder", "text_encoder_2")
# kohya key prefixes per component (sd-scripts: lora_te on SD 1.5, lora_te1/lora_te2 on SDXL)
KOHYA_PREFIXES = {"unet": ("lora_unet_",), "text_encoder": ("lora_te_", "lora_te1_"),
                  "text_encoder_2": ("lora_te2_",)}


class LoraError(ValueError):
    pass


@dataclass(frozen=True)
class StackedLora:
    """One resolved LoRA: where its bytes are, their digest, and how strongly it applies."""

    name: str  # shown in the PNG parameters (target name or file stem)
    source: str  # "use:TARGET" or "path:FILE"
    file: Path
    digest: str
    weight: float
    arch: str | None = None  # known for `use:` targets
    webui_hash: str = ""  # what A1111 / Civitai look the LoRA up by (media/webui_hashes.py)

    def key(self) -> list[Any]:
        return [self.digest, self.weight]

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "digest": self.digest, "weight": self.weight,
                "webui_hash": self.webui_hash}


def resolve_stack(ctx: BuildContext, loras: list[Any]) -> list[StackedLora]:
    """A `use:` target's web-UI hash is its kohya file's: that is the file people put in A1111."""
    out: list[StackedLora] = []
    for i, lo in enumerate(loras):
        if lo.use is not None:
            view = ctx.upstream[lo.use]
            meta = view.meta.get("lora")
            if not isinstance(meta, dict) or meta.get("file") not in view.files:
                raise LoraError(f"loras[{i}]: target {lo.use!r} is not a LoRA (its artifact names no LoRA file)")
            rel = meta["file"]
            shared = meta.get("kohya_file") if meta.get("kohya_file") in view.files else rel
            out.append(StackedLora(lo.use, f"use:{lo.use}", ctx.file(view, rel), view.files[rel], lo.weight,
                                   meta.get("arch"),
                                   lora_webui_hash(ctx, view.files[shared], ctx.file(view, shared))))
        else:
            listing = ctx.inputs[lo.path]
            digest = listing.entries[""][0]
            path = listing.abspath("")
            out.append(StackedLora(Path(lo.path).stem, f"path:{lo.path}", path, digest, lo.weight,
                                   webui_hash=lora_webui_hash(ctx, digest, path)))
    return out


def _module_shapes(module) -> tuple[int, int] | None:
    """(in, out) features of a Linear / Conv layer, None for anything else."""
    for a, b in (("in_features", "out_features"), ("in_channels", "out_channels")):
        if hasattr(module, a) and hasattr(module, b):
            return int(getattr(module, a)), int(getattr(module, b))
    return None


def _parse_key(key: str, kohya_names: dict[str, tuple[str, str]]) -> tuple[str, str, str] | None:
    """(component, module path, 'down'|'up') for the LoRA layouts we can check; None otherwise."""
    for down, up in ((".lora_A.weight", ".lora_B.weight"), (".lora.down.weight", ".lora.up.weight"),
                     (".lora_down.weight", ".lora_up.weight"),
                     (".lora_linear_layer.down.weight", ".lora_linear_layer.up.weight")):
        for suffix, role in ((down, "down"), (up, "up")):
            if key.endswith(suffix):
                stem = key[: -len(suffix)]
                comp, _, mod = stem.partition(".")
                if comp in COMPONENTS and mod:
                    return comp, mod, role
                if stem in kohya_names:
                    return (*kohya_names[stem], role)
                return None
    return None


def check_fit(lora: StackedLora, pipe: Any, model_name: str, model_arch: str) -> None:
    """Raise LoraError when the LoRA's layers are missing from the model or have other shapes."""
    from safetensors import safe_open

    if lora.arch and lora.arch != model_arch:
        raise LoraError(f"LoRA {lora.source} was trained for {lora.arch}, but model {model_name!r} is {model_arch}")
    modules: dict[str, dict[str, Any]] = {}
    kohya: dict[str, tuple[str, str]] = {}
    for comp in COMPONENTS:
        model = getattr(pipe, comp, None)
        if model is None:
            continue
        named = dict(model.named_modules())
        if comp != "unet" and not hasattr(model, "text_model"):
            # LoRA files name CLIP modules as transformers 4 does (`text_model.encoder.…`);
            # transformers 5's CLIPTextModel has no `text_model` level
            named.update({f"text_model.{n}": m for n, m in list(named.items()) if n})
        modules[comp] = named
        for name in named:
            for prefix in KOHYA_PREFIXES[comp]:
                kohya[prefix + name.replace(".", "_")] = (comp, name)
    try:
        with safe_open(str(lora.file), "pt") as f:
            shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}
    except Exception as e:
        raise LoraError(f"LoRA {lora.source}: not a readable .safetensors file ({e})") from None
    missing: list[str] = []
    mismatched: list[str] = []
    for key, shape in shapes.items():
        parsed = _parse_key(key, kohya)
        if parsed is None:
            continue
        comp, mod, role = parsed
        target = modules.get(comp, {}).get(mod)
        if target is None:
            missing.append(f"{comp}.{mod}")
            continue
        dims = _module_shapes(target)
        if dims is None or len(shape) < 2:
            continue
        want = dims[0] if role == "down" else dims[1]
        got = shape[1] if role == "down" else shape[0]
        if want != got:
            mismatched.append(f"{comp}.{mod} ({'in' if role == 'down' else 'out'} {got}, model has {want})")
    if missing or mismatched:
        hint = ""
        if os.path.getsize(lora.file) > SDXL_SIZE_HINT and model_arch == "sd15":
            hint = " (files this large are usually SDXL LoRAs)"
        problems = []
        if missing:
            problems.append(f"{len(set(missing))} layers the model lacks, e.g. {sorted(set(missing))[0]}")
        if mismatched:
            problems.append(f"{len(set(mismatched))} layers of another shape, e.g. {sorted(set(mismatched))[0]}")
        raise LoraError(f"LoRA {lora.source} does not fit model {model_name!r} ({model_arch}): "
                        f"{'; '.join(problems)}. It was made for another architecture{hint}.")


@contextlib.contextmanager
def applied(pipe: Any, stack: list[StackedLora], workdir: Path, model_name: str, model_arch: str) -> Iterator[None]:
    """Check every LoRA, load them as adapters with their weights, and unload them afterwards."""
    if not stack:
        yield
        return
    for lora in stack:
        check_fit(lora, pipe, model_name, model_arch)
    names = []
    try:
        for i, lora in enumerate(stack):
            name = f"imagineer_lora_{i}_{lora.digest[:10]}"
            link = workdir / f"{name}.safetensors"  # a store blob has no suffix; diffusers wants one
            if not link.exists():
                os.symlink(lora.file, link)
            try:
                pipe.load_lora_weights(str(link), adapter_name=name)
            except (RuntimeError, ValueError, KeyError) as e:
                raise LoraError(f"LoRA {lora.source} cannot be loaded on {model_name!r} ({model_arch}): "
                                f"{str(e).splitlines()[0][:300]}") from None
            names.append(name)
            loaded = {n for ns in pipe.get_list_adapters().values() for n in ns}
            if name not in loaded:
                raise LoraError(f"LoRA {lora.source}: none of its layers matched model {model_name!r} "
                                f"({model_arch}); is it for another architecture or an unknown key layout?")
        pipe.set_adapters(names, adapter_weights=[lo.weight for lo in stack])
        yield
    finally:
        if names or stack:
            pipe.unload_lora_weights()
