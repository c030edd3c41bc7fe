"""The faces kind, person sources and face-based shot types end to end through the real CLI,
with real dlib on real photos (see faces_helpers for where they come from)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from dataset_helpers import artifact_digest, manifest
from faces_helpers import EILEEN_TRUSTED, GRACE_TRUSTED, MORE, PHOTOS, REPO, make

LIBRARY = """
sources:
  photos: {dir: photos, dedup: {near: false}}
faces:
  family: {of: [photos]PEOPLE}
"""


def library(project, people: bool = True, extra: str = "") -> None:
    project.spec(LIBRARY.replace("PEOPLE", ", people: people/family.yaml" if people else "") + extra)


def target_event(run, name: str) -> dict:
    return next(e for e in run.events() if e.get("event") == "target" and e["target"] == name)


def faces_doc(project, target: str = "family") -> dict:
    return json.loads((project.root / "out" / target / "faces.json").read_text())


def by_file(doc: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in doc["faces"]:
        out.setdefault(f["path"].split("/")[-1], []).append(f)
    return out


def ok(run) -> None:
    assert run.code == 0, run.out[-3000:] + run.err[-3000:]


@pytest.mark.slow
def test_scan_name_and_use_people(project):
    make(project.root / "photos")
    library(project, people=False)
    run = project.build()
    ok(run)
    fam = target_event(run, "family")
    assert fam["memo"] == {"faces.analyze": {"hits": 0, "misses": 16}, "faces.thumb": {"hits": 0, "misses": 13}}
    assert {k: fam["facts"][k] for k in ("images", "faces", "clusters", "named", "no_face", "untrusted")} == \
        {"images": 16, "faces": 18, "clusters": 2, "named": 0, "no_face": 1, "untrusted": 5}
    doc = faces_doc(project)
    out = project.root / "out" / "family"
    assert np.load(out / "embeddings.npy").shape == (18, 128)
    assert sorted(p.name for p in (out / "clusters").iterdir()) == ["001.png", "002.png"]
    assert [(c["cluster"], c["size"]) for c in doc["clusters"]] == [(1, 8), (2, 5)]
    files = by_file(doc)
    assert {f["cluster"] for n in EILEEN_TRUSTED for f in files[n] if f["status"] == "ok"} == {1}
    assert {f["cluster"] for n in GRACE_TRUSTED for f in files[n]} == {2}
    assert files["eileen_blurred.png"][0]["status"] == "blurry" and files["eileen_small.png"][0]["status"] == "small"
    assert doc["detector"]["name"] == "dlib-hog" and "coffee.png" not in files
    row = files["grace_original.jpg"][0]["row"]
    assert np.load(out / "embeddings.npy")[row].shape == (128,)

    shown = project.run("faces", "show", "family")
    assert shown.code == 0, shown.err
    assert "cluster   1  (unnamed)           8 faces in 8 images" in shown.out
    assert "numbers not pinned yet" in shown.out and "images/coffee.png: no face found" in shown.out
    assert "images/eileen_small.png: small: 44 px, under min_face 80" in shown.out

    named = project.run("faces", "name", "family", "1", "Eileen")
    assert named.code == 0, named.err
    assert "add `people: people/family.yaml` to family (specs/main.yaml:4:3)" in named.err
    people = yaml.safe_load((project.root / "people/family.yaml").read_text())
    assert people["clusters"][1]["name"] == "Eileen" and people["clusters"][2]["centroid"].startswith("f16:")
    assert project.run("faces", "name", "family", "7", "Jake").code == 2  # no cluster 7

    project.spec(SPEC_WITH_PERSONS)
    run = project.build("--keep-going")
    assert run.code == 1
    fam = target_event(run, "family")
    assert fam["status"] == "built"
    assert fam["memo"] == {"faces.analyze": {"hits": 16, "misses": 0}, "faces.thumb": {"hits": 13, "misses": 0}}
    grace = target_event(run, "grace")
    assert grace["status"] == "failed"
    assert "no face in family is named 'Grace'; the names are: Eileen" in grace["error"]
    assert "imagineer faces name family CLUSTER Grace" in grace["error"]
    ds = target_event(run, "photos-ds")
    assert ds["status"] == "built" and "dataset.shot" not in ds.get("memo", {})  # no image needed the Haar fallback (memoised)

    assert project.run("faces", "name", "family", "2", "Grace").code == 0
    run = project.build()
    ok(run)
    photos = manifest(project, run, "photos")["files"]
    g = manifest(project, run, "grace")
    assert sorted(f for f in g["files"] if f.startswith("images/")) == sorted(f"images/{n}" for n in GRACE_TRUSTED)
    assert all(g["files"][rel] == photos[rel] for rel in g["files"] if rel.startswith("images/"))  # crop: none: same bytes
    e = manifest(project, run, "eileen")
    images = e["meta"]["album"]["images"]
    assert sorted(im["path"] for im in images) == sorted(f"images/{Path(n).stem}.png" for n in EILEEN_TRUSTED)
    for im in images:
        face = im["extra"]["face"]
        assert face["person"] == "Eileen" and face["detector"] == "dlib-hog" and face["crop"] is not None
        x, y, w, h = face["box"]
        assert face["ratio"] == round(w * h / (im["width"] * im["height"]), 4) > 0.25
        assert im["caption"] and "astronaut" in im["caption"]  # the sidecar caption came along

    shots = json.loads((project.root / "out/eileen-ds/shots.json").read_text())
    assert {r["shot"] for r in shots["images"]} == {"close"} and len(shots["images"]) == 8
    assert all(r["detector"] == "dlib-hog" and r["person"] == "Eileen" and len(r["box"]) == 4 for r in shots["images"])
    lib = {Path(r["image"]).name: r for r in json.loads((project.root / "out/photos-ds/shots.json").read_text())["images"]}
    expect = {"eileen_portrait.jpg": "close", "eileen_half.png": "mid", "grace_original.jpg": "mid",
              "eileen_original.png": "far", "eileen_far.png": "far", "coffee.png": "unknown"}
    lib_images = {n: lib[f"image_{i:04d}.{n.split('.')[-1]}"] for i, n in enumerate(sorted(
        p.name for p in (project.root / "photos").iterdir() if p.suffix != ".txt"), 1)}
    assert {n: lib_images[n]["shot"] for n in expect} == expect
    assert lib_images["eileen_half.png"]["ratio"] == round(90 * 91 / (260 * 260), 4)
    meta = json.loads((project.root / "out/photos-ds/metadata.json").read_text())
    assert meta["shot_detector"] == "dlib-hog"

    shown = project.run("show", "family")
    assert shown.code == 0 and "people: Eileen, Grace" in shown.out


SPEC_WITH_PERSONS = """
sources:
  photos: {dir: photos, dedup: {near: false}}
  eileen: {faces: family, person: Eileen, crop: head}
  grace: {faces: family, person: Grace}
faces:
  family: {of: [photos], people: people/family.yaml}
labels:
  eileen-labels: {of: eileen, labeler: sidecar}
  photo-labels: {of: photos, labeler: sidecar}
datasets:
  eileen-ds: {from: [eileen-labels], trigger: eln, format: flat}
  photos-ds: {from: [photo-labels], trigger: lib, format: flat, shots: {faces: family}}
"""


@pytest.mark.slow
def test_numbers_stay_when_photos_are_added_and_corrections_survive_rebuilds(project):
    make(project.root / "photos")
    (project.root / "people").mkdir()
    (project.root / "people/family.yaml").write_text("")
    library(project)
    ok(project.build())
    assert project.run("faces", "name", "family", "2", "Grace").code == 0
    assert project.run("faces", "name", "family", "1", "Eileen").code == 0

    make(project.root / "photos", list(MORE), more=True)
    run = project.build()
    ok(run)
    assert target_event(run, "family")["memo"] == {"faces.analyze": {"hits": 16, "misses": 5},
                                                   "faces.thumb": {"hits": 13, "misses": 5}}
    doc = faces_doc(project)
    assert [(c["cluster"], c["name"], c["size"], c["pinned"]) for c in doc["clusters"]] == \
        [(1, "Eileen", 10, True), (2, "Grace", 8, True)]

    listed = project.run("faces", "show", "family", "--cluster", "2")
    mirror = next(line.split()[0] for line in listed.out.splitlines() if "grace_mirror.png" in line)
    assert project.run("faces", "move", "family", mirror[:12], "Eileen").code == 0
    assert project.run("faces", "nobody", "family", "eileen_far.png").code == 0
    run = project.build()
    ok(run)
    assert target_event(run, "family")["memo"] == {"faces.analyze": {"hits": 21, "misses": 0},
                                                   "faces.thumb": {"hits": 17, "misses": 0}}
    files = by_file(faces_doc(project))
    moved = files["grace_mirror.png"][0]
    assert (moved["id"], moved["person"], moved["cluster"], moved["corrected"]) == (mirror, "Eileen", 1, "moved")
    assert (files["eileen_far.png"][0]["status"], files["eileen_far.png"][0]["cluster"]) == ("nobody", None)
    assert [(c["cluster"], c["size"]) for c in faces_doc(project)["clusters"]] == [(1, 10), (2, 7)]

    (project.root / "photos/eileen_far.png").unlink()  # the people file now names a face that is gone
    run = project.build()
    ok(run)
    report = manifest(project, run, "family")["meta"]["report"]
    assert len(report["warnings"]) == 1 and "(images/eileen_far.png) is not among this build's faces; ignored" \
        in report["warnings"][0]["reason"]

    assert project.run("faces", "merge", "family", "1", "2").code == 0
    people = yaml.safe_load((project.root / "people/family.yaml").read_text())
    assert people["clusters"][2]["merged_into"] == 1
    ok(run := project.build())
    assert [(c["cluster"], c["name"], c["merged"]) for c in faces_doc(project)["clusters"]] == [(1, "Eileen", [2])]
    assert target_event(run, "family")["facts"]["persons"] == 1


@pytest.mark.slow
def test_same_bytes_from_two_fresh_stores_in_two_folders(project, tmp_path):
    make(project.root / "photos", [n for n in sorted(PHOTOS) if n.startswith("grace")])
    project.spec("""
sources:
  photos: {dir: photos}
  grace: {faces: family, person: Grace, crop: head}
faces:
  family: {of: [photos], people: people/family.yaml, min_cluster: 2}
""")
    (project.root / "people").mkdir()
    (project.root / "people/family.yaml").write_text("")
    ok(project.build("family"))
    assert project.run("faces", "name", "family", "1", "Grace").code == 0
    first = project.build()
    ok(first)
    other = tmp_path / "elsewhere" / "copy"
    shutil.copytree(project.root, other, ignore=shutil.ignore_patterns("cache", "out", "imagineer.lock"))
    second = type(project)(other).build()
    ok(second)
    for t in ("photos", "family", "grace"):
        assert artifact_digest(first, t) == artifact_digest(second, t), t
    assert str(project.root) not in (project.root / "out/family/faces.json").read_text()


def test_spec_errors_name_the_place(project):
    (project.root / "photos").mkdir()
    project.spec("""
sources:
  photos: {dir: photos}
  a: {dir: photos, person: Emma}
  b: {faces: family}
  c: {faces: family, person: Emma, filter: {min_size: [10, 10]}}
  d: {faces: family, scrape: {url: "https://example.org"}, person: Emma}
faces:
  family: {of: [photos, photos], people: people.txt, detector: mtcnn}
  fam2: {of: [photos], people: people.txt}
datasets:
  ds: {from: [photos], shots: {detect: false, faces: family}}
""")
    (project.root / "people.txt").write_text("")
    run = project.run("status")
    assert run.code == 2
    for line in ("specs/main.yaml:3:28: person is for a faces source",
                 "specs/main.yaml:4:6: a faces source needs person: NAME",
                 "specs/main.yaml:5:44: filter does not apply to a faces source",
                 "specs/main.yaml:6:6: a source needs exactly one of: dir, scrape, faces (got scrape, faces)",
                 "specs/main.yaml:8:64: detector: Input should be 'hog' or 'cnn'",
                 "specs/main.yaml:9:32: people.txt: a people file is YAML",
                 "specs/main.yaml:11:54: shots.faces needs shots.detect"):
        assert line in run.err, run.err


def test_missing_dlib_fails_the_target_with_the_extra_to_install(project, tmp_path):
    make(project.root / "photos", ["coffee.png"])
    library(project, people=False)
    fake = tmp_path / "no-dlib" / "dlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'dlib'\")\n")
    run = project.build(env={"PYTHONPATH": str(fake.parent)})
    assert run.code == 1
    assert target_event(run, "photos")["status"] == "built"
    err = target_event(run, "family")["error"]
    assert "pip install 'imagineer-build[faces]'" in err and "dlib-bin" in err


@pytest.mark.slow
def test_the_people_example_builds(tmp_path):
    """examples/people: photos → faces → named people → head crops → a dataset with real shots."""
    from conftest import Project

    root = tmp_path / "people"
    shutil.copytree(REPO / "examples/people", root, ignore=shutil.ignore_patterns("cache", "out", "data", "*.lock"))
    make(root / "data/generated/photos")
    proj = Project(root)
    run = proj.build()
    ok(run)
    assert target_event(run, "family")["facts"]["named"] == 2
    assert target_event(run, "eileen")["facts"]["images"] == 8
    shots = json.loads((root / "out/eileen-ds/shots.json").read_text())
    assert {r["shot"] for r in shots["images"]} == {"close"}
    mixed = json.loads((root / "out/library-ds/metadata.json").read_text())["shots"]["counts"]
    assert mixed["close"] >= 1 and mixed["mid"] >= 1 and mixed["far"] >= 1
