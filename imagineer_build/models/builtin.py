"""Embedded models: Stable Diffusion architectures with tiny configs and seeded random weights.

They exist so the whole pipeline (training, generation) runs for real on a CPU with no
download. Each is built once, saved as an ordinary diffusers folder in the store, and loaded
through the same from_pretrained path as any other model.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

BUILTIN_VERSION = "1"  # bump when the configs or the seed change: it is part of every key
BUILTINS = {"tiny-sd": "sd15", "tiny-sdxl": "sdxl", "tiny-vlm": "vlm", "tiny-tagger": "tagger",
            "tiny-clip": "clip"}  # vlm.py, tagger.py, clip.py
SEED = 20240607


READY = ".ready"  # written last inside the folder: a folder without it is a killed build's


def builtin_folder(models_dir: Path, name: str) -> Path:
    return Path(models_dir) / f"builtin-{name}-v{BUILTIN_VERSION}"


def ensure_builtin(models_dir: Path, name: str) -> Path:
    """The folder of a builtin diffusion model, building and saving it on first use."""
    if BUILTINS.get(name) not in ("sd15", "sdxl"):
        raise ValueError(f"unknown builtin diffusion model {name!r}; known: tiny-sd, tiny-sdxl")

    def make(dest: Path) -> None:
        pipe = _build(name, dest.parent / "tokenizer-src")
        pipe.save_pretrained(dest, safe_serialization=True)
        from ..media.tensors import canonicalize

        for f in sorted(dest.rglob("*.safetensors")):
            canonicalize(f)

    return ensure_folder(builtin_folder(models_dir, name), make)


def ensure_folder(folder: Path, make: Callable[[Path], None], imports: tuple[str, ...] = ()) -> Path:
    """A model folder made once by `make(tmp_folder)`, safe against other threads and processes
    doing the same: one makes it under a file lock, the others wait and find it ready.
    `imports`: what `make` imports (default: the diffusion libraries), see imports.ensure."""
    if (folder / READY).exists():
        return folder
    from .imports import ensure

    ensure(*imports)  # before the lock: a thread importing torch must not hold up another's lock wait
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(folder.parent / f".{folder.name}.lock"):
        if (folder / READY).exists():
            return folder
        shutil.rmtree(folder, ignore_errors=True)  # a killed build's half folder
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        try:
            make(tmp / "model")
            (tmp / "model" / READY).write_text("")
            os.replace(tmp / "model", folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


@contextlib.contextmanager
def _file_lock(path: Path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _scheduler():
    from diffusers import PNDMScheduler

    # Stable Diffusion 1.5's noise schedule.
    return PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         num_train_timesteps=1000, skip_prk_steps=True, steps_offset=1)


def _text_encoder(vocab_size: int, hidden: int, with_projection: bool = False, projection_dim: int = 32):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                         projection_dim=projection_dim, bos_token_id=vocab_size - 2,
                         eos_token_id=vocab_size - 1, pad_token_id=vocab_size - 1)
    return CLIPTextModelWithProjection(cfg) if with_projection else CLIPTextModel(cfg)


def _vae():
    from diffusers import AutoencoderKL

    # Four blocks, so the latent is 1/8 of the image as in real SD.
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                         block_out_channels=[16, 16, 32, 32], layers_per_block=1, norm_num_groups=8,
                         sample_size=64)


def _build(name: str, tok_dir: Path):
    import torch
    from transformers import CLIPTokenizer

    from .tokenizer import write_tokenizer_files

    vocab_size = write_tokenizer_files(tok_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir, model_max_length=77)
    torch.manual_seed(SEED)
    if BUILTINS[name] == "sd15":
        return _build_sd15(tokenizer, vocab_size)
    return _build_sdxl(tokenizer, vocab_size)


def _build_sd15(tokenizer, vocab_size: int):
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
        attention_head_dim=4, norm_num_groups=32,
    )
    return StableDiffusionPipeline(
        vae=_vae(), text_encoder=_text_encoder(vocab_size, 32), tokenizer=tokenizer, unet=unet,
        scheduler=_scheduler(), safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def _build_sdxl(tokenizer, vocab_size: int):
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

    te1 = _text_encoder(vocab_size, 32)
    te2 = _text_encoder(vocab_size, 32, with_projection=True, projection_dim=32)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=64,
        attention_head_dim=(2, 4), transformer_layers_per_block=(1, 1), use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=32 + 6 * 8, norm_num_groups=32,
    )
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                   num_train_timesteps=1000, steps_offset=1)
    return StableDiffusionXLPipeline(vae=_vae(), text_encoder=te1, text_encoder_2=te2, tokenizer=tokenizer,
                                     tokenizer_2=tokenizer, unet=unet, scheduler=sched,
                                     force_zeros_for_empty_prompt=True)
