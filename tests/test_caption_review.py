"""Caption review: the reviewer runs in the build (Claude over real HTTP against
tests/fake_anthropic.py, or the builtin tiny VLM); `imagineer labels review` keeps the review
file and turns approved proposals into overrides."""

from __future__ import annotations

import os
import subprocess
import textwrap

import pytest
from captioner_helpers import MODELS, labels, target_event
from conftest import imagineer_exe
from fake_anthropic import FakeAnthropic

from imagineer_build.kinds.label.overrides_edit import set_captions
from imagineer_build.kinds.label.reviewfile import ReviewEntry, sync

KEY = "sk-ant-test-review"
ENV = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": ""}


@pytest.fixture
def fake():
    with FakeAnthropic(api_key=KEY) as f:
        yield f


def claude_spec(project, fake, extra: str = "", review: str = "review: {by: claude, rubric: say the shape}"):
    project.spec(f"""
        sources:
          shapes: {{dir: data/shapes}}
        labels:
          caps:
            of: shapes
            labeler: claude
            base_url: {fake.url}
            {review}
            {extra}
    """)


def calls(fake, tool: str) -> int:
    return sum(1 for r in fake.requests if r["route"] == "messages" and r["body"]["tool_choice"]["name"] == tool)


def image_of(shapes, stem):
    return next(p for p in shapes.glob(stem + ".*") if p.suffix != ".txt").read_bytes()


@pytest.mark.slow
def test_claude_review_approve_reject_and_rebuild_costs(project, shapes, fake):
    fake.script(image_of(shapes, "shape_000"), "ok", "keep")  # its label is fine, say the reviewer
    claude_spec(project, fake)
    r = project.build(env=ENV)
    assert r.code == 0, r.err
    assert calls(fake, "record_image_label") == 12 and calls(fake, "record_caption_review") == 12
    ev = target_event(r)
    assert ev["memo"]["labels.review"] == {"hits": 0, "misses": 12} and ev["facts"]["proposals"] == 11
    body = next(x["body"] for x in fake.requests if x["body"]["tool_choice"]["name"] == "record_caption_review")
    assert "say the shape" in body["system"] and body["messages"][0]["content"][1]["text"].startswith("Current caption: fake caption")
    labs, data = labels(project)
    assert all(lab["caption"].startswith("fake caption") for lab in labs.values())  # nothing changed yet
    digests = {im["path"].rsplit("/", 1)[-1].split(".")[0]: im["digest"] for im in data["meta"]["album"]["images"]}

    r = project.run("labels", "review", "caps")
    assert r.code == 0, r.err
    assert "caps: 11 pending, 0 approved, 0 rejected (reviews/caps.yaml; 11 new" in r.out
    assert "proposal: " + FakeAnthropic.fixed_caption_for(image_of(shapes, "shape_001")) in r.out
    assert "reason:   too vague" in r.out and "shape_000" not in r.out
    r = project.run("labels", "review", "caps", "--approve", "shape_001.png", digests["shape_002"][:8])
    assert r.code == 0, r.err
    assert "wrote 2 approved captions to labels/caps.yaml" in r.out
    assert "add `overrides: labels/caps.yaml` to it in specs/main.yaml" in r.out
    assert project.run("labels", "review", "caps", "--reject", "shape_003").code == 0
    text = (project.root / "reviews" / "caps.yaml").read_text()
    assert text.count("  status: approved") == 2 and text.count("  status: rejected") == 1
    assert text.count("  status: pending") == 8 and text.count("  applied: true") == 2

    claude_spec(project, fake, "overrides: labels/caps.yaml")
    r = project.build(env=ENV)
    assert r.code == 0, r.err
    # approved captions are a person's now: not reviewed again; the rest come from the memo
    assert calls(fake, "record_image_label") == 12 and calls(fake, "record_caption_review") == 12
    assert target_event(r)["memo"]["labels.review"] == {"hits": 10, "misses": 0}
    labs, _ = labels(project)
    assert labs["shape_001"]["caption"] == FakeAnthropic.fixed_caption_for(image_of(shapes, "shape_001"))
    assert labs["shape_001"]["labeler"] == "manual" and labs["shape_003"]["caption"].startswith("fake caption")

    r = project.run("labels", "review", "caps", "--approve-all")
    assert "wrote 8 approved captions" in r.out and "note:" not in r.out
    r = project.run("labels", "review", "caps")
    assert "caps: 0 pending, 10 approved, 1 rejected" in r.out
    # a new rubric asks again only about captions no person wrote; a new image costs one of each
    from PIL import Image

    Image.new("RGB", (128, 128), (200, 30, 30)).save(shapes / "new.png")
    claude_spec(project, fake, "overrides: labels/caps.yaml", "review: {by: claude, rubric: name the colour}")
    r = project.build(env=ENV)
    assert calls(fake, "record_image_label") == 13 and calls(fake, "record_caption_review") == 12 + 3
    r = project.run("labels", "review", "caps")
    assert "caps: 1 pending, 10 approved, 1 rejected" in r.out and "new.png" in r.out


@pytest.mark.slow
def test_hand_edited_review_file_errors_name_the_line_and_change_nothing(project, shapes, fake):
    claude_spec(project, fake)
    assert project.build(env=ENV).code == 0
    assert project.run("labels", "review", "caps").code == 0
    path = project.root / "reviews" / "caps.yaml"
    lines = path.read_text().splitlines()
    n = next(i for i, x in enumerate(lines) if x == "  status: pending")
    lines[n] = lines[n].replace("pending", "maybe")
    path.write_text("\n".join(lines) + "\n")
    before = path.read_bytes()
    r = project.run("labels", "review", "caps", "--approve-all")
    assert r.code == 2
    assert f"reviews/caps.yaml:{n + 1}:11: entry " in r.err and "status: Input should be 'pending', 'approved' or 'rejected'" in r.err
    assert "nothing was changed" in r.err
    assert path.read_bytes() == before and not (project.root / "labels" / "caps.yaml").exists()
    path.write_text("- just\n- a list\n")
    r = project.run("labels", "review", "caps")
    assert r.code == 2 and "reviews/caps.yaml:1:1: a review file is a mapping" in r.err


@pytest.mark.slow
def test_interactive_review_and_a_named_overrides_file(project, shapes, fake):
    project.write("labels/mine.yaml", "# my notes stay\n")
    claude_spec(project, fake, "overrides: labels/mine.yaml")
    assert project.build(env=ENV).code == 0
    p = subprocess.run([*imagineer_exe(), "labels", "review", "caps", "-i"], cwd=project.root, input="a\nr\nx\ns\nq\n",
                       capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "approved " in p.stdout and "rejected " in p.stdout and "wrote 1 approved caption to labels/mine.yaml" in p.stdout
    assert "caps: 10 pending, 1 approved, 1 rejected" in p.stdout
    text = (project.root / "labels" / "mine.yaml").read_text()
    assert text.startswith("# my notes stay\n") and "fixed caption" in text and "approved in review by claude" in text
    r = project.run("labels", "review", "caps", "--approve")
    assert r.code == 2 and "need ITEMS" in r.err
    r = project.run("labels", "review", "caps", "--approve", "nothing-like-this")
    assert r.code == 2 and "names no entry" in r.err


@pytest.mark.slow
def test_review_by_the_builtin_vlm(project, shapes):
    project.write("imagineer.yaml", "cache: cache\nout: out\n" + textwrap.dedent(MODELS))
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        labels:
          caps:
            of: shapes
            labeler: sidecar
            review: {by: cap, max_new_tokens: 12, style: descriptive}
    """)
    r = project.build()
    assert r.code == 0, r.err
    ev = target_event(r)
    assert ev["memo"] == {"labels.review": {"hits": 0, "misses": 12}} and ev["facts"]["proposals"] == 12
    _, data = labels(project)
    review = data["meta"]["review"]
    assert review["by"] == "cap" and review["style"] == "descriptive"
    for res in review["results"].values():  # the tiny model's nonsense is a rewrite, never the caption itself
        assert res["verdict"] == "fix" and res["proposal"] and res["proposal"] != res["caption"]
    r = project.run("labels", "review", "caps", "--approve-all")
    assert r.code == 0 and "wrote 12 approved captions to labels/caps.yaml" in r.out


def entry(caption, status="pending", proposal="better"):
    return ReviewEntry(caption=caption, proposal=proposal, status=status)


def test_sync_keeps_decisions_and_edits_and_drops_stale_pending():
    review = {"by": "claude", "results": {
        "a": {"caption": "one", "verdict": "fix", "proposal": "ONE", "reason": "r"},
        "b": {"caption": "two-new", "verdict": "fix", "proposal": "TWO", "reason": "r"},
        "c": {"caption": "three", "verdict": "ok", "proposal": None, "reason": None},
        "e": {"caption": "five", "error": "timed out"}}}
    entries = {"a": entry("one", proposal="edited by a person"), "b": entry("two"), "c": entry("three"),
               "d": entry("gone", status="approved"), "e": entry("five"), "f": entry("six")}
    captions = {"a": "one", "b": "two-new", "c": "three", "e": "five", "f": "six-changed"}
    out, added, dropped = sync(entries, review, captions, {k: f"{k}.png" for k in captions})
    assert list(out) == ["a", "b", "e", "d"]  # album order, then records of images that left
    assert out["a"].proposal == "edited by a person"  # same caption reviewed: the person's version stays
    assert out["b"].caption == "two-new" and out["b"].proposal == "TWO" and out["b"].by == "claude"
    assert out["e"].status == "pending"  # a failed review takes nothing away
    assert out["d"].status == "approved"
    assert (added, dropped) == (1, 3)  # b replaced; b, c (now ok) and f (caption changed) dropped


def test_set_captions_edits_in_place_and_keeps_comments(tmp_path):
    path = tmp_path / "ov.yaml"
    path.write_text('# keep me\n"aaa":\n  caption: old   # and me\n  tags: [x]\n"bbb": {nsfw: SAFE}\nccc:\n  nsfw: SAFE\n')
    text = set_captions(path, {"aaa": ("new: a", {}), "bbb": ("b", {}), "ccc": ("c", {}),
                               "ddd": ("d", {"file": "d.png", "note": "approved"})})
    assert text.startswith('# keep me\n"aaa":\n  caption: "new: a"   # and me\n  tags: [x]\n')
    import yaml

    assert yaml.safe_load(text) == {"aaa": {"caption": "new: a", "tags": ["x"]}, "bbb": {"nsfw": "SAFE", "caption": "b"},
                                    "ccc": {"caption": "c", "nsfw": "SAFE"},
                                    "ddd": {"file": "d.png", "caption": "d", "note": "approved"}}
