"""The scores kind end to end: the real CLI, real transformers CLIP on builtin:tiny-clip.

The album comes from a test kind (scores_helpers) so the tests choose the images; the scores
are meaningless but deterministic, so the tests check the plumbing against the recorded numbers.
"""

from __future__ import annotations

import csv
import json
import math

import pytest
import yaml
from scores_helpers import ENV, album_items, write_album

pytestmark = pytest.mark.slow

SETTINGS = "cache: cache\nout: out\nthreads: 1\nmodels:\n  clip: {base: 'builtin:tiny-clip'}\n"
SPEC = """
testalbums:
  alb: {folder: data/album, manifest: data/album.yaml}
scores:
  alb-q:
    of: alb
    model: clip
    columns: [who]
"""


def setup(project, items, spec=SPEC):
    project.root.joinpath("imagineer.yaml").write_text(SETTINGS)
    write_album(project.root, items)
    project.spec(spec)
    return project


def build(project, *args):
    r = project.build(*args, env=ENV)
    assert r.code == 0, r.err + r.out[-3000:]
    return r


def event(run, name):
    return next(e for e in run.events() if e.get("event") == "target" and e["target"] == name)


def scores(project, target="alb-q"):
    r = project.run("show", target, "--json", env=ENV)
    assert r.code == 0, r.err
    return json.loads(r.out)


def test_memo_counts_new_images_and_threshold_changes(project):
    setup(project, album_items(20))
    r = build(project)
    ev = event(r, "alb-q")
    # 20 prompts + Hair (3) + Cut (2) + who (4) option texts
    assert ev["memo"] == {"scores.image": {"hits": 0, "misses": 20}, "scores.text": {"hits": 0, "misses": 29}}
    assert ev["facts"]["scored"] == 20
    assert event(build(project), "alb-q")["status"] == "cached"

    write_album(project.root, album_items(30))  # 10 more images
    ev = event(build(project), "alb-q")
    assert ev["status"] == "built"
    assert ev["memo"] == {"scores.image": {"hits": 20, "misses": 10}, "scores.text": {"hits": 29, "misses": 10}}

    before = scores(project)["meta"]["scores"]["images"]
    ev = event(build(project, "--set", "alb-q:thresholds.success=0.6", "--set", "alb-q:thresholds.partial=0.3"), "alb-q")
    assert ev["status"] == "built"
    assert ev["memo"] == {"scores.image": {"hits": 30, "misses": 0}, "scores.text": {"hits": 39, "misses": 0}}
    after = scores(project)["meta"]["scores"]["images"]
    assert {d: {k: v for k, v in s.items() if k != "verdict"} for d, s in after.items()} == \
        {d: {k: v for k, v in s.items() if k != "verdict"} for d, s in before.items()}  # same numbers
    for s in after.values():  # the verdicts follow the new thresholds from the recorded counts
        share = s["matched"] / s["checked"]
        assert s["verdict"] == ("success" if share >= 0.6 else "partial" if share >= 0.3 else "failed")
    changed = sum(1 for d in after if after[d]["verdict"] != before[d]["verdict"])
    assert changed > 0  # 2/3 matched is partial at 0.8 and success at 0.6


def test_outputs_summary_show_and_the_same_bytes_in_two_stores(project, tmp_path):
    items = album_items(12) + [{"file": "bad.png", "bytes": b"<html>not an image</html>", "prompt": "x",
                                "variations": {"Hair": "red", "Cut": "bob"}, "row": {"who": "person 0"}}]
    setup(project, items)
    r = build(project)
    ev = event(r, "alb-q")
    assert ev["facts"]["images"] == 13 and ev["facts"]["scored"] == 12  # the broken image is not fatal
    view = scores(project)
    meta = view["meta"]
    assert meta["report"]["unscored"] == [{"path": "images/bad.png", "digest": meta["report"]["unscored"][0]["digest"],
                                           "error": "cannot decode: not an image Pillow can read"}]
    assert [c["name"] for c in meta["scores"]["checked"]] == ["Cut", "Hair", "who"]
    assert meta["scores"]["checked"][1]["texts"] == ["a picture of red", "a picture of green", "a picture of blue"]
    out = project.root / "out/alb-q"
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert len(rows) == 13 and rows[-1]["verdict"] == "unscored"
    by_file = {r["file"]: r for r in rows}
    imgs = meta["scores"]["images"]
    album = {im["path"]: im["digest"] for im in meta["album"]["images"]}
    for path, digest in album.items():
        if digest in imgs:
            s = imgs[digest]
            assert by_file[path]["verdict"] == s["verdict"] and float(by_file[path]["score"]) == s["score"]
            assert by_file[path]["Hair:chosen"] == s["checks"]["Hair"]["chosen"]
    s = meta["scores"]["summary"]
    assert sum(s["verdicts"].values()) == 12
    hair_red = next(r for r in s["per_value"] if (r["name"], r["value"]) == ("Hair", "red"))
    red = [x["checks"]["Hair"] for x in imgs.values() if x["checks"]["Hair"]["intended"] == "red"]
    assert hair_red["images"] == len(red) == 4 and hair_red["matched"] == sum(c["match"] for c in red)
    assert (out / "contact.png").stat().st_size > 0 and (out / "images/000.png").exists()
    text = project.run("show", "alb-q", env=ENV).out
    assert "per value:" in text and "top failing:" in text and "NOT SCORED images/bad.png" in text

    other = type(project)(tmp_path / "elsewhere")  # a fresh store in another folder
    other.root.mkdir()
    (other.root / "specs").mkdir()
    setup(other, items)
    assert event(build(other), "alb-q")["artifact"] == ev["artifact"]


def test_hand_flags_win_and_selections_feed_labels_and_datasets(project):
    spec = SPEC + """
labels:
  best:
    of: alb-q
    labeler: manifest
    select: {verdict: [success, partial], top: 50%}
datasets:
  best-ds:
    from: [alb-q]
    select: {top: 25%}
    resolution: 64
    shots: {detect: false}
"""
    setup(project, album_items(12), spec)
    build(project)
    imgs = scores(project)["meta"]["scores"]["images"]
    top = max(imgs, key=lambda d: (imgs[d]["score"], d))
    path = next(im["path"] for im in scores(project)["meta"]["album"]["images"] if im["digest"] == top)

    r = project.run("scores", "flag", "alb-q", str(project.root / "out/alb-q" / path), "--failed",
                    "--note", "hair is wrong", env=ENV)
    assert r.code == 0, r.err
    assert "add `overrides: flags/alb-q.yaml` to alb-q" in r.err
    flags_file = project.root / "flags/alb-q.yaml"
    flags_file.write_text(flags_file.read_text() + "# a reviewer's comment\n")
    project.spec(spec.replace("columns: [who]", "columns: [who]\n    overrides: flags/alb-q.yaml"))
    ok_path = next(im["path"] for im in scores(project)["meta"]["album"]["images"] if im["digest"] != top)
    r = project.run("scores", "flag", "alb-q", ok_path.split("/")[-1], "--ok", env=ENV)
    assert r.code == 0, r.err
    data = yaml.safe_load(flags_file.read_text())
    assert data[top] == {"flag": "failed", "file": path.split("/")[-1], "note": "hair is wrong"}
    assert "# a reviewer's comment\n" in flags_file.read_text()

    ev = event(build(project), "alb-q")
    assert ev["memo"]["scores.image"] == {"hits": 12, "misses": 0}  # flags recompute no embedding
    imgs = scores(project)["meta"]["scores"]["images"]
    assert imgs[top]["verdict"] == "failed" and imgs[top]["flag"] == "failed"
    ok_digest = next(d for d, s in imgs.items() if s["flag"] == "ok")
    assert imgs[ok_digest]["verdict"] == "success"

    # selections, judged against the recorded numbers
    ranked = sorted((d for d in imgs if imgs[d]["flag"] != "failed"), key=lambda d: (-imgs[d]["score"], d))
    half = set(ranked[:math.ceil(0.5 * 12)])
    want = {d for d in half if imgs[d]["verdict"] in ("success", "partial")}
    labels = json.loads(project.run("show", "best", "--json", env=ENV).out)["meta"]
    assert set(labels["labels"]) == want and top not in want
    some = next(iter(want))
    lab = labels["labels"][some]
    im = next(i for i in labels["album"]["images"] if i["digest"] == some)
    assert lab["caption"] == im["extra"]["prompt"] and lab["tags"] == [im["extra"]["variations"][k] for k in ("Cut", "Hair")]
    ds = json.loads(project.run("show", "best-ds", "--json", env=ENV).out)["meta"]
    assert {e["digest"] for e in ds["dataset"]["entries"]} == set(ranked[:3])
    assert any(e["reason"] == "flagged failed by hand" for e in ds["report"]["excluded"])
    captions = {e["digest"]: e["caption"] for e in ds["dataset"]["entries"]}
    prompts = {i["digest"]: i["extra"]["prompt"] for i in scores(project)["meta"]["album"]["images"]}
    assert all(captions[d] == prompts[d] for d in captions)  # no labels: the prompt is the caption


def test_known_answer_clip_chooses_the_colour_it_sees(project):
    """A CLIP with hand-set weights (scores_helpers.make_colour_clip), loaded from a project folder."""
    from scores_helpers import COLOURS, make_colour_clip

    make_colour_clip(project.root / "models/colour-clip")
    project.root.joinpath("imagineer.yaml").write_text(
        "cache: cache\nout: out\nmodels:\n  colour: {base: models/colour-clip, arch: clip}\n")
    pairs = [("red", "red"), ("green", "green"), ("blue", "blue"), ("red", "green"), ("blue", "red"), ("green", "green")]
    items = [{"file": f"{i}.png", "seen": seen, "colour": tuple(c + 3 * i for c in COLOURS[seen]),  # distinct bytes
              "prompt": f"a portrait, {said} hair", "variations": {"Hair": said}} for i, (seen, said) in enumerate(pairs)]
    write_album(project.root, items)
    project.spec("""
testalbums:
  alb: {folder: data/album, manifest: data/album.yaml}
scores:
  alb-q: {of: alb, model: colour, variations: [Hair], template: "a picture of {option} hair"}
""")
    build(project)
    meta = scores(project)["meta"]
    by_path = {im["path"]: meta["scores"]["images"][im["digest"]] for im in meta["album"]["images"]}
    for i, it in enumerate(items):
        s = by_path[f"images/{i}.png"]
        hair = s["checks"]["Hair"]
        assert hair["chosen"] == it["seen"], (it, hair)
        assert hair["match"] == (it["seen"] == it["variations"]["Hair"])
        assert s["verdict"] == ("success" if hair["match"] else "failed")
        assert (hair["p"] > 0.99) == hair["match"]
        assert (s["adherence"] > 90) == hair["match"]  # the prompt names the colour too
    rate = {r["value"]: r["rate"] for r in meta["scores"]["summary"]["per_value"]}
    assert rate == {"red": 0.5, "green": 0.6667, "blue": 1.0}


def test_hf_model_missing_from_the_cache_fails_before_any_work(project, tmp_path):
    setup(project, album_items(3))
    project.root.joinpath("imagineer.yaml").write_text(
        "cache: cache\nout: out\nmodels:\n  clip-l: {base: openai/clip-vit-large-patch14, arch: clip}\n")
    project.spec(SPEC.replace("model: clip", "model: clip-l"))
    r = project.build(env={**ENV, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"})
    assert r.code != 0
    assert "huggingface-cli download openai/clip-vit-large-patch14" in r.out + r.err
    assert not (project.root / "out/alb-q").exists()
