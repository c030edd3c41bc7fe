"""Test-only upstream for the scores tests: a `testalbums` kind registered through IMAGINEER_KINDS.

It turns a folder of images plus a YAML manifest (prompt, variations, row, seed per file) into
an album shaped like a generation's, so tests choose the pixels (solid colours a hand-set CLIP
can recognise, a corrupt file) without running a diffusion model. It never decodes, so a
broken file reaches the scorer as it would from any album.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import Field

from imagineer_build.core.artifact import Artifact
from imagineer_build.core.kind import BuildContext, FileInput, Kind, KindConfig
from imagineer_build.media.album import Album, AlbumImage

TESTS = Path(__file__).resolve().parent
ENV = {
    "IMAGINEER_KINDS": "scores_helpers:TestAlbumKind",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH", "")])),
}
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


class TestAlbumConfig(KindConfig):
    folder: str = Field(description="project folder of images")
    manifest: str = Field(description="project YAML: file → {prompt, variations, row, seed}")


class TestAlbumKind(Kind):
    name = "testalbum"
    section = "testalbums"
    version = "1"
    Config = TestAlbumConfig

    def files(self, config: TestAlbumConfig) -> list[FileInput]:
        return [FileInput(config.folder, ("folder",)), FileInput(config.manifest, ("manifest",))]

    def build(self, ctx: BuildContext) -> Artifact:
        cfg: TestAlbumConfig = ctx.config
        entries = yaml.safe_load(ctx.resolve(cfg.manifest).read_text()) or {}
        files, images = {}, []
        for name, extra in entries.items():
            digest = ctx.put_file(ctx.resolve(cfg.folder) / name)
            path = f"images/{name}"
            files[path] = digest
            images.append(AlbumImage(digest=digest, path=path, width=64, height=64, format="png",
                                     origin=f"testalbum:{ctx.target}", caption=extra.get("prompt"),
                                     extra=dict(extra)))
        album = Album(images)
        return Artifact(files=files, meta=album.meta(), facts=album.facts())


def write_album(root: Path, items: list[dict], folder: str = "data/album", manifest: str = "data/album.yaml") -> None:
    """Write images and the manifest: each item {file, colour | bytes, prompt, variations, row, seed}."""
    from PIL import Image

    (root / folder).mkdir(parents=True, exist_ok=True)
    entries = {}
    for it in items:
        target = root / folder / it["file"]
        if "bytes" in it:
            target.write_bytes(it["bytes"])
        else:
            Image.new("RGB", (64, 64), COLOURS.get(it["colour"], it["colour"])).save(target, "PNG")
        entries[it["file"]] = {k: v for k, v in it.items() if k in ("prompt", "variations", "row", "seed")}
    (root / manifest).write_text(yaml.safe_dump(entries, sort_keys=False))


def album_items(n: int, start: int = 0) -> list[dict]:
    """n images with varied colours, prompts and two variations (Hair × Cut), deterministic."""
    hair, cut = ["red", "green", "blue"], ["mohawk", "bob"]
    out = []
    for i in range(start, start + n):
        h, c = hair[i % 3], cut[(i // 3) % 2]
        colour = ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)
        out.append({"file": f"{i:03d}.png", "colour": colour, "prompt": f"portrait {i}, {h} hair, {c}",
                    "variations": {"Hair": h, "Cut": c}, "row": {"who": f"person {i % 4}"}, "seed": 1000 + i})
    return out


def make_colour_clip(folder: Path) -> Path:
    """A CLIP whose answer is known: hand-set weights make an image's vector its mean colour
    and a text's vector the colour words it contains, in the same space.

    Every weight is zero except: the patch embedding averages each RGB channel into hidden
    dims 0-2, token embeddings put "red"/"green"/"blue" on those dims, attention is uniform
    (query and key weights zero) with identity value and output maps, the projections are the
    identity, and layer norms are plain. So a red image and "a picture of red" point the same way.
    """
    import math

    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    from imagineer_build.models.clip import image_processor_class
    from imagineer_build.models.tokenizer import write_tokenizer_files

    vocab = write_tokenizer_files(folder / "tokenizer-src")
    tok = CLIPTokenizer.from_pretrained(folder / "tokenizer-src", model_max_length=77)
    tower = {"hidden_size": 4, "intermediate_size": 4, "num_hidden_layers": 1, "num_attention_heads": 1}
    cfg = CLIPConfig(text_config={**tower, "vocab_size": vocab, "max_position_embeddings": 77,
                                  "bos_token_id": vocab - 2, "eos_token_id": vocab - 1, "pad_token_id": vocab - 1},
                     vision_config={**tower, "image_size": 8, "patch_size": 8}, projection_dim=4)
    model = CLIPModel(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.ones_like(p) if "norm" in name and name.endswith("weight") else torch.zeros_like(p))
        for tower_ in (model.text_model, model.vision_model):
            attn = tower_.encoder.layers[0].self_attn
            attn.v_proj.weight.copy_(torch.eye(4))
            attn.out_proj.weight.copy_(torch.eye(4))
        for c in range(3):
            model.vision_model.embeddings.patch_embedding.weight[c, c] = 1.0 / 64
        seen: set[int] = set()
        for c, word in enumerate(COLOURS):
            ids = tok(word, add_special_tokens=False)["input_ids"]
            assert not seen & set(ids), f"colour words share tokens: {word}"
            seen |= set(ids)
            for i in ids:
                model.text_model.embeddings.token_embedding.weight[i, c] = 1.0
        model.visual_projection.weight.copy_(torch.eye(4))
        model.text_projection.weight.copy_(torch.eye(4))
        model.logit_scale.fill_(math.log(100.0))
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    image_processor_class()(size={"shortest_edge": 8}, crop_size={"height": 8, "width": 8}, image_mean=[0, 0, 0],
                            image_std=[1, 1, 1]).save_pretrained(folder)
    import shutil

    shutil.rmtree(folder / "tokenizer-src")
    return folder
