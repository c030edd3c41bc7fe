"""What a new user reads: show lists that say what they left out, no Python reprs, one exit
code per mistake, plain lines when piped, no library noise, and readable out views."""

from __future__ import annotations

import csv
import json

import pytest
from conftest import REPO
from PIL import Image


def many_images(root, n: int, size: int = 40) -> None:
    import random

    rng = random.Random(3)
    d = root / "data" / "many"
    d.mkdir(parents=True)
    for i in range(n):
        Image.frombytes("RGB", (size, size), rng.randbytes(size * size * 3)).save(d / f"img_{i:03d}.png")
        (d / f"img_{i:03d}.txt").write_text(f"noise number {i}\n")


def test_show_says_what_it_left_out_and_all_lists_everything(project):
    many_images(project.root, 55)
    project.spec("sources:\n  many: {dir: data/many, filter: {min_size: [16, 16]}, dedup: {threshold: 0}}\n")
    assert project.build().code == 0
    short = project.run("show", "many")
    listed = [ln for ln in short.out.splitlines() if ln.startswith("  images/")]
    assert len(listed) == 50
    assert "… 5 more (imagineer show many --all lists every one)" in short.out
    full = project.run("show", "many", "--all")
    assert len([ln for ln in full.out.splitlines() if ln.startswith("  images/")]) == 55
    assert "more" not in full.out


@pytest.mark.parametrize("args", [("build", "nope"), ("show", "nope"), ("status", "nope"), ("explain", "nope"),
                                  ("clean", "nope"), ("verify", "nope"), ("build", "--refresh", "nope")])
def test_an_unknown_target_is_the_same_mistake_everywhere(project, shapes, args):
    project.spec("sources:\n  photos: {dir: data/shapes}\n  prints: {dir: data/shapes}\n")
    r = project.run(*args)
    assert r.code == 2, (args, r.code, r.err)
    assert r.err.startswith("error: unknown target 'nope'") and "the targets are: photos, prints" in r.err


@pytest.mark.parametrize("command", ["status", "graph", "show", "build"])
def test_spec_errors_read_the_same_with_the_right_ending(project, command):
    project.spec("sources:\n  photos: {dri: data/shapes}\n")
    r = project.run(command, *(["photos"] if command == "show" else []))
    assert r.code == 2
    assert "specs/main.yaml:2:12: unknown key 'dri'" in r.err
    last = r.err.strip().splitlines()[-1]
    assert last == ("1 error in the specs; nothing was built." if command == "build" else "1 error in the specs.")


def test_a_source_that_keeps_nothing_says_why_and_the_dataset_points_at_it(project, shapes):
    project.spec("""
        sources:
          tiny: {dir: data/shapes, filter: {min_size: [500, 500]}}
        labels:
          tiny-labels: {of: tiny, labeler: sidecar}
        datasets:
          tiny-ds: {from: [tiny-labels], format: flat, resolution: 64}
    """)
    r = project.run("build")  # piped: plain lines, one per target in the summary
    assert r.code == 1
    summary = [ln for ln in r.err.splitlines() if ln.startswith("tiny  built")]
    assert summary and "kept 0 of 12 images: 12 smaller than filter.min_size 500x500" in summary[0], r.err
    assert "tiny-labels hold no images (imagineer show tiny-labels says why)" in r.err
    for ln in r.err.splitlines():  # nothing wrapped at 80 columns, no doubled prefixes
        assert not ln.startswith(" " * 10), ln
        assert "tiny-ds: tiny-ds" not in ln


def test_out_views_hold_their_album_beside_the_images(project, shapes):
    project.write("labels.yaml", "shape_001.png: {caption: two hand-written words, add_tags: [checked]}\n")
    project.spec("""
        sources:
          photos: {dir: data/shapes}
        labels:
          photo-labels: {of: photos, labeler: sidecar, overrides: labels.yaml}
    """)
    assert project.build().code == 0
    for target in ("photos", "photo-labels"):
        out = project.root / "out" / target
        records = [json.loads(ln) for ln in (out / "album.jsonl").read_text().splitlines()]
        rows = list(csv.DictReader((out / "album.csv").open()))
        assert len(records) == len(rows) == 12
        assert all((out / r["file"]).is_file() for r in rows)
        assert rows[0]["file"] == "images/shape_000.png" and rows[0]["caption"].startswith("a blue circle")
    rows = {r["file"]: r for r in csv.DictReader((project.root / "out/photo-labels/album.csv").open())}
    edited = rows["images/shape_001.png"]
    assert edited["caption"] == "two hand-written words" and "checked" in edited["tags"]
    assert edited["labeler"] == "manual"  # a hand override


def test_the_demo_override_describes_the_image_it_overrides(tmp_path):
    import subprocess
    import sys

    import yaml

    subprocess.run([sys.executable, str(REPO / "examples/make_images.py"), str(tmp_path)], check=True,
                   capture_output=True)
    overrides = yaml.safe_load((REPO / "examples/shapes/overrides.yaml").read_text())
    for name, entry in overrides.items():
        truth = (tmp_path / name).with_suffix(".txt").read_text()
        colors = [w for w in truth.split() if w in ("red", "orange", "yellow", "green", "teal", "blue", "purple",
                                                     "pink", "white", "black")]
        assert colors and all(c in entry["caption"] for c in colors), (name, truth, entry["caption"])


@pytest.mark.slow
def test_a_model_build_reads_cleanly_with_phases_and_no_library_noise(project):
    project.write("imagineer.yaml", "cache: cache\nout: out\nthreads: 1\n"
                  "models:\n  tiny: {base: 'builtin:tiny-sd'}\n")
    project.spec("generations:\n  deck: {prompt: 'a red star', model: tiny, size: [64, 64], steps: 1}\n")
    r = project.build()
    assert r.code == 0, r.err
    messages = [e.get("message") for e in r.events() if e["event"] == "progress" and e["target"] == "deck"]
    assert messages[:3] == ["images found in the memo", "loading model tiny", "images generated"], messages
    for noise in ("Warning", "torch_dtype", "torchvision", "deprecate"):
        assert noise not in r.err, r.err
    shown = project.run("show", "deck")
    assert "{'" not in shown.out and "1 image, model tiny, 1 step, dpmpp, CFG 8" in shown.out
