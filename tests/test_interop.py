"""Files other tools read: LoRA key names, web-UI hashes, sd-scripts / ai-toolkit configs, schema.

The other tools' rules are rebuilt in interop_rules.py (read from their code, not copied).
"""

from __future__ import annotations

import hashlib
import io
import json
import tomllib
from pathlib import Path

import pytest
import yaml
from interop_rules import (
    DIFFUSERS_PARTS,
    KOHYA_PARTS,
    SD_SCRIPTS_TE_CLASSES,
    a1111_lora_entry,
    a1111_parse,
    a1111_resolve,
    comfyui_clip_names,
    comfyui_unet_names,
    sd_scripts_bucket_problems,
    sd_scripts_names,
    split_key,
)

from imagineer_build.kinds.lora import LoraKind
from imagineer_build.kinds.lora.backend_configs import ai_toolkit_config, kohya_configs, refusals
from imagineer_build.kinds.lora.config import BackendConfig, LoraConfig, resolve_settings

# ---- LoRA key names --------------------------------------------------------------------------


def _real_shaped_models(arch: str):
    """The UNet and text encoders of real SD 1.5 / SDXL, on the meta device (no memory, no
    download): same classes and module paths as the real checkpoints."""
    import torch
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    clip_l = CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                            num_hidden_layers=12, projection_dim=768)
    with torch.device("meta"):
        if arch == "sd15":
            return UNet2DConditionModel(cross_attention_dim=768), {"text_encoder": CLIPTextModel(clip_l)}
        clip_g = CLIPTextConfig(hidden_size=1280, intermediate_size=5120, num_attention_heads=20,
                                num_hidden_layers=32, projection_dim=1280, hidden_act="gelu")
        unet = UNet2DConditionModel(
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            block_out_channels=(320, 640, 1280), transformer_layers_per_block=(1, 2, 10),
            attention_head_dim=(5, 10, 20), cross_attention_dim=2048, use_linear_projection=True,
            addition_embed_type="text_time", addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816)
        return unet, {"text_encoder": CLIPTextModel(clip_l), "text_encoder_2": CLIPTextModelWithProjection(clip_g)}


def _adapter_parts(unet, tes):
    """What the trainer exports: peft adapters on our target modules, as (state dict, config)."""
    import torch
    from peft import LoraConfig as PeftConfig
    from peft.utils import get_peft_model_state_dict

    from imagineer_build.kinds.lora.train import TE_TARGETS, UNET_TARGETS, _plain

    parts = {}
    for comp, m in {"unet": unet, **tes}.items():
        m.add_adapter(PeftConfig(r=4, lora_alpha=8, target_modules=UNET_TARGETS if comp == "unet" else TE_TARGETS),
                      adapter_name="t")
        sd = get_peft_model_state_dict(m, adapter_name="t")
        parts[comp] = ({k: torch.zeros(v.shape) for k, v in sd.items()}, _plain(m.peft_config["t"].to_dict()))
    return parts


@pytest.mark.parametrize("arch", ["sd15", "sdxl"])
def test_lora_keys_are_the_names_sd_scripts_writes_and_comfyui_maps(arch, tmp_path):
    from imagineer_build.kinds.lora.export import kohya_state_dict, write_diffusers

    unet, tes = _real_shaped_models(arch)
    weights = {"unet": {k: v.shape for k, v in unet.state_dict().items()},
               **{c: {k: v.shape for k, v in m.state_dict().items()} for c, m in tes.items()}}
    comfy_unet = comfyui_unet_names(weights["unet"])
    comfy_clip = comfyui_clip_names(arch, {c: m.config.num_hidden_layers for c, m in tes.items()})
    prefixes = {"text_encoder": "lora_te" if arch == "sd15" else "lora_te1", "text_encoder_2": "lora_te2"}
    sd_scripts = {c: sd_scripts_names(prefixes[c], m, SD_SCRIPTS_TE_CLASSES, transformers4_clip=True)
                  for c, m in tes.items()}
    if arch == "sd15":  # sd-scripts' SD 1.5 UNet has diffusers' module paths (SDXL's has its own)
        sd_scripts["unet"] = sd_scripts_names("lora_unet", unet, ("Transformer2DModel",))
    parts = _adapter_parts(unet, tes)

    kohya = kohya_state_dict(arch, {c: sd for c, (sd, _) in parts.items()}, 8.0)
    names: dict[str, set[str]] = {}
    for key, tensor in kohya.items():
        split = split_key(key, KOHYA_PARTS)
        assert split, f"ComfyUI would not load {key}"
        name, part = split
        if name.startswith("lora_unet_"):
            comp, path = "unet", comfy_unet.get(name)
        else:
            comp, path = comfy_clip.get(name, (None, None))
            if path is not None and not hasattr(tes[comp], "text_model"):  # transformers 5's CLIPTextModel
                path = path.removeprefix("text_model.")
        assert path is not None, f"ComfyUI maps no {name}"
        out_in = weights[comp][f"{path}.weight"]
        if part == ".lora_down.weight":
            assert tensor.shape[1] == out_in[1]
        elif part == ".lora_up.weight":
            assert tensor.shape[0] == out_in[0]
        names.setdefault(comp, set()).add(name)
    for comp, found in sd_scripts.items():
        assert names[comp] <= found, sorted(names[comp] - found)[:3]
    # nothing was dropped on the way: every adapted module is in the file
    for comp, (sd, _) in parts.items():
        assert len(names[comp]) == len(sd) // 2
    layers = {c: m.config.num_hidden_layers for c, m in tes.items()}
    for comp, count in layers.items():
        assert len(names[comp]) == count * 4  # q, k, v, out of every layer

    # the diffusers file names CLIP layers the way ComfyUI's diffusers mapping expects too
    write_diffusers(tmp_path / "x.safetensors", arch, parts)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "x.safetensors"), "pt") as f:
        te_keys = [k for k in f.keys() if k.startswith("text_encoder")]
    assert len(te_keys) == sum(layers.values()) * 4 * 2
    for key in te_keys:
        split = split_key(key, DIFFUSERS_PARTS)
        assert split and split[0] in comfy_clip, key


def test_our_fit_check_reads_every_layout_of_text_encoder_keys():
    """check_fit's key parser understands what sd-scripts and we write, and what transformers 5
    names without the text_model level (files written before)."""
    from imagineer_build.kinds.generation.lora_stack import _parse_key

    kohya = {"lora_te_text_model_encoder_layers_0_self_attn_q_proj": ("text_encoder", "text_model.encoder.layers.0.self_attn.q_proj"),
             "lora_te1_encoder_layers_0_self_attn_q_proj": ("text_encoder", "encoder.layers.0.self_attn.q_proj")}
    assert _parse_key("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", kohya) == (
        "text_encoder", "text_model.encoder.layers.0.self_attn.q_proj", "down")
    assert _parse_key("text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_linear_layer.up.weight",
                      {}) == ("text_encoder", "text_model.encoder.layers.0.self_attn.q_proj", "up")


# ---- web-UI hashes ---------------------------------------------------------------------------


def _kohya_file(path: Path, info: dict, rank: int = 64) -> Path:
    import torch

    from imagineer_build.kinds.lora.export import write_kohya

    g = torch.Generator().manual_seed(0)
    te = {"text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight": torch.randn(rank, 4096, generator=g),
          "text_model.encoder.layers.0.self_attn.q_proj.lora_B.weight": torch.randn(768, rank, generator=g)}
    write_kohya(path, "cards", "sd15", {"text_encoder": te}, rank, 8.0, info)
    return path


def test_sshs_hashes_are_what_sd_scripts_and_a1111_compute_from_the_written_file(tmp_path):
    from safetensors.torch import save

    from imagineer_build.media.webui_hashes import lora_hash, read_metadata

    path = _kohya_file(tmp_path / "cards.kohya.safetensors", {"target": "cards"})
    data = path.read_bytes()
    assert len(data) > 0x110000  # the legacy hash reads 64 KiB at 1 MiB
    meta = read_metadata(path)
    n = int.from_bytes(data[:8], "little")
    # A1111 / sd-scripts: sha256 of everything after the header, of the file as written
    assert meta["sshs_model_hash"] == hashlib.sha256(data[8 + n:]).hexdigest() == lora_hash(path)
    # the legacy hash is taken of the file saved with only its ss_ metadata (sd-scripts'
    # precalculate_safetensors_hashes); safetensors' own save, whatever its header order
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    ss_only = save(tensors, metadata={k: v for k, v in meta.items() if k.startswith("ss_")})
    assert meta["sshs_legacy_hash"] == hashlib.sha256(ss_only[0x100000:0x110000]).hexdigest()[:8]
    assert meta["ss_output_name"] == "cards"
    # other metadata leaves the hash alone, as it does in the web UIs
    other = _kohya_file(tmp_path / "other.safetensors", {"target": "cards", "note": "different"})
    assert read_metadata(other)["sshs_model_hash"] == meta["sshs_model_hash"]
    assert other.read_bytes() != data
    # a file without the metadata key: A1111 hashes its tensor bytes, and so do we
    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(save(tensors))
    m = int.from_bytes(plain.read_bytes()[:8], "little")
    assert lora_hash(plain) == hashlib.sha256(plain.read_bytes()[8 + m:]).hexdigest()


def test_png_infotext_resolves_in_a1111_and_quotes_what_needs_it(tmp_path):
    from PIL import Image

    from imagineer_build.kinds.generation.pngmeta import with_metadata
    from imagineer_build.media.webui_hashes import lora_hash

    kohya = _kohya_file(tmp_path / "cards.kohya.safetensors", {"target": "cards"})
    import shutil

    odd = tmp_path / "odd, name.safetensors"  # a `path:` LoRA whose stem holds a separator
    shutil.copyfile(kohya, odd)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    params = {"prompt": "a card", "negative": "", "steps": 2, "scheduler": "euler", "guidance": 7.0, "seed": 3,
              "width": 8, "height": 8, "model": "my: model", "model_sha256": None,
              "loras": [{"name": "cards", "weight": 0.7, "webui_hash": lora_hash(kohya)},
                        {"name": "odd, name", "weight": 0.3, "webui_hash": lora_hash(odd)}]}
    text = Image.open(io.BytesIO(with_metadata(buf.getvalue(), params))).text["parameters"]
    fields = a1111_parse(text)
    assert fields["Model"] == "my: model" and fields["Seed"] == "3" and "Model hash" not in fields
    assert a1111_resolve(text, [kohya]) == {"cards": "cards", "odd name": "cards"}
    # another file's hash resolves to nothing: the match is the hash, not the name
    assert a1111_resolve(text.replace(lora_hash(kohya)[:12], "0" * 12), [kohya]) == {}


def test_model_hash_is_the_sha256_of_a_single_checkpoint_file_only(tmp_path):
    """A1111's sd_models.CheckpointInfo: sha256 of the whole file, first 10 hex digits."""
    from imagineer_build.core.kind import BuildContext, FileListing
    from imagineer_build.core.store import LocalStore
    from imagineer_build.kinds.generation.webui import MEMO_NS, checkpoint_sha256
    from imagineer_build.models import ModelSpec

    ckpt = tmp_path / "models" / "mine.safetensors"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"weights" * 1000)
    store = LocalStore(tmp_path / "cache")
    listing = FileListing(ckpt, {"": ("d" * 32, ckpt.stat().st_size)})

    def ctx(inputs):
        return BuildContext("gen", None, tmp_path, {}, store, {}, inputs, False, lambda e: None, tmp_path / "w")

    c = ctx({"models/mine.safetensors": listing})
    spec = ModelSpec(base="models/mine.safetensors")
    assert checkpoint_sha256(c, spec) == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert checkpoint_sha256(c, spec) == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert (c.memos[MEMO_NS].hits, c.memos[MEMO_NS].misses) == (1, 1)  # hashed once
    folder = FileListing(tmp_path / "models", {"model_index.json": ("e" * 32, 2)})
    assert checkpoint_sha256(ctx({"models": folder}), ModelSpec(base="models")) is None
    assert checkpoint_sha256(ctx({}), ModelSpec(base="builtin:tiny-sd")) is None


# ---- sd-scripts dataset.toml and every setting reaching the trainer --------------------------


def _settings(cfg: dict, arch: str = "sd15"):
    return resolve_settings(LoraConfig.model_validate(cfg), arch, {}, {}, 64, 0.0, lambda res, bs: 8)


@pytest.mark.parametrize("arch,resolution", [("sd15", 64), ("sd15", 96), ("sd15", 512), ("sdxl", 64),
                                             ("sdxl", 1024)])
def test_kohya_dataset_toml_passes_sd_scripts_bucket_checks(arch, resolution, tmp_path):
    ts = _settings({"dataset": "d", "model": "m", "resolution": resolution, "steps": 10}, arch)
    files = kohya_configs(ts, BackendConfig(kind="kohya"), "x", "base", {1: tmp_path / "1_x"}, tmp_path)
    ds = tomllib.loads(files["dataset.toml"])
    assert ds["general"]["enable_bucket"] is True and ds["datasets"][0]["resolution"] == resolution
    assert sd_scripts_bucket_problems(ds, arch) == []
    # what was written before this rule existed fails it
    assert sd_scripts_bucket_problems({"general": {"enable_bucket": True},
                                       "datasets": [{"resolution": 64}]}, "sd15") == ["min_bucket_reso 256 > resolution 64"]


def test_ai_toolkit_reads_the_seed_and_the_warmup(tmp_path):
    """ai-toolkit: BaseTrainProcess seeds from the process's `training_seed`; TrainConfig has no
    seed; scheduler.py's constant_with_warmup reads lr_scheduler_params.num_warmup_steps (else 1000)."""
    ts = _settings({"dataset": "d", "model": "m", "steps": 40, "warmup_steps": 7, "seed": 5,
                    "scheduler": "constant_with_warmup"})
    job = yaml.safe_load(ai_toolkit_config(ts, BackendConfig(kind="ai-toolkit"), "x", "base", tmp_path, tmp_path)
                         ["job.yaml"])
    proc = job["config"]["process"][0]
    assert proc["training_seed"] == 5 and "seed" not in proc["train"]
    assert proc["train"]["lr_scheduler"] == "constant_with_warmup"
    assert proc["train"]["lr_scheduler_params"] == {"num_warmup_steps": 7}


# Every field of the `loras:` spec, with a value other than BASE's: it must change the config
# the trainer reads, or check() must refuse it. A field added to LoraConfig without an entry
# here fails the test.
BASE = {"dataset": "d", "model": "builtin:tiny-sd", "rank": 4, "alpha": 8.0, "steps": 20, "lr": 1e-4,
        "scheduler": "constant_with_warmup", "warmup_steps": 2, "batch_size": 2, "gradient_accumulation": 1,
        "resolution": 64, "mixed_precision": "fp16", "optimizer": "adamw", "train_text_encoder": True,
        "sample_prompts": ["a circle"], "save_every": 100}
CHANGES = {
    "rank": [{"rank": 8}], "alpha": [{"alpha": 2.0}], "dropout": [{"dropout": 0.1}],
    "steps": [{"steps": 30}], "epochs": [{"steps": None, "epochs": 3}], "lr": [{"lr": 3e-4}],
    "text_encoder_lr": [{"text_encoder_lr": 5e-5}],
    "scheduler": [{"scheduler": "constant", "warmup_steps": None}]
    + [{"scheduler": s} for s in ("cosine", "cosine_with_restarts", "linear", "polynomial")]
    + [{"scheduler": s, "warmup_steps": 0} for s in ("cosine", "cosine_with_restarts", "linear")],
    "warmup_steps": [{"warmup_steps": 5}, {"scheduler": "constant", "warmup_steps": 5}],
    "batch_size": [{"batch_size": 4}], "gradient_accumulation": [{"gradient_accumulation": 2}],
    "resolution": [{"resolution": 128}], "seed": [{"seed": 9}], "train_text_encoder": [{"train_text_encoder": False}],
    "noise_offset": [{"noise_offset": 0.05}], "min_snr_gamma": [{"min_snr_gamma": 5.0}],
    "caption_dropout": [{"caption_dropout": 0.1}], "flip": [{"flip": True}], "clip_skip": [{"clip_skip": 2}],
    "prediction_type": [{"prediction_type": "v_prediction"}],
    "gradient_checkpointing": [{"gradient_checkpointing": True}],
    "mixed_precision": [{"mixed_precision": m} for m in ("no", "bf16")],
    "optimizer": [{"optimizer": "adamw8bit"}], "weight_decay": [{"weight_decay": 0.0}],
    "max_grad_norm": [{"max_grad_norm": 0.5}, {"max_grad_norm": None}], "save_every": [{"save_every": 50}],
    "sample_every": [{"sample_every": 10}], "sample_prompts": [{"sample_prompts": ["a square"]}],
    "sample_steps": [{"sample_steps": 8}], "sample_guidance": [{"sample_guidance": 3.0}],
    "backend": [],  # walked below, field by field
}
BACKEND_CHANGES = {"arch": [{"arch": a} for a in ("sd15", "sdxl", "flux")], "extra": [{"extra": {"lr": 0.5}}]}
# Not trainer settings: what to build on (the engine resolves them; test_lora_external runs them
# for real) and how to run the trainer (the command line, or not at all).
NOT_SETTINGS = {"dataset", "model", "kind", "command", "dry_run"}


def _written(cfg: LoraConfig, arch: str, tmp_path: Path) -> dict[str, str]:
    ts = resolve_settings(cfg, arch, {}, {}, 64, 0.0, lambda res, bs: 8)
    be = cfg.backend
    assert refusals(be.kind, (be.arch or arch) if be.kind == "ai-toolkit" else arch, ts.to_dict(), True) == []
    make = kohya_configs if be.kind == "kohya" else ai_toolkit_config
    where = {1: tmp_path / "1_x"} if be.kind == "kohya" else tmp_path / "dataset"
    return make(ts, be, "x", "base", where, tmp_path)


@pytest.mark.parametrize("kind,model,arch", [("kohya", "builtin:tiny-sd", "sd15"), ("kohya", "builtin:tiny-sdxl", "sdxl"),
                                             ("ai-toolkit", "builtin:tiny-sd", "sd15"),
                                             ("ai-toolkit", "builtin:tiny-sdxl", "sdxl")])
def test_every_setting_reaches_the_external_trainer_or_is_refused(kind, model, arch, tmp_path):
    assert set(LoraConfig.model_fields) - NOT_SETTINGS == set(CHANGES)
    assert set(BackendConfig.model_fields) - NOT_SETTINGS == set(BACKEND_CHANGES)
    settings = {"root": str(tmp_path)}
    base_cfg = {**BASE, "model": model, "backend": {"kind": kind}}

    def outcome(cfg_dict):
        cfg = LoraConfig.model_validate({k: v for k, v in cfg_dict.items() if v is not None or k == "max_grad_norm"})
        problems = LoraKind().check(cfg, settings)
        return problems, (None if problems else _written(cfg, arch, tmp_path))

    problems, base = outcome(base_cfg)
    assert problems == [] and base
    reached, refused = [], []
    for field, changes in CHANGES.items():
        for change in changes:
            problems, written = outcome({**base_cfg, **change})
            if problems:
                assert all(msg for _, msg in problems)
                assert {path[0] for path, _ in problems} & set(change), (field, change, problems)
                refused.append((field, change))
            else:
                assert written != base, f"{kind}: {field}={change} does not reach the trainer's config"
                reached.append(field)
    for field, changes in BACKEND_CHANGES.items():
        for change in changes:
            problems, written = outcome({**base_cfg, "backend": {"kind": kind, **change}})
            if problems:
                assert [path for path, _ in problems] == [("backend", field)], problems
                refused.append((field, change))
            else:
                assert written != base or change.get("arch") == arch, (kind, change)
    # the refusals are the ones each trainer's code calls for, no more
    expected = {("warmup_steps", "constant")}
    if kind == "ai-toolkit":
        expected |= {("text_encoder_lr", None), ("scheduler", "cosine"), ("scheduler", "cosine_with_restarts"),
                     ("scheduler", "linear"), ("scheduler", "polynomial"), ("clip_skip", None), ("max_grad_norm", None)}
    if kind == "kohya":
        expected |= {("arch", a) for a in ("sd15", "sdxl", "flux") if a != arch}
        if arch == "sdxl":
            expected.add(("clip_skip", None))
    got = {(f, c.get("scheduler") if f in ("scheduler", "warmup_steps") else c.get("arch")) for f, c in refused
           if not (f == "max_grad_norm" and c["max_grad_norm"] is not None)}
    assert got == expected


def test_refusals_point_at_the_spec_line(project):
    project.spec("""
        loras:
          style:
            dataset: ds
            model: builtin:tiny-sd
            scheduler: cosine
            clip_skip: 2
            backend: {kind: ai-toolkit, dry_run: true}
    """)
    r = project.run("status")
    assert r.code != 0
    err = r.out + r.err
    assert "main.yaml:5" in err and "has no warmup" in err and "warmup_steps: 0" in err
    assert "main.yaml:6" in err and "clip_skip" in err


# ---- schema ----------------------------------------------------------------------------------


def test_schema_size_sides_are_multiples_of_8_like_the_validator():
    from pydantic import ValidationError

    from imagineer_build.kinds.generation.config import GenerationConfig
    from imagineer_build.schema import spec_schema

    size = spec_schema()["$defs"]["GenerationConfig"]["properties"]["size"]
    sides = size["prefixItems"]
    assert [s["multipleOf"] for s in sides] == [8, 8] and [s["minimum"] for s in sides] == [8, 8]
    for w, h in [(512, 512), (512, 720), (100, 64), (0, 64), (8, 16), (64, 60)]:
        schema_ok = all(v >= s["minimum"] and v % s["multipleOf"] == 0 for v, s in zip((w, h), sides, strict=True))
        try:
            GenerationConfig(prompt="x", size=(w, h))
            valid = True
        except ValidationError:
            valid = False
        assert schema_ok == valid, (w, h)


# ---- end to end: trained files in diffusers, our fit check, A1111 ---------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two tiny LoRAs trained with their text encoders (SD 1.5 and SDXL) and a generation
    that uses the SD 1.5 one, through the real engine in one process."""
    import torch
    from lora_helpers import make_project

    root = make_project(tmp_path_factory.mktemp("interop") / "p", images=4)
    common = {"dataset": "ds", "rank": 2, "steps": 2, "batch_size": 2, "gradient_accumulation": 1, "lr": 1e-2,
              "train_text_encoder": True, "save_every": 1000}
    spec = {"testdatasets": {"ds": {"dir": "data/shapes"}},
            "loras": {"te15": {**common, "model": "builtin:tiny-sd"},
                      "texl": {**common, "model": "builtin:tiny-sdxl"}},
            "generations": {"cards": {"prompt": "a red circle", "model": "builtin:tiny-sd", "size": [64, 64],
                                      "steps": 2, "loras": [{"use": "te15", "weight": 0.7}]}}}
    (root / "specs" / "main.yaml").write_text(yaml.safe_dump(spec))
    torch.set_num_threads(1)
    return root


@pytest.mark.slow
def test_trained_files_load_bit_identically_and_name_keys_other_tools_map(trained, monkeypatch):
    import numpy as np
    import torch
    from lora_helpers import build_in_process
    from safetensors import safe_open

    from imagineer_build.kinds.generation.lora_stack import StackedLora, check_fit
    from imagineer_build.models import resolve_model
    from imagineer_build.models.loading import load_pipeline

    results, _ = build_in_process(trained, monkeypatch)
    assert {n: r.status for n, r in results.items()} == {"ds": "built", "te15": "built", "texl": "built",
                                                        "cards": "built"}, [r.error for r in results.values()]
    for target, model in (("te15", "builtin:tiny-sd"), ("texl", "builtin:tiny-sdxl")):
        out = trained / "out" / target
        spec = resolve_model(model, {})
        arch = spec.arch
        pipes = []
        for name in (f"{target}.safetensors", f"{target}.kohya.safetensors"):
            pipe = load_pipeline(spec, trained, trained / "cache" / "models")
            pipe.set_progress_bar_config(disable=True)
            check_fit(StackedLora(target, name, out / name, "d", 1.0), pipe, model, arch)
            pipe.load_lora_weights(str(out / name), adapter_name="t")
            comps = ["unet", "text_encoder"] + (["text_encoder_2"] if arch == "sdxl" else [])
            assert pipe.get_list_adapters() == {c: ["t"] for c in comps}
            pipes.append(pipe)
        a, b = pipes
        for comp in ("unet", "text_encoder", "text_encoder_2"):
            if getattr(a, comp, None) is None:
                continue
            la = {k: v for k, v in getattr(a, comp).state_dict().items() if "lora" in k}
            lb = {k: v for k, v in getattr(b, comp).state_dict().items() if "lora" in k}
            assert la.keys() == lb.keys() and la
            assert all(torch.equal(la[k], lb[k]) for k in la), comp
            assert any(v.abs().sum() > 0 for k, v in la.items() if "lora_B" in k)  # trained, not zero

        def image(p):
            return p("a red circle", num_inference_steps=2, height=64, width=64, output_type="np",
                     generator=torch.Generator().manual_seed(1)).images

        assert np.array_equal(image(a), image(b))
        # our fit check reads kohya text-encoder keys: one of another width is caught
        from safetensors.torch import save_file

        from imagineer_build.kinds.generation.lora_stack import LoraError

        bad = out.parent / f"{target}-bad.safetensors"
        te_key = "lora_te1" if arch == "sdxl" else "lora_te"
        save_file({f"{te_key}_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": torch.zeros(2, 7),
                   f"{te_key}_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": torch.zeros(32, 2)},
                  str(bad))
        with pytest.raises(LoraError, match=r"text_encoder\.text_model\.encoder\.layers\.0\.self_attn\.q_proj \(in 7"):
            check_fit(StackedLora("bad", "path:bad", bad, "d", 1.0), a, model, arch)
        # the kohya file: text-encoder keys in the form ComfyUI maps, hashes A1111 resolves
        with safe_open(str(out / f"{target}.kohya.safetensors"), "pt") as f:
            te = {k for k in f.keys() if k.startswith("lora_te")}
            meta = f.metadata()
        layers = {"text_encoder": 2} if arch == "sd15" else {"text_encoder": 2, "text_encoder_2": 2}
        comfy = comfyui_clip_names(arch, layers)
        assert te and all(split_key(k, KOHYA_PARTS)[0] in comfy for k in te)
        assert a1111_lora_entry(out / f"{target}.kohya.safetensors") == (target, meta["sshs_model_hash"][:12])

    # the generation's PNG names the LoRA by the hash A1111 finds it by; no Model hash for a builtin
    from PIL import Image

    png = next((trained / "out" / "cards" / "images").glob("*.png"))
    text = Image.open(png).text["parameters"]
    assert "Model hash" not in a1111_parse(text)
    kohya_files = [trained / "out" / t / f"{t}.kohya.safetensors" for t in ("te15", "texl")]
    assert a1111_resolve(text, kohya_files) == {"te15": "te15"}
    sidecar = json.loads(png.with_suffix(".json").read_text())
    assert sidecar["loras"][0]["webui_hash"][:12] == a1111_lora_entry(kohya_files[0])[1]
