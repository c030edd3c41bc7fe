"""The claude labeler over real HTTP against tests/fake_anthropic.py, driven through the CLI."""

from __future__ import annotations

import base64
import io
import json
import shutil
import sqlite3
import time

import pytest
from fake_anthropic import FakeAnthropic
from PIL import Image

from imagineer_build.kinds.label.config import BUILTIN

KEY = "sk-ant-test-0123456789-SECRET-never-stored"


@pytest.fixture
def fake():
    with FakeAnthropic(api_key=KEY) as f:
        yield f


def env(**extra):
    return {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": "", **extra}


def spec(project, fake, extra: str = "", labeler: str = "labeler: claude", concurrency: int = 4):
    project.spec(f"""
        sources:
          shapes: {{dir: data/shapes}}
        labels:
          caps:
            of: shapes
            {labeler}
            base_url: {fake.url}
            concurrency: {concurrency}
            {extra}
    """)


def show(project, target="caps"):
    r = project.run("show", target, "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    stems = {im["digest"]: im["path"].rsplit("/", 1)[-1].rsplit(".", 1)[0] for im in data["meta"]["album"]["images"]}
    return {stems[d]: lab for d, lab in data["meta"]["labels"].items()}, data


def target_event(run, name="caps"):
    return next(e for e in run.events() if e.get("event") == "target" and e["target"] == name)


def memo_count(project) -> int:
    con = sqlite3.connect(project.root / "cache" / "memo.sqlite")
    try:
        return con.execute("SELECT COUNT(*) FROM memo WHERE ns='labels.claude'").fetchone()[0]
    finally:
        con.close()


@pytest.mark.slow
def test_claude_labels_every_image_with_the_expected_request(project, shapes, fake):
    spec(project, fake, "model: claude-test-model\n            prompt: sd_training")
    r = project.build(env=env())
    assert r.code == 0, r.err
    assert fake.counts["messages"] == 12
    labs, data = show(project)
    for stem, lab in labs.items():
        image = next(p for p in shapes.glob(stem + ".*") if p.suffix != ".txt").read_bytes()  # sent as is
        assert lab["caption"] == FakeAnthropic.caption_for(image)
        assert lab["labeler"] == "claude" and lab["model"] == "claude-test-model"
        assert lab["nsfw"] == "SAFE" and lab["confidence"] == 0.9
        assert lab["prompt_version"].startswith("sd_training@")
        assert lab["error"] is None
    assert data["meta"]["summary"]["labelled"] == 12
    req = fake.requests[0]
    assert req["headers"].get("authorization") == f"Bearer {KEY}" or req["headers"].get("x-api-key") == KEY
    assert "anthropic-version" in req["headers"]
    body = req["body"]
    assert body["model"] == "claude-test-model"
    assert "temperature" not in body and body["max_tokens"] == 1024
    assert body["tool_choice"] == {"type": "tool", "name": body["tools"][0]["name"]}
    schema = body["tools"][0]["input_schema"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"caption", "tags", "nsfw"}
    assert schema["properties"]["nsfw"]["enum"] == ["SAFE", "SUGGESTIVE", "ADULT", "EXPLICIT"]
    assert "Stable Diffusion" in body["system"]
    media = {r["body"]["messages"][0]["content"][0]["source"]["media_type"] for r in fake.requests}
    assert media == {"image/png", "image/jpeg"}
    # the key is read from the environment at build time and written nowhere under the project
    for p in project.root.rglob("*"):
        if p.is_file():
            assert KEY.encode() not in p.read_bytes(), f"API key found in {p}"


@pytest.mark.slow
def test_one_new_image_costs_one_call_prompt_change_and_refresh_relabel(project, shapes, fake):
    spec(project, fake)
    assert project.build(env=env()).code == 0
    assert fake.counts["messages"] == 12
    again = project.build(env=env())
    assert again.statuses()["caps"] == "cached" and fake.counts["messages"] == 12
    shutil.copy(shapes / "shape_000.png", shapes / "flipped.png")
    Image.open(shapes / "flipped.png").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(shapes / "flipped.png")
    r = project.build(env=env())
    assert r.statuses()["caps"] == "built", r.err
    assert fake.counts["messages"] == 13
    assert target_event(r)["memo"]["labels.claude"] == {"hits": 12, "misses": 1}
    labs, _ = show(project)
    assert labs["flipped"]["caption"] == FakeAnthropic.caption_for((shapes / "flipped.png").read_bytes())
    spec(project, fake, "context: a deck of flat geometric cards")
    r = project.build(env=env())
    assert r.code == 0 and fake.counts["messages"] == 26
    assert "a deck of flat geometric cards" in fake.requests[-1]["body"]["system"]
    r = project.build("--refresh", "caps", env=env())
    assert r.statuses()["caps"] == "built" and fake.counts["messages"] == 39


@pytest.mark.slow
def test_retries_failures_refusals_and_malformed_answers(project, shapes, fake):
    png = lambda n: (shapes / f"shape_{n:03d}.png").read_bytes()  # noqa: E731
    fake.script(png(0), "429", "ok")
    fake.script(png(1), "500")
    fake.script(png(2), "refusal")
    fake.script(png(4), "malformed")
    fake.script(png(5), "text")
    fake.script(png(6), "ok:EXPLICIT")
    spec(project, fake, "max_retries: 1")
    r = project.build(env=env())
    assert r.code == 0, r.err  # per-image failures do not fail the target
    labs, data = show(project)
    assert labs["shape_000"]["caption"] == FakeAnthropic.caption_for(png(0))
    assert "API error 500" in labs["shape_001"]["error"] and labs["shape_001"]["caption"] is None
    assert "declined" in labs["shape_002"]["error"]
    assert "nsfw must be one of" in labs["shape_004"]["error"] or "caption" in labs["shape_004"]["error"]
    assert "no record_image_label call" in labs["shape_005"]["error"]
    assert labs["shape_006"]["nsfw"] == "EXPLICIT"
    assert data["meta"]["summary"]["failed"] == 4
    assert data["meta"]["summary"]["nsfw"]["EXPLICIT"] == 1
    assert target_event(r)["facts"]["failed"] == 4
    assert len(data["meta"]["report"]["failed"]) == 4
    # 12 images + one retry of the 429 + one retry of the 500 (max_retries 1)
    assert fake.counts["messages"] == 14
    retried = [q for q in fake.requests if q["headers"].get("x-stainless-retry-count") == "1"]
    assert len(retried) == 2
    # failures are not memoised: a refresh asks again for them, and the now-healthy server answers
    fake.scripts.clear()
    r = project.build("--refresh", "caps", env=env())
    labs, data = show(project)
    assert data["meta"]["summary"]["failed"] == 0
    out = project.run("show", "caps")
    assert "12 images, 12 labelled, 0 failed" in out.out


def test_missing_or_rejected_key_fails_the_target_clearly(project, shapes, fake):
    spec(project, fake)
    r = project.build(env={"ANTHROPIC_API_KEY": ""})
    assert r.code != 0
    assert r.statuses()["caps"] == "failed"
    assert "ANTHROPIC_API_KEY" in target_event(r)["error"]
    assert fake.counts["messages"] == 0
    r = project.build(env=env(ANTHROPIC_API_KEY="sk-wrong"))
    assert r.statuses()["caps"] == "failed"
    assert "rejected the key" in target_event(r)["error"]
    assert 1 <= fake.counts["messages"] <= 8  # stops early instead of failing all 12 one by one


@pytest.mark.slow
def test_chain_sidecar_then_claude_only_asks_for_missing_captions(project, shapes, fake):
    (shapes / "shape_003.txt").unlink()
    (shapes / "shape_008.txt").unlink()
    spec(project, fake, labeler="labelers: [sidecar, claude]")
    r = project.build(env=env())
    assert r.code == 0, r.err
    assert fake.counts["messages"] == 2
    labs, data = show(project)
    assert labs["shape_003"]["labeler"] == "claude"
    assert labs["shape_008"]["labeler"] == "claude"
    assert labs["shape_000"]["labeler"] == "sidecar"
    assert data["meta"]["report"]["labelers"] == {"sidecar": 10, "claude": 2}
    # merge: every image goes to claude; sidecar captions stay, claude's tags and rating join them
    spec(project, fake, "chain: merge", labeler="labelers: [sidecar, claude]")
    r = project.build(env=env())
    assert r.code == 0
    assert fake.counts["messages"] == 2 + 10  # the two already asked come from the memo
    labs, _ = show(project)
    assert labs["shape_000"]["caption"] == (shapes / "shape_000.txt").read_text().strip()
    assert "fake" in labs["shape_000"]["tags"] and labs["shape_000"]["nsfw"] == "SAFE"


@pytest.mark.slow
def test_project_defaults_tags_only_and_max_side(project, shapes, fake):
    project.write("imagineer.yaml", """
        cache: cache
        out: out
        defaults:
          labels: {model: claude-from-defaults, prompt: tags_only, max_side: 64}
    """)
    spec(project, fake)
    r = project.build(env=env())
    assert r.code == 0, r.err
    body = fake.requests[0]["body"]
    assert body["model"] == "claude-from-defaults"
    assert "caption" not in body["tools"][0]["input_schema"]["properties"]
    for q in fake.requests:
        data = base64.b64decode(q["body"]["messages"][0]["content"][0]["source"]["data"])
        assert max(Image.open(io.BytesIO(data)).size) == 64
    labs, _ = show(project)
    lab = labs["shape_000"]
    assert lab["tags"][0] == "fake" and lab["caption"] == ", ".join(lab["tags"])
    assert lab["prompt_version"].startswith("tags_only@")


def test_bad_project_defaults_are_reported(project, shapes, fake):
    project.write("imagineer.yaml", "cache: cache\nout: out\ndefaults:\n  labels: {modle: x}\n")
    spec(project, fake)
    r = project.build(env=env())
    assert r.code == 2
    assert "defaults.labels" in r.err and "modle" in r.err


@pytest.mark.slow
def test_batch_mode_polls_and_matches_results_by_custom_id(project, shapes, fake):
    fake.script((shapes / "shape_002.png").read_bytes(), "refusal")
    spec(project, fake, "batch: true\n            poll_interval: 0.05")
    r = project.build(env=env())
    assert r.code == 0, r.err
    assert fake.counts["messages"] == 0
    assert fake.counts["batch_create"] == 1
    assert fake.counts["batch_retrieve"] >= 2  # polled while in progress, then ended
    assert fake.counts["batch_results"] == 1
    create = next(q for q in fake.requests if q["route"] == "batch_create")
    assert len(create["body"]["requests"]) == 12
    assert create["headers"].get("authorization") == f"Bearer {KEY}" or create["headers"].get("x-api-key") == KEY
    labs, data = show(project)
    assert "declined" in labs["shape_002"]["error"]
    assert labs["shape_000"]["caption"] == FakeAnthropic.caption_for((shapes / "shape_000.png").read_bytes())
    assert data["meta"]["summary"]["labelled"] == 11
    progress = [e for e in r.events() if e.get("event") == "progress" and e["target"] == "caps"]
    assert any("in_progress" in (e.get("message") or "") for e in progress)
    # the batch answers went to the same memo as direct calls: switching mode costs only the failure
    fake.scripts.clear()
    spec(project, fake, "")
    r = project.build(env=env())
    assert r.code == 0 and fake.counts["messages"] == 1


@pytest.mark.slow
def test_killed_run_resumes_where_it_stopped(project, shapes, fake):
    import subprocess
    import time

    from conftest import imagineer_exe

    fake.latency = 0.15
    spec(project, fake, concurrency=1)
    import os

    p = subprocess.Popen([*imagineer_exe(), "build", "--json"], cwd=project.root, env={**os.environ, **env()},
                         stdout=subprocess.DEVNULL, stderr=open(project.root / "err.txt", "w"))
    deadline = time.time() + 60
    while fake.counts["messages"] < 5 and time.time() < deadline:
        time.sleep(0.02)
    assert p.poll() is None, (project.root / "err.txt").read_text()
    p.kill()
    p.wait()
    done = memo_count(project)
    first = fake.counts["messages"]
    assert 4 <= done <= first < 12
    fake.latency = 0
    r = project.build(env=env())
    assert r.code == 0, r.err
    assert fake.counts["messages"] - first == 12 - done
    labs, data = show(project)
    assert data["meta"]["summary"]["labelled"] == 12


@pytest.mark.slow
def test_export_writes_reviewable_overrides_that_round_trip(project, shapes, fake):
    spec(project, fake)
    assert project.build(env=env()).code == 0
    lock_before = (project.root / "imagineer.lock").read_bytes()
    spec_before = (project.root / "specs/main.yaml").read_bytes()
    r = project.run("labels", "export", "caps", "--to", "labels/caps.yaml")
    assert r.code == 0, r.err
    assert (project.root / "imagineer.lock").read_bytes() == lock_before
    assert (project.root / "specs/main.yaml").read_bytes() == spec_before
    import yaml

    exported = yaml.safe_load((project.root / "labels/caps.yaml").read_text())
    assert len(exported) == 12
    labs, data = show(project)
    digest0 = next(d for d, lab in data["meta"]["labels"].items() if lab is labs["shape_000"])
    assert exported[digest0]["file"].startswith("shape_000")
    assert exported[digest0]["caption"] == labs["shape_000"]["caption"]
    assert exported[digest0]["labeler"] == f"claude ({BUILTIN['model']})"
    again = project.run("labels", "export", "caps", "--to", "labels/caps.yaml")
    assert again.code == 1 and "--force" in again.err  # never overwrites silently
    # a person edits one caption and one rating, then names the file as the overrides
    exported[digest0]["caption"] = "edited by a person"
    exported[digest0]["nsfw"] = "SUGGESTIVE"
    (project.root / "labels/caps.yaml").write_text(yaml.safe_dump(exported, sort_keys=False))
    spec(project, fake, "overrides: labels/caps.yaml")
    calls = fake.counts["messages"]
    r = project.build(env=env())
    assert r.code == 0, r.err
    assert fake.counts["messages"] == calls  # captions come from the memo; only the edits are new
    labs, data = show(project)
    assert labs["shape_000"]["caption"] == "edited by a person"
    assert labs["shape_000"]["nsfw"] == "SUGGESTIVE" and labs["shape_000"]["overridden"] is True
    assert sum(lab["overridden"] for lab in labs.values()) == 1
    assert data["meta"]["report"]["overrides"]["changed"] == 1
    assert "[edited]" in project.run("show", "caps").out
    not_labels = project.run("labels", "export", "shapes", "--to", "x.yaml")
    assert not_labels.code == 2 and "not labels" in not_labels.err


@pytest.mark.slow
def test_killed_batch_run_picks_up_the_same_batch(project, shapes, fake):
    import os
    import subprocess
    import time

    from conftest import imagineer_exe

    fake.polls_before_end = 10_000  # the batch stays in progress until the test lets it end
    spec(project, fake, "batch: true\n            poll_interval: 0.05")
    p = subprocess.Popen([*imagineer_exe(), "build", "--json"], cwd=project.root, env={**os.environ, **env()},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while fake.counts["batch_retrieve"] < 2 and time.time() < deadline:
        time.sleep(0.02)
    assert p.poll() is None
    p.kill()
    p.wait()
    assert fake.counts["batch_create"] == 1
    fake.polls_before_end = 0
    r = project.build(env=env())
    assert r.code == 0, r.err
    assert fake.counts["batch_create"] == 1  # resumed, not paid for twice
    assert any("resuming message batch" in (e.get("message") or "") for e in r.events())
    _, data = show(project)
    assert data["meta"]["summary"]["labelled"] == 12


def test_temperature_is_refused_with_the_reason(project, shapes, fake):
    spec(project, fake, "temperature: 0.2")
    r = project.build(env=env())
    assert r.code == 2
    assert "temperature" in r.err and "2026-10-21" in r.err
    assert fake.counts["messages"] == 0


def test_status_with_a_claude_target_loads_no_heavy_library(project, shapes, fake):
    import subprocess
    import sys

    spec(project, fake)
    probe = ("import sys\nsys.argv = ['imagineer', 'status']\nfrom imagineer_build.cli import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print('HEAVY:' + ','.join(m for m in ('anthropic', 'httpx', 'httpx2', 'torch', 'cv2')"
             " if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", probe], cwd=project.root, capture_output=True, text=True, timeout=120)
    line = [x for x in p.stdout.splitlines() if x.startswith("HEAVY:")]
    assert line == ["HEAVY:"], p.stdout + p.stderr


@pytest.mark.slow
def test_per_request_timeout_fails_images_not_the_build(project, shapes, fake):
    fake.latency = 1.0
    spec(project, fake, "timeout: 0.2\n            max_retries: 0", concurrency=12)
    r = project.build(env=env())
    assert r.code == 0, r.err
    labs, data = show(project)
    assert data["meta"]["summary"]["failed"] == 12
    assert all("timed out" in lab["error"] for lab in labs.values())
    # A request the client gave up on may reach the server's handler after the build ended, or
    # never (on a loaded machine the client can close the connection before the handler reads
    # the request): wait for the count to settle, then ask for at most one try per image.
    deadline = time.monotonic() + 5
    while fake.counts["messages"] < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 0 < fake.counts["messages"] <= 12  # max_retries: 0, so no image was asked twice
