"""Training borrows the warm pipeline and hands it back as it found it (real engine, in process)."""

from __future__ import annotations

import pytest
import yaml
from lora_helpers import build_in_process, make_project


@pytest.mark.slow
def test_two_loras_share_one_pipeline_and_leave_it_clean(tmp_path, monkeypatch):
    import torch
    from peft.tuners.tuners_utils import BaseTunerLayer

    from imagineer_build.models import pipeline_cache

    monkeypatch.setattr(pipeline_cache, "_pipes", {})
    monkeypatch.setattr(pipeline_cache, "loads", 0)
    root = make_project(tmp_path / "p", images=4)
    common = {"dataset": "ds", "model": "builtin:tiny-sdxl", "rank": 2, "steps": 3, "batch_size": 2,
              "gradient_accumulation": 1}
    spec = {"testdatasets": {"ds": {"dir": "data/shapes"}},
            "loras": {"unet-only": {**common, "sample_prompts": ["a red circle"], "sample_steps": 2},
                      "with-te": {**common, "train_text_encoder": True, "gradient_checkpointing": True,
                                  "min_snr_gamma": 5.0, "noise_offset": 0.05, "prediction_type": "v_prediction"}}}
    (root / "specs" / "main.yaml").write_text(yaml.safe_dump(spec))
    torch.set_num_threads(1)
    results, events = build_in_process(root, monkeypatch)
    assert {n: r.status for n, r in results.items()} == {"ds": "built", "unet-only": "built", "with-te": "built"}, \
        [r.error for r in results.values()]
    assert pipeline_cache.loads == 1  # one pipeline, both trainings
    memo = {e["target"]: e.get("memo", {}) for e in events if e.get("event") == "target"}
    first, second = sorted(("unet-only", "with-te"), key=lambda n: memo[n]["lora.latents"]["misses"], reverse=True)
    assert memo[first]["lora.latents"] == {"hits": 0, "misses": 4}
    assert memo[second]["lora.latents"] == {"hits": 4, "misses": 0}  # the second LoRA encodes nothing
    (pipe,) = pipeline_cache._pipes.values()
    for comp in (pipe.unet, pipe.text_encoder, pipe.text_encoder_2):
        assert not any(isinstance(m, BaseTunerLayer) for m in comp.modules())
        assert not getattr(comp, "peft_config", None)
        assert not comp.training
        assert all(p.requires_grad for p in comp.parameters())  # as from_pretrained left them
    assert not pipe.unet.is_gradient_checkpointing
    # the second training's artifact has all three components and records v-prediction
    import json

    out = root / "out" / "with-te"
    info = json.loads((out / "training.json").read_text())
    assert info["prediction_type"] == "v_prediction" and info["settings"]["train_text_encoder"] is True
    from safetensors import safe_open

    with safe_open(str(out / "with-te.safetensors"), "pt") as f:
        assert {k.split(".")[0] for k in f.keys()} == {"unet", "text_encoder", "text_encoder_2"}
    with safe_open(str(root / "out" / "unet-only" / "unet-only.safetensors"), "pt") as f:
        assert {k.split(".")[0] for k in f.keys()} == {"unet"}
    from PIL import Image

    with Image.open(root / "out" / "unet-only" / "samples" / "step000003_00.png") as im:  # SDXL sampling
        assert im.size == (64, 64) and "Seed: 0" in im.text["parameters"]
