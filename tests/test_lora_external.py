"""backend: kohya | ai-toolkit — configs that parse, a stand-in trainer run for real, clear errors."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from lora_helpers import lora_spec, make_project
from test_lora import build, target_event

HELPER = str(Path(__file__).resolve().parent / "lora_helpers.py")


def project(tmp_path, backend: dict, name: str = "p", model: str = "builtin:tiny-sd"):
    root = make_project(tmp_path / name, images=3)
    (root / "specs" / "main.yaml").write_text(lora_spec(steps=7, rank=6, alpha=3, backend=backend, model=model,
                                                        sample_prompts=["a red circle"], sample_every=5))
    return root


def local_model(root):
    """A local diffusers folder named in imagineer.yaml (external trainers only read its path)."""
    folder = root / "models" / "my-sd"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    settings = root / "imagineer.yaml"
    settings.write_text(settings.read_text() + "models:\n  my-sd: {base: models/my-sd, arch: sd15}\n")
    return folder


@pytest.mark.slow
def test_kohya_backend_runs_the_configured_command(tmp_path):
    root = project(tmp_path, {"kind": "kohya",
                              "command": [sys.executable, HELPER, "fake-trainer", "kohya", "--config_file", "{config}"]})
    code, events, err = build(root)
    assert code == 0, (events, err)
    ev = target_event(events, "style")
    assert ev["status"] == "built" and ev["facts"]["backend"] == "kohya"
    out = root / "out" / "style"
    args = tomllib.loads((out / "backend" / "config.toml").read_text())
    assert (args["network_dim"], args["network_alpha"], args["max_train_steps"]) == (6, 3.0, 7)
    assert args["network_module"] == "networks.lora" and args["output_name"] == "style"
    assert args["pretrained_model_name_or_path"].endswith("builtin-tiny-sd-v1")
    assert args["sample_every_n_steps"] == 5
    ds = tomllib.loads((out / "backend" / "dataset.toml").read_text())
    assert ds["datasets"][0]["resolution"] == 64 and ds["datasets"][0]["subsets"][0]["num_repeats"] == 1
    # the trainer's output streamed into progress and taken into the store
    progress = [e for e in events if e.get("event") == "progress" and e["target"] == "style"]
    assert [e["done"] for e in progress][-1] == 7 and progress[-1]["total"] == 7
    assert any(e.get("event") == "log" and "fake trainer: 3 images" in e["message"] for e in events)
    from lora_helpers import read_lora

    w = read_lora(out / "style.safetensors")
    assert w["lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight"].shape == (6, 32)
    import json

    info = json.loads((out / "training.json").read_text())
    assert info["loss_history"][0] == 1.0 and info["loss_history"][-1] == round(1 / 7, 4)


def test_ai_toolkit_dry_run_and_missing_command(tmp_path):
    root = project(tmp_path, {"kind": "ai-toolkit", "arch": "flux", "extra": {"train": {"lr": 0.0004}}},
                   model="my-sd")
    folder = local_model(root)
    code, events, _ = build(root)
    ev = target_event(events, "style")
    assert code == 1 and ev["status"] == "failed"
    assert "has no command" in ev["error"] and "backend_commands" in ev["error"] and "dry_run" in ev["error"]

    # `build --dry-run` trains nothing and records nothing, but writes the trainer's config
    code, events, err = build(root, "--dry-run")
    assert code == 0, err
    assert target_event(events, "style")["status"] == "stale"
    preview = yaml.safe_load((root / "out" / "style.dry-run" / "backend" / "job.yaml").read_text())
    assert preview["config"]["process"][0]["network"]["linear"] == 6
    assert not (root / "out" / "style").exists()
    assert target_event(build(root, "--dry-run")[1], "style")["status"] == "stale"

    code, events, err = build(root, "--set", "style:backend.dry_run=true")
    assert code == 0, err
    job = yaml.safe_load((root / "out" / "style" / "backend" / "job.yaml").read_text())
    proc = job["config"]["process"][0]
    assert proc["network"] == {"type": "lora", "linear": 6, "linear_alpha": 3.0}
    assert proc["model"]["is_flux"] is True and proc["train"]["noise_scheduler"] == "flowmatch"
    assert proc["train"]["lr"] == 0.0004 and proc["train"]["steps"] == 7  # extra merged over ours
    # the artifact names no absolute path: a model inside the project, relative to the project
    assert proc["model"]["name_or_path"] == str(folder.relative_to(root))
    # a dry run is self-contained: paths relative to backend/, the dataset laid out beside the config
    assert proc["datasets"][0]["folder_path"] == "dataset" and proc["training_folder"] == "output"
    backend = root / "out" / "style" / "backend"
    assert sorted(p.name for p in (backend / "dataset").iterdir()) == [
        "image_0001.png", "image_0001.txt", "image_0002.png", "image_0002.txt", "image_0003.png", "image_0003.txt"]
    assert not (root / "out" / "style" / "style.safetensors").exists()


def test_ai_toolkit_command_from_imagineer_yaml_and_failure_output(tmp_path, monkeypatch):
    root = project(tmp_path, {"kind": "ai-toolkit"}, model="my-sd")
    local_model(root)
    settings = root / "imagineer.yaml"
    settings.write_text(settings.read_text() + yaml.safe_dump({"defaults": {"loras": {"backend_commands": {
        "ai-toolkit": [sys.executable, HELPER, "fake-trainer", "ai-toolkit", "{config}"]}}}}))
    monkeypatch.setenv("FAKE_TRAINER_EXIT", "3")
    code, events, _ = build(root)
    ev = target_event(events, "style")
    assert code == 1 and "exited with status 3" in ev["error"] and "saving" in ev["error"]
    monkeypatch.delenv("FAKE_TRAINER_EXIT")
    code, events, err = build(root)
    assert code == 0, (events, err)
    out = root / "out" / "style"
    job = yaml.safe_load((out / "backend" / "job.yaml").read_text())
    assert job["config"]["process"][0]["model"]["name_or_path"].endswith("models/my-sd")
    assert (out / "style.safetensors").is_file() and (out / "style.kohya.safetensors").is_file()
