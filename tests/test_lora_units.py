"""Pieces of the lora kind that need no model: settings resolution, batch order, kohya keys."""

from __future__ import annotations

import pytest

from imagineer_build.kinds.lora.config import LoraConfig, resolve_settings
from imagineer_build.kinds.lora.data import TrainItem, epoch_batches, scale_bucket
from imagineer_build.kinds.lora.export import kohya_state_dict


def resolve(cfg: dict, recommended=None, defaults=None, arch="sd15", batches=lambda r, b: 12 // b):
    return resolve_settings(LoraConfig.model_validate({"dataset": "d", "model": "m", **cfg}), arch,
                            recommended or {}, defaults or {}, 512, 0.1, batches)


def test_left_out_values_come_from_dataset_then_project_then_ours():
    ts = resolve({"rank": 16}, recommended={"epochs": 10, "batch_size": 2}, defaults={"batch_size": 4, "lr": 5e-5})
    assert ts.rank == 16  # the spec wins
    assert ts.batch_size == 2  # the dataset's recommendation beats imagineer.yaml defaults
    assert ts.lr == 5e-5  # imagineer.yaml defaults beat ours
    assert ts.alpha == 32.0 and ts.gradient_accumulation == 2  # ours: alpha 32, accumulate to 4
    assert ts.steps == 10 * 3  # 10 epochs of 12/2=6 micro-batches in 3 steps of 2
    assert ts.caption_dropout == 0.1 and ts.resolution == 512  # from the dataset
    assert ts.warmup_steps == 3 and ts.scheduler == "constant_with_warmup"


def test_sdxl_defaults_and_explicit_steps():
    ts = resolve({"steps": 7}, arch="sdxl", recommended={"epochs": 10})
    assert (ts.rank, ts.alpha, ts.steps) == (32, 16.0, 7)
    assert resolve({}).steps == 1500


def test_epoch_batches_cover_every_image_once_per_epoch_in_one_bucket_each():
    items = [TrainItem(str(i), None, f"c{i}", (64, 64) if i % 3 else (64, 128)) for i in range(10)]  # type: ignore[arg-type]
    for epoch in range(3):
        batches = epoch_batches(items, 3, seed=5, epoch=epoch)
        assert sorted(i for b in batches for i in b) == list(range(10))
        assert all(len({items[i].bucket for i in b}) == 1 for b in batches)
    assert epoch_batches(items, 3, 5, 1) == epoch_batches(items, 3, 5, 1)
    assert epoch_batches(items, 3, 5, 1) != epoch_batches(items, 3, 5, 2)


def test_buckets_scale_to_the_training_resolution():
    assert scale_bucket([512, 768], 512, 64) == (64, 96)
    assert scale_bucket([512, 512], 512, 512) == (512, 512)


def test_kohya_keys_and_alpha():
    torch = pytest.importorskip("torch")
    sd = {"down_blocks.0.attentions.0.proj.to_q.lora_A.weight": torch.ones(4, 32),
          "down_blocks.0.attentions.0.proj.to_q.lora_B.weight": torch.zeros(32, 4)}
    te = {"text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight": torch.ones(4, 32),
          "text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight": torch.ones(32, 4)}
    out = kohya_state_dict("sdxl", {"unet": sd, "text_encoder_2": te}, 8.0)
    assert set(out) == {
        "lora_unet_down_blocks_0_attentions_0_proj_to_q.lora_down.weight",
        "lora_unet_down_blocks_0_attentions_0_proj_to_q.lora_up.weight",
        "lora_unet_down_blocks_0_attentions_0_proj_to_q.alpha",
        "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight",
        "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight",
        "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.alpha",
    }
    assert out["lora_unet_down_blocks_0_attentions_0_proj_to_q.alpha"].item() == 8.0
    with pytest.raises(ValueError, match="unexpected key"):
        kohya_state_dict("sd15", {"unet": {"x.weight": torch.ones(1)}}, 1.0)


def test_loss_plot_is_a_png_even_with_nan():
    from imagineer_build.kinds.lora.plot import loss_png, smooth

    assert loss_png([1.0, 0.5, float("nan"), 0.25], "t")[:4] == b"\x89PNG"
    assert smooth([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])
