"""Load a base model's diffusers pipeline: builtin, local folder, single file or HF id."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from . import ModelError, ModelSpec, compute_threads
from .builtin import ensure_builtin


@contextlib.contextmanager
def _hub_offline():
    """HF_HUB_OFFLINE=1 for one load, restored after: a later HF-id model may need the hub."""
    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = before


def apply_threads(settings: dict[str, Any]) -> int:
    """torch's thread count from imagineer.yaml `threads:` (same count → same bits); returns it.
    Kinds that call this list "threads" in settings_in_key and put it in their item memo keys."""
    import torch

    threads = compute_threads(settings)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def pick_device(spec: ModelSpec) -> str:
    import torch

    if spec.device != "auto":
        return spec.device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def device_nondeterminism(spec: ModelSpec, what: str) -> str | None:
    """Kind.nondeterminism for model work: CPU kernels pinned to AVX2 give the same bits for the
    same thread count on any x86 machine; CUDA and MPS kernels do not promise it, nor do the
    kernels a machine picks for itself (IMAGINEER_CPU_ISA=native, ARM, torch loaded first)."""
    from ..kernels import cpu_kernels

    device = pick_device(spec)
    if device != "cpu":
        return f"{what} on {device} is not bit-exact between runs"
    if cpu_kernels() != "avx2":
        return f"{what} on this machine's own CPU kernels is not bit-exact across machines"
    return None


def pick_dtype(spec: ModelSpec, device: str):
    """auto: bf16 on CUDA that supports it, else fp16 on CUDA/MPS, fp32 on the CPU."""
    import torch

    table = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if spec.dtype != "auto":
        return table[spec.dtype]
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def pipeline_class(arch: str):
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    return StableDiffusionXLPipeline if arch == "sdxl" else StableDiffusionPipeline


def quiet_libraries() -> None:
    """diffusers and transformers print loading bars and advisory warnings on stderr; our own
    progress events say what is happening, and real problems still raise."""
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    quiet_transformers()


def quiet_transformers() -> None:
    """quiet_libraries for the models that need transformers only (captioners), so they do not
    import diffusers to silence it (e.g. no torchvision: PIL image processors advice)."""
    from .imports import ensure

    ensure("transformers")
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def load_pipeline(spec: ModelSpec, project_root: Path, models_dir: Path, dtype=None) -> Any:
    """The full pipeline (VAE, text encoder(s), tokenizer(s), UNet, scheduler) on the CPU."""
    from .imports import ensure

    ensure()
    quiet_libraries()
    cls = pipeline_class(spec.arch)
    kwargs: dict[str, Any] = {}
    if dtype is not None:
        kwargs["dtype"] = dtype
    if spec.arch == "sd15":
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    if spec.builtin:
        folder = ensure_builtin(models_dir, spec.builtin)
        with _hub_offline():  # builtin models never touch the hub
            return cls.from_pretrained(folder, local_files_only=True, **kwargs)
    local = spec.local_path(project_root)
    if local is not None:
        if not local.exists():
            raise ModelError(f"model file or folder {local} does not exist")
        if local.is_file():
            return cls.from_single_file(str(local), **kwargs)
        return cls.from_pretrained(local, local_files_only=True, **kwargs)
    try:
        return cls.from_pretrained(spec.base, revision=spec.revision, variant=spec.variant, **kwargs)
    except OSError as e:
        raise ModelError(
            f"cannot load {spec.base!r} from the Hugging Face hub or its local cache: {e}. "
            "Download it once with network access (huggingface-cli download), or point `base:` "
            "at a local folder or .safetensors file."
        ) from e
