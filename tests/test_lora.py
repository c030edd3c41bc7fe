"""The lora kind end to end through the real CLI: real diffusers + peft on the tiny model."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import imagineer_exe
from lora_helpers import ENV, build_in_process, fixed_batch_loss, lora_spec, make_project, read_lora

PROMPTS = ["a red circle", "two blue squares"]


def build(root: Path, *args: str) -> tuple[int, list[dict], str]:
    p = subprocess.run([*imagineer_exe(), "build", "--json", *args], cwd=root, capture_output=True, text=True,
                       env={**os.environ, **ENV}, timeout=600)
    events = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    return p.returncode, events, p.stderr


def target_event(events: list[dict], name: str) -> dict:
    return next(e for e in events if e.get("event") == "target" and e["target"] == name)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One trained LoRA (30 steps, with samples), shared by the tests below."""
    root = make_project(tmp_path_factory.mktemp("lora") / "proj")
    (root / "specs" / "main.yaml").write_text(
        lora_spec(lr=3e-3, steps=30, batch_size=4, sample_prompts=PROMPTS, sample_every=15, sample_steps=4))
    code, events, err = build(root)
    assert code == 0, (events, err[-3000:])
    return root, events


@pytest.mark.slow
def test_outputs_and_training_record(trained):
    root, events = trained
    ev = target_event(events, "style")
    assert ev["status"] == "built"
    out = root / "out" / "style"
    for name in ("style.safetensors", "style.kohya.safetensors", "training.json", "loss.png"):
        assert (out / name).is_file(), name
    info = json.loads((out / "training.json").read_text())
    assert info["steps"] == 30 and len(info["loss_history"]) == 30
    assert info["settings"]["lr"] == 3e-3 and info["settings"]["rank"] == 4 and info["settings"]["alpha"] == 32.0
    assert info["base_model"]["builtin"].startswith("tiny-sd@")
    assert info["dataset_artifact"] == target_event(events, "ds")["artifact"]
    assert info["final_loss"] == pytest.approx(sum(info["loss_history"][-10:]) / 10)
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # samples at step 15 and at the end, each prompt with its own seed, parameters in the PNG
    from PIL import Image

    samples = info["samples"]
    assert [(s["step"], s["prompt"], s["seed"]) for s in samples] == [
        (15, PROMPTS[0], 0), (15, PROMPTS[1], 1), (30, PROMPTS[0], 0), (30, PROMPTS[1], 1)]
    with Image.open(out / samples[-1]["file"]) as im:
        assert im.size == (64, 64)
        assert im.text["parameters"].startswith(PROMPTS[1]) and "Seed: 1" in im.text["parameters"]
    # meta: the contract the generation kind reads
    from imagineer_build.core.store import LocalStore

    view = LocalStore(root / "cache").load_artifact(ev["artifact"])
    lora = view.meta["lora"]
    assert lora["file"] == "style.safetensors" and lora["kohya_file"] == "style.kohya.safetensors"
    assert (lora["arch"], lora["rank"], lora["alpha"], lora["steps"]) == ("sd15", 4, 32.0, 30)
    assert lora["base_model"] == info["base_model"]


@pytest.mark.slow
def test_lora_loads_lowers_the_loss_and_changes_images(trained):
    import numpy as np
    import torch

    from imagineer_build.models import resolve_model
    from imagineer_build.models.loading import load_pipeline

    root, _ = trained
    torch.set_num_threads(1)
    pipe = load_pipeline(resolve_model("builtin:tiny-sd", {}), root, root / "cache")
    pipe.set_progress_bar_config(disable=True)
    imgs = sorted((root / "data" / "shapes").glob("*.png"))[:4]
    caps = [p.with_suffix(".txt").read_text().strip() for p in imgs]

    def image():
        g = torch.Generator().manual_seed(3)
        return pipe(PROMPTS[0], num_inference_steps=4, height=64, width=64, generator=g, output_type="np").images

    base_loss, base_img = fixed_batch_loss(pipe, imgs, caps), image()
    pipe.load_lora_weights(root / "out" / "style", weight_name="style.safetensors", adapter_name="trained_style")
    assert pipe.get_list_adapters() == {"unet": ["trained_style"]}
    lora_loss, lora_img = fixed_batch_loss(pipe, imgs, caps), image()
    assert lora_loss < base_loss * 0.95, (base_loss, lora_loss)
    assert np.abs(lora_img - base_img).max() > 1e-3
    # alpha survives the file: scaling = alpha / rank = 8
    layer = pipe.unet.down_blocks[0].attentions[0].transformer_blocks[0].attn1.to_q
    assert layer.scaling["trained_style"] == pytest.approx(32.0 / 4)


@pytest.mark.slow
def test_kohya_copy_matches_the_diffusers_file(trained):
    root, _ = trained
    out = root / "out" / "style"
    diff = read_lora(out / "style.safetensors")
    kohya = read_lora(out / "style.kohya.safetensors")
    downs = {k for k in kohya if k.endswith(".lora_down.weight")}
    assert downs and all(k.startswith("lora_unet_") for k in kohya)
    # every module: down [rank, in], up [out, rank], alpha scalar — and the same numbers as diffusers'
    assert len(downs) == len([k for k in diff if k.endswith("lora.down.weight") or k.endswith("lora_A.weight")])
    for k in downs:
        base = k[: -len(".lora_down.weight")]
        down, up, alpha = kohya[k], kohya[f"{base}.lora_up.weight"], kohya[f"{base}.alpha"]
        assert down.shape[0] == 4 and up.shape[1] == 4 and alpha.item() == 32.0
        assert "_attn1_to_" in base or "_attn2_to_" in base
    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    dk = next(k for k in diff if "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k" in k
              and ("lora.down" in k or "lora_A" in k))
    assert kohya[f"{key}.lora_down.weight"].shape == (4, 32)  # cross-attention reads the 32-wide text
    assert (kohya[f"{key}.lora_down.weight"] == diff[dk]).all()
    from safetensors import safe_open

    with safe_open(str(out / "style.kohya.safetensors"), "pt") as f:
        meta = f.metadata()
    assert meta["ss_network_dim"] == "4" and meta["ss_network_alpha"] == "32.0"


@pytest.mark.slow
def test_rebuild_is_cached_and_lr_change_encodes_nothing(trained, monkeypatch):
    root, first = trained
    code, events, err = build(root)
    assert code == 0, err[-2000:]
    assert target_event(events, "style")["status"] == "cached"
    spec = root / "specs" / "main.yaml"
    spec.write_text(spec.read_text().replace("lr: 0.003", "lr: 0.002"))
    results, events = build_in_process(root, monkeypatch)
    assert results["style"].status == "built", results["style"].error
    ev = target_event(events, "style")
    assert ev["status"] == "built" and any("config lr" in r for r in ev["reason"])
    assert ev["memo"]["lora.latents"] == {"hits": 8, "misses": 0}
    assert ev["memo"]["lora.text"]["misses"] == 0 and ev["memo"]["lora.text"]["hits"] == 8
    assert ev["artifact"] != target_event(first, "style")["artifact"]
    assert target_event(first, "style")["memo"]["lora.latents"]["misses"] == 8
