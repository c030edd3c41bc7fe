"""Base-model resolution and the embedded tiny models, with real diffusers."""

from __future__ import annotations

import json
import socket

import pytest

from imagineer_build.models import ModelSpec, check_model, model_identity, resolve_model


def test_resolve_named_and_builtin_models(tmp_path):
    settings = {"models": {"tiny": {"base": "builtin:tiny-sd", "arch": "sd15"},
                           "hf": {"base": "runwayml/stable-diffusion-v1-5", "revision": "main"}}}
    assert resolve_model("tiny", settings).builtin == "tiny-sd"
    assert resolve_model("builtin:tiny-sdxl", settings).arch == "sdxl"
    assert "unknown model 'nope'" in check_model("nope", settings)
    assert "defined: hf, tiny" in check_model("nope", settings)
    bad_arch = {"models": {"x": {"base": "builtin:tiny-sd", "arch": "sdxl"}}}
    assert "is an sd15 model" in check_model("x", bad_arch)
    assert check_model("tiny", settings) is None


def test_hf_identity_is_the_spec_not_the_cache_state(tmp_path, monkeypatch):
    """The key must not move when the model is first downloaded; the resolved commit is provenance."""
    from imagineer_build.models import resolved_hf_commit

    hub = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    spec = ModelSpec(base="org/model")
    before = model_identity(spec, tmp_path)
    assert resolved_hf_commit(spec) is None
    ref = hub / "models--org--model" / "refs" / "main"
    ref.parent.mkdir(parents=True)
    ref.write_text("0123456789abcdef0123456789abcdef01234567")
    assert model_identity(spec, tmp_path) == before == {"arch": "sd15", "dtype": "auto", "prediction_type": None,
                                                       "hf": "org/model", "revision": None, "variant": None}
    assert resolved_hf_commit(spec) == "0123456789abcdef0123456789abcdef01234567"
    pinned = ModelSpec(base="org/model", revision="0123456789abcdef0123456789abcdef01234567")
    assert model_identity(pinned, tmp_path)["revision"] == "0123456789abcdef0123456789abcdef01234567"


def test_local_checkpoint_is_a_file_input(tmp_path):
    from imagineer_build.models import model_file_input_path

    ckpt = tmp_path / "models" / "my.safetensors"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"x")
    spec = ModelSpec(base="models/my.safetensors")
    assert model_file_input_path(spec, tmp_path) == "models/my.safetensors"
    assert model_identity(spec, tmp_path)["local"] == "file input"
    assert model_file_input_path(ModelSpec(base="builtin:tiny-sd"), tmp_path) is None


@pytest.mark.slow
def test_builtin_tiny_sd_is_a_normal_diffusers_folder_and_never_touches_the_network(tmp_path, monkeypatch):
    import torch

    from imagineer_build.models import pipeline_cache
    from imagineer_build.models.builtin import ensure_builtin

    def no_network(*a, **k):
        raise AssertionError("a builtin model tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    folder = ensure_builtin(tmp_path, "tiny-sd")
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert (folder / "tokenizer" / "tokenizer_config.json").exists() and (folder / "unet").is_dir()
    # Built deterministically: a second build elsewhere has identical weights.
    again = ensure_builtin(tmp_path / "other", "tiny-sd")
    assert (folder / "unet/diffusion_pytorch_model.safetensors").read_bytes() == \
        (again / "unet/diffusion_pytorch_model.safetensors").read_bytes()
    spec = ModelSpec(base="builtin:tiny-sd")
    before = pipeline_cache.loads
    with pipeline_cache.lease(spec, tmp_path, tmp_path) as pipe:
        assert pipe.vae_scale_factor == 8
        ids = pipe.tokenizer("a red circle").input_ids
        assert len(ids) < 10  # merges learnt: not one token per byte
        out = pipe("a red circle", num_inference_steps=3, height=64, width=64, output_type="np",
                   generator=torch.Generator().manual_seed(1)).images
        assert out.shape == (1, 64, 64, 3)
    with pipeline_cache.lease(spec, tmp_path, tmp_path) as pipe2:
        assert pipe2 is pipe
    assert pipeline_cache.loads == before + 1


@pytest.mark.slow
def test_builtin_tiny_sdxl_generates(tmp_path):
    import torch

    from imagineer_build.models.loading import load_pipeline

    pipe = load_pipeline(ModelSpec(base="builtin:tiny-sdxl", arch="sdxl"), tmp_path, tmp_path)
    assert type(pipe).__name__ == "StableDiffusionXLPipeline"
    img = pipe("a star", num_inference_steps=2, height=64, width=64, output_type="np",
               generator=torch.Generator().manual_seed(0)).images
    assert img.shape == (1, 64, 64, 3)
