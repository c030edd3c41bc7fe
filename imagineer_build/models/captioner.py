"""Vision-language captioning models (BLIP, GIT, Florence-2, LLaVA / JoyCaption, ...) through
transformers' AutoProcessor + AutoModelForImageTextToText, kept warm: one per model per process.

`Captioner.generate` is the whole compute step: images and instructions in, texts out, so a
caller can batch, memoise and (later) shard it. Instruction-following models get the text
through their chat template; captioning-only models (BLIP, GIT) take it as a caption prefix,
Florence-2 as its task token.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import ModelSpec, model_identity
from .hub import model_folder

# Files a transformers captioning model needs (no remote code: trust_remote_code is never set).
PATTERNS = ["*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken", "*.safetensors"]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

_lock = threading.Lock()
_warm: dict[str, Captioner] = {}


@dataclass
class Captioner:
    processor: Any
    model: Any
    device: str
    dtype: Any
    model_type: str
    chat: bool  # the processor has a chat template: instructions go through it
    lock: threading.Lock = field(default_factory=threading.Lock)

    def generate(self, images: list[Any], texts: list[str | None], max_new_tokens: int,
                 num_beams: int = 1) -> list[str]:
        """One text per image; `texts[i]` is the instruction (chat models), a task token
        (Florence-2) or a caption prefix (BLIP, GIT), or None for a plain caption."""
        import torch

        with self.lock, torch.inference_mode():
            inputs = self._inputs(images, texts).to(self.device)
            if "pixel_values" in inputs:
                inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, num_beams=num_beams,
                                      do_sample=False)
        ids = inputs.get("input_ids")
        prefixes: list[str | None] = [None] * len(images)
        if ids is not None and not self.model.config.is_encoder_decoder:
            if out.shape[1] >= ids.shape[1] and torch.equal(out[:, :ids.shape[1]].cpu(), ids.cpu()):
                out = out[:, ids.shape[1]:]  # decoder-only models echo the prompt
            else:  # captioners (BLIP, GIT) start the caption with the prefix they were given
                prefixes = self.processor.batch_decode(ids, skip_special_tokens=True)
        decoded = self.processor.batch_decode(out, skip_special_tokens=True)
        return [_clean(d, p) for d, p in zip(decoded, prefixes, strict=True)]

    def _inputs(self, images: list[Any], texts: list[str | None]):
        if self.chat:
            convs = [[{"role": "user", "content": [{"type": "image", "image": im},
                                                   {"type": "text", "text": t or ""}]}]
                     for im, t in zip(images, texts, strict=True)]
            return self.processor.apply_chat_template(convs, add_generation_prompt=True, tokenize=True,
                                                      return_dict=True, return_tensors="pt",
                                                      processor_kwargs={"padding": True})
        if all(t is None for t in texts):
            return self.processor(images=images, return_tensors="pt")
        return self.processor(images=images, text=[t or "" for t in texts], return_tensors="pt", padding=True)

def _clean(text: str, prefix: str | None) -> str:
    """One line of text: no control characters, single spaces, the echoed prefix removed."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    prefix = " ".join((prefix or "").split())
    if prefix and text.lower().startswith(prefix.lower()):
        text = text[len(prefix):].strip()
    return text


def builtins() -> dict[str, Any]:
    from .tiny_vlm import ensure_tiny_vlm

    return {"tiny-vlm": ensure_tiny_vlm}


def locate(spec: ModelSpec, project_root: Path, models_dir: Path) -> Path:
    """The model's folder (built, local, or from the HF cache / hub); raises ModelError."""
    return model_folder(spec, project_root, models_dir, builtins(), PATTERNS)


def warm(spec: ModelSpec, project_root: Path, models_dir: Path) -> Captioner:
    """The loaded model for this spec, loading it on first use in this process."""
    from ..core.hashing import digest_json

    key = digest_json([spec.model_dump(), model_identity(spec, project_root), str(project_root)])
    with _lock:
        if key not in _warm:
            _warm[key] = load(spec, locate(spec, project_root, models_dir))
        return _warm[key]


def load(spec: ModelSpec, folder: Path) -> Captioner:
    from .imports import ensure
    from .loading import pick_device, pick_dtype, quiet_transformers
    from .tiny_vlm import IMPORTS

    quiet_transformers()
    ensure(*IMPORTS)
    from transformers import AutoModelForImageTextToText, AutoProcessor

    device = pick_device(spec)
    dtype = pick_dtype(spec, device)
    processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
    model = AutoModelForImageTextToText.from_pretrained(folder, local_files_only=True, dtype=dtype)
    model.to(device).eval()
    tok = getattr(processor, "tokenizer", None)
    if tok is not None and not model.config.is_encoder_decoder:
        tok.padding_side = "left"  # batched generation continues every row from its last token
    if tok is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    chat = bool(getattr(processor, "chat_template", None))
    return Captioner(processor, model, device, dtype, model.config.model_type, chat)

