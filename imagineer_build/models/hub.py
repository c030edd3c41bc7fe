"""Where a labeling model's files are: builtin folder, local folder, or the Hugging Face cache.

A model given as an HF id is taken from the local cache, else downloaded once; when neither
works the error says how to get it, and it is raised before any image is processed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from . import ModelError, ModelSpec


def model_folder(spec: ModelSpec, project_root: Path, models_dir: Path,
                 builtins: dict[str, Callable[[Path], Path]], patterns: list[str]) -> Path:
    """The folder holding the model's files; `builtins` maps builtin names to their makers."""
    if spec.builtin:
        if spec.builtin not in builtins:
            raise ModelError(f"{spec.base} is not a {spec.arch} model; known: "
                             + ", ".join(f"builtin:{b}" for b in builtins))
        return builtins[spec.builtin](models_dir)
    local = spec.local_path(project_root)
    if local is not None:
        if not local.is_dir():
            raise ModelError(f"model folder {local} does not exist (a {spec.arch} model is a folder)")
        return local
    return hf_snapshot(spec, patterns)


def hf_snapshot(spec: ModelSpec, patterns: list[str]) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(spec.base, revision=spec.revision, allow_patterns=patterns,
                                      local_files_only=True))
    except Exception:  # not in the cache (or only partly): download below, where allowed
        pass
    how = (f"get it once with network access (`huggingface-cli download {spec.base}`"
           + (f" --revision {spec.revision}" if spec.revision else "")
           + "), or point `base:` at a local folder holding its files")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise ModelError(f"model {spec.base!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE "
                         f"is set: {how}")
    try:
        return Path(snapshot_download(spec.base, revision=spec.revision, allow_patterns=patterns))
    except Exception as e:
        raise ModelError(f"cannot get model {spec.base!r} from the Hugging Face hub or its local cache "
                         f"({type(e).__name__}: {str(e)[:200]}): {how}") from None
