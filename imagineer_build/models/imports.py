"""Heavy libraries are imported once, under one lock.

diffusers and transformers resolve their public names lazily; two threads importing them for
the first time at once can see a half-initialised module ("cannot import name
'StableDiffusionPipeline'"). Every code path that loads a model calls `ensure()` first.
"""

from __future__ import annotations

import importlib
import os
import threading

_lock = threading.Lock()
_done: set[str] = set()

# What the diffusion kinds use; resolving the lazy names here imports their submodules.
DIFFUSION = (
    "torch",
    "transformers:CLIPTokenizer,CLIPTextModel,CLIPTextModelWithProjection,CLIPTextConfig",
    "diffusers:StableDiffusionPipeline,StableDiffusionXLPipeline,AutoencoderKL,UNet2DConditionModel,"
    "DDPMScheduler,PNDMScheduler,EulerDiscreteScheduler",
    "peft:LoraConfig",
)


def ensure(*specs: str) -> None:
    """Import each 'module' or 'module:Name,Name' once per process, one thread at a time."""
    specs = specs or DIFFUSION
    if all(s in _done for s in specs):
        return
    # transformers prints advisories while it imports (e.g. "`CLIPImageProcessor` requires
    # torchvision … falling back"): our progress events say what happens and real problems
    # raise, as after quiet_libraries(). TRANSFORMERS_VERBOSITY=warning shows them again.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    with _lock:
        for spec in specs:
            if spec in _done:
                continue
            module, _, names = spec.partition(":")
            mod = importlib.import_module(module)
            for name in filter(None, names.split(",")):
                getattr(mod, name)
            _done.add(spec)
