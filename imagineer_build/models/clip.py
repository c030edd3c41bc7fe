"""CLIP scorers: the builtin tiny one, loading (builtin / local folder / HF id), a warm cache.

A scorer turns images and texts into unit vectors in CLIP's shared space; everything the
`scores` kind computes (adherence, zero-shot choices) is arithmetic on those vectors.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.hashing import digest_json
from . import ModelError, ModelSpec, model_identity
from .builtin import SEED, builtin_folder, ensure_folder

IMPORTS = ("torch", "transformers:CLIPModel,CLIPConfig,CLIPTokenizer,AutoTokenizer")
MAX_TOKENS = 77  # CLIP's text context, start and end tokens included


def ensure_tiny_clip(models_dir: Path) -> Path:
    """The folder of builtin:tiny-clip (random weights, fixed seed), built on first use."""
    return ensure_folder(builtin_folder(models_dir, "tiny-clip"), _make_tiny_clip)


def _make_tiny_clip(dest: Path) -> None:
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    from .tokenizer import write_tokenizer_files

    tok_dir = dest.parent / "tokenizer-src"
    vocab = write_tokenizer_files(tok_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir, model_max_length=MAX_TOKENS)
    text = {"vocab_size": vocab, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "max_position_embeddings": MAX_TOKENS, "bos_token_id": vocab - 2,
            "eos_token_id": vocab - 1, "pad_token_id": vocab - 1}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "image_size": 32, "patch_size": 8}
    torch.manual_seed(SEED)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=32))
    model.save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)
    image_processor_class()(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(dest)


def image_processor_class():
    """CLIP's PIL-based image processor, always: the torchvision one (transformers 5's default
    when torchvision is installed) resizes differently, and a library that happens to be
    installed must not change the scores."""
    import transformers

    return getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor


@dataclass
class Scorer:
    """A loaded CLIP: the model on its device, its tokenizer and image processor."""

    model: Any
    tokenizer: Any
    processor: Any
    device: str
    dtype: Any

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.detach().float().exp().cpu())

    def pixels(self, image) -> Any:
        """One PIL image → its preprocessed pixel array (C, H, W); thread-safe."""
        return self.processor(images=[image], return_tensors="np")["pixel_values"][0]

    def embed_pixels(self, pixels: list[Any]):
        """Preprocessed images → their CLIP image vectors (n, d) as float32 numpy, not normalised."""
        import numpy as np
        import torch

        batch = torch.from_numpy(np.stack(pixels)).to(self.device, self.dtype)
        with torch.inference_mode():
            pooled = self.model.vision_model(pixel_values=batch).pooler_output
            return self.model.visual_projection(pooled).float().cpu().numpy()

    def embed_texts(self, texts: list[str]):
        """Texts (each within CLIP's 77 tokens: see split) → text vectors (n, d), float32 numpy."""
        import torch

        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        with torch.inference_mode():
            pooled = self.model.text_model(input_ids=enc["input_ids"].to(self.device),
                                           attention_mask=enc["attention_mask"].to(self.device)).pooler_output
            return self.model.text_projection(pooled).float().cpu().numpy()

    def split(self, text: str) -> list[str]:
        """The text as pieces CLIP can read whole: itself when it fits in 77 tokens, else
        comma-separated parts packed greedily (a part that alone is too long: by words)."""
        room = MAX_TOKENS - 2

        def count(s: str) -> int:
            return len(self.tokenizer(s, add_special_tokens=False)["input_ids"])

        if count(text) <= room:
            return [text]
        pieces: list[str] = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            if count(part) <= room:
                pieces.append(part)
                continue
            words: list[str] = []
            for w in part.split():
                if words and count(" ".join([*words, w])) > room:
                    pieces.append(" ".join(words))
                    words = []
                words.append(w)
            if words:
                pieces.append(" ".join(words))
        chunks: list[str] = []
        for piece in pieces:
            if chunks and count(chunks[-1] + ", " + piece) <= room:
                chunks[-1] += ", " + piece
            else:
                chunks.append(piece)
        return chunks


def load_scorer(spec: ModelSpec, project_root: Path, models_dir: Path) -> Scorer:
    """Load a CLIP from builtin:tiny-clip, a local folder, or the local HF cache (never the
    network: a missing HF model fails at once with how to get it)."""
    from .imports import ensure
    from .loading import pick_device, pick_dtype, quiet_libraries

    ensure(*IMPORTS)
    quiet_libraries()
    from transformers import AutoTokenizer, CLIPModel

    device = pick_device(spec)
    dtype = pick_dtype(spec, device)
    if spec.builtin:
        where, kw = ensure_tiny_clip(models_dir), {"local_files_only": True}
    elif (local := spec.local_path(project_root)) is not None:
        if not local.is_dir():
            raise ModelError(f"CLIP model folder {local} does not exist (a transformers folder: config.json, "
                             "weights, tokenizer and preprocessor_config.json)")
        where, kw = local, {"local_files_only": True}
    else:
        where, kw = spec.base, {"revision": spec.revision, "local_files_only": True}
    try:
        model = CLIPModel.from_pretrained(where, **kw)
        tokenizer = AutoTokenizer.from_pretrained(where, **kw)
        processor = image_processor_class().from_pretrained(where, **kw)
    except OSError as e:
        if spec.builtin or spec.local_path(project_root) is not None:
            raise ModelError(f"cannot load CLIP model from {where}: {e}") from e
        raise ModelError(f"CLIP model {spec.base!r} is not in the local Hugging Face cache. Download it once "
                         f"with network access: huggingface-cli download {spec.base}"
                         + (f" --revision {spec.revision}" if spec.revision else "")
                         + " — or point `base:` at a local folder.") from None
    model.to(device, dtype).eval()
    return Scorer(model, tokenizer, processor, device, dtype)


_lock = threading.Lock()
_scorers: dict[str, Scorer] = {}
_leases: dict[str, threading.Lock] = {}
loads = 0  # how many times a scorer was actually loaded in this process (tests, benchmarks)


@contextlib.contextmanager
def lease(spec: ModelSpec, project_root: Path, models_dir: Path) -> Iterator[Scorer]:
    """The warm scorer for a model, held exclusively for the with-block (one per process)."""
    global loads
    key = digest_json([spec.model_dump(), model_identity(spec, project_root), str(project_root)])
    with _lock:
        held = _leases.setdefault(key, threading.Lock())
    with held:
        scorer = _scorers.get(key)
        if scorer is None:
            scorer = _scorers[key] = load_scorer(spec, project_root, models_dir)
            loads += 1
        yield scorer
