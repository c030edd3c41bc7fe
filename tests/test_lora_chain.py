"""The whole chain through the real kinds: sources → labels (sidecar) → datasets → loras."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_lora_trains_on_a_real_dataset_target(project, shapes):
    (project.root / "imagineer.yaml").write_text("cache: cache\nout: out\nthreads: 1\n")
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        labels:
          shapes-labels: {of: shapes, labeler: sidecar}
        datasets:
          shapes-ds: {from: [shapes-labels], trigger: shpz, resolution: 64, format: kohya, repeats: 2}
        loras:
          shapes-lora: {dataset: shapes-ds, model: builtin:tiny-sd, rank: 4, epochs: 1}
    """)
    run = project.build()
    assert run.code == 0, run.out[-3000:] + run.err[-3000:]
    assert run.statuses() == {"shapes": "built", "shapes-labels": "built", "shapes-ds": "built",
                              "shapes-lora": "built"}
    ev = next(e for e in run.events() if e.get("target") == "shapes-lora" and e.get("event") == "target")
    info = json.loads((project.root / "out" / "shapes-lora" / "training.json").read_text())
    ds = next(e for e in run.events() if e.get("target") == "shapes-ds" and e.get("event") == "target")
    assert info["dataset_artifact"] == ds["artifact"]
    # the dataset's recommendation (batch 1 for a small set) and its repeats shape the run:
    # 12 images × 2 repeats = 24 micro-batches of 1, accumulated 4 at a time → 6 steps per epoch
    assert info["settings"]["batch_size"] == 1 and info["settings"]["gradient_accumulation"] == 4
    assert info["steps"] == 6 and info["settings"]["resolution"] == 64
    assert ev["memo"]["lora.latents"]["misses"] == 12 and ev["memo"]["lora.text"]["misses"] == 12
    assert (project.root / "out" / "shapes-lora" / "shapes-lora.safetensors").is_file()
