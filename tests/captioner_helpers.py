"""Helpers for the local captioner tests: a tiny BLIP folder (the image-to-text path, loaded as
a local folder), solid-colour images, reading labels and memo rows back."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from PIL import Image

MODELS = """
models:
  cap: {base: "builtin:tiny-vlm"}
  tag: {base: "builtin:tiny-tagger", arch: tagger}
"""


def make_blip(folder: Path, mute: bool = False) -> Path:
    """A BLIP captioner with random weights saved as an ordinary transformers folder; `mute`:
    its first word is always the end of the caption (an empty caption)."""
    import torch
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
        BlipTextConfig,
        BlipVisionConfig,
    )

    from imagineer_build.models.tokenizer import CORPUS

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"] + sorted(set(CORPUS.split()))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizer(vocab=str(folder / "vocab.txt"), bos_token="[DEC]", model_max_length=64)
    text = BlipTextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, encoder_hidden_size=32, bos_token_id=tok.bos_token_id,
                          sep_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id,
                          eos_token_id=tok.sep_token_id)
    vision = BlipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=8)
    torch.manual_seed(5)
    model = BlipForConditionalGeneration(BlipConfig(text_config=text, vision_config=vision, projection_dim=32))
    if mute:
        with torch.no_grad():
            model.text_decoder.cls.predictions.bias[tok.sep_token_id] = 1000.0
    model.save_pretrained(folder)
    BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok).save_pretrained(folder)
    return folder


def solid(folder: Path, name: str, rgb: tuple[int, int, int], size: int = 128) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    Image.new("RGB", (size, size), rgb).save(p)
    return p


def labels(project, target: str = "caps") -> tuple[dict[str, dict], dict]:
    """(file stem → label, the whole `show --json` answer)."""
    r = project.run("show", target, "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    stems = {im["digest"]: Path(im["path"]).stem for im in data["meta"]["album"]["images"]}
    return {stems[d]: lab for d, lab in data["meta"]["labels"].items()}, data


def target_event(run, name: str = "caps") -> dict:
    return next(e for e in run.events() if e.get("event") == "target" and e["target"] == name)


def memo_rows(project, ns: str) -> int:
    db = project.root / "cache" / "memo.sqlite"
    if not db.exists():
        return 0
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT COUNT(*) FROM memo WHERE ns=?", (ns,)).fetchone()[0]
    finally:
        con.close()
