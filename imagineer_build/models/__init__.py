"""Base models: what a name in imagineer.yaml `models:` means, and its identity for keys.

This module stays light (no torch): `imagineer status` computes keys through it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .builtin import BUILTIN_VERSION, BUILTINS

BUILTIN_PREFIX = "builtin:"
DEFAULT_THREADS = 2  # imagineer.yaml `threads:` default (core.project.Settings)


def item_batch(requested: int, device: Any) -> int:
    """How many memoised items one model call takes. One on a CPU, where builds promise the same
    bytes: a batch's shape changes float rounding (matmul blocking), so an item's result would
    depend on which other items the memo lacked that day, and a fresh build would differ from
    an incremental one. On a GPU (bit-exactness not promised) the `batch_size` asked for."""
    kind = getattr(device, "type", str(device))
    return max(1, requested) if kind not in ("cpu", "") else 1


def compute_threads(settings: dict[str, Any]) -> int:
    """The torch CPU thread count model work runs with: CPU results depend on it, so it is in
    the keys (Kind.settings_in_key) and item memo keys of every model kind."""
    return int(settings.get("threads") or DEFAULT_THREADS)


class ModelSpec(BaseModel):
    """One entry of imagineer.yaml `models:`."""

    model_config = ConfigDict(extra="forbid")
    base: str = Field(description="HF id (org/name), local diffusers or transformers folder, .safetensors/.ckpt "
                                  "file, or builtin:tiny-sd | tiny-sdxl | tiny-vlm | tiny-tagger | tiny-clip")
    arch: Literal["sd15", "sdxl", "vlm", "tagger", "clip"] = Field(
        "sd15", description="sd15 | sdxl: a diffusion model; vlm: a captioning vision-language model; "
                            "tagger: a WD14-style ONNX tagger (labels targets); clip: a CLIP scorer (scores targets)")
    revision: str | None = Field(None, description="HF revision (branch, tag or commit)")
    variant: str | None = Field(None, description="HF weight variant, e.g. fp16")
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    prediction_type: Literal["epsilon", "v_prediction"] | None = None

    @property
    def builtin(self) -> str | None:
        return self.base[len(BUILTIN_PREFIX):] if self.base.startswith(BUILTIN_PREFIX) else None

    def local_path(self, project_root: Path) -> Path | None:
        """A local folder or file, when base names one."""
        if self.builtin:
            return None
        p = Path(os.path.expanduser(self.base))
        p = p if p.is_absolute() else project_root / p
        if _exists(p) or self.base.endswith((".safetensors", ".ckpt")) or self.base.startswith((".", "/", "~")):
            return p
        return None


class ModelError(Exception):
    pass


def resolve_model(name: str, settings: dict[str, Any]) -> ModelSpec:
    """The ModelSpec for a model name used in a spec (a key of `models:`, or a base string)."""
    models = settings.get("models") or {}
    if name in models:
        spec = ModelSpec.model_validate(models[name])
        if spec.builtin in BUILTINS and "arch" not in spec.model_fields_set:
            spec = spec.model_copy(update={"arch": BUILTINS[spec.builtin]})  # a builtin knows its arch
        return spec
    if name.startswith(BUILTIN_PREFIX):
        return ModelSpec(base=name, arch=BUILTINS.get(name[len(BUILTIN_PREFIX):], "sd15"))
    known = ", ".join(sorted(models)) or "none"
    raise ModelError(f"unknown model {name!r}: add it under `models:` in imagineer.yaml (defined: {known})")


DIFFUSION_ARCHS = ("sd15", "sdxl")


def check_model(name: str, settings: dict[str, Any], archs: tuple[str, ...] = DIFFUSION_ARCHS) -> str | None:
    """A problem with a model reference, for spec validation; None when fine. `archs`: what
    the target can use (diffusion kinds: sd15/sdxl; labels: vlm or tagger; scores: clip)."""
    try:
        spec = resolve_model(name, settings)
    except (ModelError, ValueError) as e:
        return str(e)
    if spec.builtin and spec.builtin not in BUILTINS:
        return f"unknown builtin model {spec.base!r}; known: " + ", ".join(BUILTIN_PREFIX + b for b in BUILTINS)
    if spec.builtin and BUILTINS[spec.builtin] != spec.arch:
        return f"{spec.base} is an {BUILTINS[spec.builtin]} model, but arch says {spec.arch}"
    if spec.arch not in archs:
        return (f"model {name!r} is a {spec.arch} model; this target needs {' or '.join(archs)} "
                "(set `arch:` on the model in imagineer.yaml)")
    return None


def model_identity(spec: ModelSpec, project_root: Path) -> dict[str, Any]:
    """What a key records about a model: builtin version, HF id + resolved commit, or a local
    path whose bytes the kind adds as a file input (see model_file_inputs)."""
    from ..kernels import cpu_kernels

    ident: dict[str, Any] = {"arch": spec.arch, "dtype": spec.dtype, "prediction_type": spec.prediction_type}
    if cpu_kernels() != "avx2":  # this machine's own kernels: results kept apart from pinned ones
        ident["cpu_kernels"] = cpu_kernels()
    if spec.builtin:
        ident["builtin"] = f"{spec.builtin}@{BUILTIN_VERSION}"
    elif spec.local_path(project_root) is not None:
        ident["local"] = "file input"
    else:
        # The id and revision as written: keying on what the local HF cache happens to resolve
        # would change the key after the first download and differ between machines. Pin
        # `revision:` to a commit for builds that must not move with the hub; the commit the
        # cache resolved is recorded in outputs by resolved_hf_commit().
        ident["hf"] = spec.base
        ident["revision"] = spec.revision
        ident["variant"] = spec.variant
    return ident


def resolved_hf_commit(spec: ModelSpec) -> str | None:
    """The commit the local HF cache resolves the model's revision to (provenance, not keys)."""
    if spec.builtin:
        return None
    return _hf_cached_commit(spec.base, spec.revision)


def memo_model_identity(spec: ModelSpec, project_root: Path, inputs: dict[str, Any]) -> dict[str, Any]:
    """The model's identity for item memo keys: a local checkpoint is named by its bytes'
    digest (from the target's hashed inputs), so replacing the file invalidates every item."""
    ident = dict(model_identity(spec, project_root))
    rel = model_file_input_path(spec, project_root)
    if rel is not None and rel in inputs:
        ident["local"] = inputs[rel].digest
    return ident


def model_file_inputs(name: str | None, settings: dict[str, Any]) -> list:
    """Kind.settings_files for a kind that reads model NAME: the local checkpoint, if any, as
    a FileInput (an unknown model gives none: the kind's check() reports it)."""
    from ..core.kind import FileInput

    try:
        spec = resolve_model(name, settings) if name else None
    except (ModelError, ValueError):
        return []
    path = model_file_input_path(spec, Path(settings["root"])) if spec else None
    return [FileInput(path, ("model",))] if path else []


def model_file_input_path(spec: ModelSpec, project_root: Path) -> str | None:
    """The local file or folder whose bytes identify the model, as a path for a FileInput."""
    p = spec.local_path(project_root)
    if p is None:
        return None
    try:
        return str(p.relative_to(project_root))
    except ValueError:
        return str(p)


def _hf_cached_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit the local HF cache resolves a revision to, read from its refs folder (no hub call)."""
    home = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", Path.home() / ".cache/huggingface")) / "hub")
    ref = home / f"models--{repo_id.replace('/', '--')}" / "refs" / (revision or "main")
    try:
        return ref.read_text().strip()
    except OSError:
        if revision and len(revision) == 40:
            return revision
        return None


def _exists(path: Path) -> bool:
    """Whether a model name is a local path: asked through core.probes, because the answer is
    part of the key (a local folder's bytes, or a hub id) and a project snapshot must see it."""
    from ..core.probes import path_exists

    return path_exists(path)
