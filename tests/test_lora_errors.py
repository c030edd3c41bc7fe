"""Bad input to a lora target: clear errors, nothing lost."""

from __future__ import annotations

import pytest
from lora_helpers import build_in_process, lora_spec, make_project
from test_lora import target_event


@pytest.mark.slow
def test_unreadable_image_is_reported_and_diverging_loss_stops_with_the_step_named(tmp_path, monkeypatch):
    root = make_project(tmp_path / "p")
    (root / "data" / "shapes" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    (root / "data" / "shapes" / "broken.txt").write_text("a broken file")
    (root / "specs" / "main.yaml").write_text(
        lora_spec(lr=1e12, steps=40, max_grad_norm=None, scheduler="constant"))
    results, events = build_in_process(root, monkeypatch)
    ev = target_event(events, "style")
    assert ev["status"] == "failed"
    assert "TrainingError: loss is" in ev["error"] and "at step " in ev["error"] and "lr" in ev["error"]
    step = int(ev["error"].split("at step ")[1].split(":")[0])
    assert 1 <= step < 40
    assert target_event(events, "ds")["status"] == "built"  # the upstream is kept
    assert not (root / "out" / "style").exists()
    warnings = [e["message"] for e in events if e.get("event") == "log" and e.get("level") == "warning"]
    assert any("leaving out img/broken.png" in w and "cannot read it" in w for w in warnings), warnings
    assert any(e.get("event") == "progress" and e["target"] == "style" and e.get("total") == 40 for e in events)


def test_spec_errors_name_the_field(tmp_path):
    import os
    import subprocess

    from conftest import imagineer_exe
    from lora_helpers import ENV

    root = make_project(tmp_path / "p", images=2)
    (root / "specs" / "main.yaml").write_text(lora_spec(model="sd99", epochs=3))
    p = subprocess.run([*imagineer_exe(), "status"], cwd=root, capture_output=True, text=True,
                       env={**os.environ, **ENV})
    assert p.returncode != 0
    text = p.stdout + p.stderr
    assert "unknown model 'sd99'" in text and "models:" in text
    assert "give steps or epochs, not both" in text
    assert "main.yaml:" in text  # positioned


def test_lora_module_import_stays_light():
    import subprocess
    import sys

    code = ("import sys, imagineer_build.kinds.lora as k; "
            "bad = [m for m in ('torch', 'diffusers', 'peft', 'transformers') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
