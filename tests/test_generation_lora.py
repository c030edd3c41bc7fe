"""LoRA stacks in generation: real peft LoRA files on the tiny models, real diffusers adapters."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from generation_helpers import CARD_ROWS, make_lora, tiny_settings, write_csv
from PIL import Image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lora_files(tmp_path_factory):
    """Two SD 1.5 LoRAs (different random weights) and one SDXL LoRA, made once for the module."""
    d = tmp_path_factory.mktemp("loras")
    store = d / "store"
    return {
        "a": make_lora(d / "cards_a.safetensors", store, seed=1),
        "b": make_lora(d / "cards_b.safetensors", store, seed=2),
        "xl": make_lora(d / "xl_style.safetensors", store, arch="sdxl", seed=3),
    }


def spec(loras: dict[str, str]) -> str:
    lines = ["generations:"]
    for name, stack in loras.items():
        lines += [f"  {name}:", "    template: data/deck.csv", '    prompt: "{value} of {suit}"',
                  "    model: tiny", "    size: [64, 64]", "    steps: 3", f"    loras: {stack}"]
    return "\n".join(lines) + "\n"


def setup(project, lora_files):
    project.root.joinpath("imagineer.yaml").write_text(tiny_settings())
    write_csv(project.root / "data/deck.csv", CARD_ROWS[:2])
    folder = project.root / "loras"
    folder.mkdir(exist_ok=True)
    for path in lora_files.values():
        shutil.copy(path, folder / path.name)


def image(project, target, name="001_ace-of-spades.png"):
    with Image.open(project.root / "out" / target / "images" / name) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16), im.text["parameters"]


def target_event(run, name):
    return next(e for e in run.events() if e.get("event") == "target" and e["target"] == name)


def test_lora_stacks_change_pixels_weights_matter_and_a_wrong_arch_lora_fails_first(project, lora_files):
    setup(project, lora_files)
    targets = {
        "plain": "[]",
        "half": "[{path: loras/cards_a.safetensors, weight: 0.5}]",
        "full": "[{path: loras/cards_a.safetensors, weight: 1.0}]",
        "stack": "[{path: loras/cards_a.safetensors, weight: 0.6}, {path: loras/cards_b.safetensors, weight: 0.2}]",
    }
    project.spec(spec(targets))
    r = project.build()
    assert r.code == 0, r.out[-3000:] + r.err[-3000:]
    plain, _ = image(project, "plain")
    half, half_text = image(project, "half")
    full, _ = image(project, "full")
    stack, stack_text = image(project, "stack")
    assert np.abs(plain - half).max() > 10
    assert np.abs(half - full).max() > 10
    assert np.abs(stack - plain).max() > 10 and np.abs(stack - half).max() > 10
    assert "<lora:cards_a:0.5>" in half_text.splitlines()[0]
    assert "<lora:cards_a:0.6> <lora:cards_b:0.2>" in stack_text.splitlines()[0]
    assert "Lora hashes:" in stack_text

    # An SDXL LoRA in the stack: a clear error before any image of the target is generated.
    wrong = "[{path: loras/cards_b.safetensors, weight: 0.5}, {path: loras/xl_style.safetensors, weight: 0.5}]"
    project.spec(spec({**targets, "plain": wrong}))
    r = project.build("plain")
    assert r.code != 0
    text = r.out + r.err
    assert "LoRA path:loras/xl_style.safetensors does not fit model 'tiny' (sd15)" in text
    assert "made for another architecture" in text

    # Adding a LoRA to a target regenerates every one of its images.
    project.spec(spec({**targets, "plain": "[{path: loras/cards_b.safetensors, weight: 0.5}]"}))
    r = project.build("plain")
    assert r.code == 0
    assert target_event(r, "plain")["memo"]["generation.image"] == {"hits": 0, "misses": 2}


def test_apply_and_remove_leaves_the_pipeline_unchanged(tmp_path, lora_files):
    """In-process: the warm pipeline a generation borrowed has no adapters left and gives the
    same pixels as before; diffusers really loaded the adapter (not silently ignored)."""
    import torch

    from imagineer_build.kinds.generation.lora_stack import StackedLora, applied
    from imagineer_build.models import ModelSpec, pipeline_cache

    spec_ = ModelSpec(base="builtin:tiny-sd")
    lora = StackedLora("cards_a", "path:cards_a", lora_files["a"], "d" * 32, 0.8)

    def run(pipe):
        return pipe("an ace", num_inference_steps=2, height=64, width=64, output_type="np",
                    generator=torch.Generator().manual_seed(3)).images

    with pipeline_cache.lease(spec_, tmp_path, tmp_path) as pipe:
        before = run(pipe)
        with applied(pipe, [lora], tmp_path, "tiny", "sd15"):
            assert any(n.startswith("imagineer_lora_0_") for ns in pipe.get_list_adapters().values() for n in ns)
            during = run(pipe)
        assert pipe.get_list_adapters() == {}
        after = run(pipe)
    assert np.abs(before - during).max() > 0.02
    assert np.array_equal(before, after)


def test_a_lora_target_from_the_store_feeds_a_generation(project, shapes):
    """The whole chain: folder source → sidecar labels → dataset → LoRA → card deck with `use:`."""
    project.root.joinpath("imagineer.yaml").write_text(tiny_settings())
    write_csv(project.root / "data/deck.csv", CARD_ROWS[:2])
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        labels:
          shapes-labels: {of: shapes, labeler: sidecar}
        datasets:
          shapes-ds: {from: [shapes-labels], trigger: shpz, resolution: 64, format: kohya}
        loras:
          shapes-lora: {dataset: shapes-ds, model: tiny, rank: 4, steps: 2}
        generations:
          deck:
            template: data/deck.csv
            prompt: "shpz, {value} of {suit}"
            model: tiny
            size: [64, 64]
            steps: 3
            loras: [{use: shapes-lora, weight: 0.8}]
    """)
    r = project.build("deck")
    assert r.code == 0, r.out[-3000:] + r.err[-3000:]
    assert r.statuses()["shapes-lora"] == "built" and r.statuses()["deck"] == "built"
    lora_ev = target_event(r, "shapes-lora")
    _, text = image(project, "deck")
    assert "<lora:shapes-lora:0.8>" in text.splitlines()[0]
    shown = project.run("show", "deck")
    assert "LoRA use:shapes-lora × 0.8" in shown.out
    # The LoRA's artifact digest is part of the deck's key: retraining it differently rebuilds the deck.
    project.spec(project.root.joinpath("specs/main.yaml").read_text().replace("steps: 2", "steps: 3"))
    r2 = project.build("deck")
    assert target_event(r2, "shapes-lora")["artifact"] != lora_ev["artifact"]
    assert target_event(r2, "deck")["memo"]["generation.image"] == {"hits": 0, "misses": 2}
