"""A killed training resumes from its last checkpoint and ends with the same weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from conftest import imagineer_exe
from lora_helpers import ENV, build_in_process, copy_project, lora_spec, make_project, read_lora
from test_lora import build, target_event


@pytest.mark.slow
def test_killed_training_resumes_to_identical_weights(tmp_path, monkeypatch):
    # two bucket sizes, dropout, flip and caption dropout: every random stream must survive the restart
    spec = lora_spec(lr=3e-3, steps=30, batch_size=2, save_every=5, dropout=0.1, flip=True,
                     caption_dropout=0.2, scheduler="cosine", warmup_steps=5,
                     dataset_extra="    buckets: [[64, 64], [64, 96]]\n")
    killed = make_project(tmp_path / "killed")
    (killed / "specs" / "main.yaml").write_text(spec)
    whole = copy_project(killed, tmp_path / "whole")

    proc = subprocess.Popen([*imagineer_exe(), "build", "--json"], cwd=killed, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env={**os.environ, **ENV})
    seen = []
    deadline = time.monotonic() + 300
    try:
        for line in proc.stdout:
            ev = json.loads(line) if line.startswith("{") else {}
            seen.append(ev)
            if ev.get("event") == "log" and ev.get("message", "").startswith("checkpoint at step"):
                os.kill(proc.pid, signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "no checkpoint event"
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not any(e.get("event") == "target" and e["target"] == "style" for e in seen), "finished before the kill"
    assert not (killed / "out" / "style").exists()

    code, events, err = build(killed)
    assert code == 0, err[-3000:]
    resumed = [e["message"] for e in events if e.get("event") == "log" and "resuming" in e.get("message", "")]
    assert len(resumed) == 1 and "at step" in resumed[0]
    step = int(resumed[0].split("at step ")[1].split()[0])
    assert 5 <= step < 30 and step % 5 == 0
    ev = target_event(events, "style")
    assert ev["memo"]["lora.latents"]["misses"] == 0  # the killed run's latents were kept too
    progress = [e["done"] for e in events if e.get("event") == "progress" and e["target"] == "style"
                and e.get("total") == 30]
    assert progress and min(progress) == step + 1  # the steps before the checkpoint were not redone

    results, _ = build_in_process(whole, monkeypatch)  # the uninterrupted run: same code, same threads
    assert results["style"].status == "built", results["style"].error
    a = read_lora(killed / "out" / "style" / "style.safetensors")
    b = read_lora(whole / "out" / "style" / "style.safetensors")
    assert a.keys() == b.keys() and len(a) > 0
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= 1e-6, worst
    ja = json.loads((killed / "out" / "style" / "training.json").read_text())
    jb = json.loads((whole / "out" / "style" / "training.json").read_text())
    assert ev["run"]["resumed_from"] == step and results["style"].run["resumed_from"] == 0  # run facts
    assert "resumed_from" not in ja  # …not artifact bytes: a resumed run and a whole one are the same
    assert ja["loss_history"] == pytest.approx(jb["loss_history"], abs=1e-6)
