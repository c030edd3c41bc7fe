"""The dataset kind end to end through the real `imagineer` CLI: sources → labels → datasets."""

from __future__ import annotations

import json
import shutil
import tomllib

import pytest
import yaml
from dataset_helpers import SHAPES_LABELS, blob, make_faces, manifest, metadata, no_face
from PIL import Image

from imagineer_build.media.datasetfmt import DatasetInfo


def sidecar(shapes, name: str) -> str:
    return (shapes / name).with_suffix(".txt").read_text().strip()


@pytest.mark.slow
def test_kohya_dataset_is_hard_linked_and_described(project, shapes):
    project.spec(SHAPES_LABELS + """
datasets:
  ds: {from: [shapes-labels], trigger: shpz}
""")
    run = project.build()
    assert run.code == 0, run.err
    assert run.statuses() == {"shapes": "built", "shapes-labels": "built", "ds": "built"}
    out = project.root / "out" / "ds"
    m = manifest(project, run, "ds")
    info = DatasetInfo.from_meta(m["meta"])
    rec = info.recommended
    assert (rec["epochs"], rec["batch_size"]) == (20, 1)  # fewer than 20 images, fewer than 30
    folder = out / f"{rec['repeats']}_shpz"
    images = sorted(p.name for p in folder.iterdir() if p.suffix != ".txt")
    assert len(images) == 12 and len(info.entries) == 12
    for e in info.entries:
        img = out / e.image
        assert img.parent == folder
        assert img.stat().st_ino == blob(project, e.digest).stat().st_ino  # a hard link, not a copy
        assert m["files"][e.image][0] == e.digest
        txt = img.with_suffix(".txt").read_text()
        assert txt == f"shpz, {sidecar(project.root / 'data/shapes', img.name)}\n" == e.caption + "\n"
        assert e.bucket == [512, 512] and e.shot == "unknown"
    assert info.buckets == [[512, 512]]
    toml = tomllib.loads((out / "dataset.toml").read_text())
    sub = toml["datasets"][0]["subsets"][0]
    assert (out / sub["image_dir"]) == folder and sub["num_repeats"] == rec["repeats"]
    assert toml["datasets"][0]["resolution"] == 512 and toml["datasets"][0]["batch_size"] == 1
    meta = metadata(project, "ds")
    assert meta["counts"]["images"] == 12 and meta["recommended"]["repeats"] == rec["repeats"]
    assert any("only 12 images" in w for w in meta["warnings"])
    assert meta["captions"]["count"] == 12 and meta["captions"]["words"]["min"] >= 5
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.width >= 6 * 160 and sheet.height >= 2 * 160
    again = project.build()
    assert again.statuses() == {"shapes": "cached", "shapes-labels": "cached", "ds": "cached"}
    shown = project.run("show", "ds")
    assert shown.code == 0 and "12 images, layout kohya" in shown.out


def test_flat_imagefolder_and_ai_toolkit_layouts(project, shapes):
    project.spec(SHAPES_LABELS + """
datasets:
  flat: {from: [shapes-labels], format: flat, caption: "{caption}"}
  hf: {from: [shapes-labels], format: imagefolder, trigger: shpz}
  ait: {from: [shapes-labels], format: ai-toolkit, trigger: shpz, caption_dropout: 0.05}
""")
    run = project.build()
    assert run.code == 0, run.err
    out = project.root / "out"
    flat = sorted(p.name for p in (out / "flat").iterdir() if p.name.startswith("image_"))
    assert flat[:4] == ["image_0001.png", "image_0001.txt", "image_0002.png", "image_0002.txt"]
    assert len(flat) == 24
    assert (out / "flat/image_0001.txt").read_text().strip() == sidecar(shapes, "shape_000.png")
    assert (out / "flat/image_0004.jpg").exists()  # every fourth shape is a JPEG; the bytes are kept

    rows = [json.loads(line) for line in (out / "hf/metadata.jsonl").read_text().splitlines()]
    assert len(rows) == 12
    for row in rows:
        assert (out / "hf" / row["file_name"]).is_file()
        assert row["text"] == "shpz, " + sidecar(shapes, row["file_name"])

    block = yaml.safe_load((out / "ait/ai-toolkit.yaml").read_text())["datasets"][0]
    folder = out / "ait" / block["folder_path"]
    assert len(list(folder.glob("*.txt"))) == 12 and len(list(folder.glob("*.png"))) == 9
    assert block["caption_dropout_rate"] == 0.05 and block["caption_ext"] == "txt"
    info = DatasetInfo.from_meta(manifest(project, run, "ait")["meta"])
    assert info.caption_dropout == 0.05 and info.layout == "ai-toolkit"


def test_filters_list_what_they_leave_out(project, shapes):
    (shapes / "shape_002.txt").unlink()  # no caption for this one
    project.write("labels/edits.yaml", """
        shape_000.png: {nsfw: EXPLICIT}
        shape_001.png: {add_tags: [blurry]}
        shape_003.jpg: {nsfw: SUGGESTIVE}
    """)
    project.spec("""
sources:
  shapes: {dir: data/shapes}
labels:
  shapes-labels: {of: shapes, labeler: sidecar, overrides: labels/edits.yaml}
datasets:
  ds: {from: [shapes-labels], exclude: {tags: [blurry]}}
  sample: {from: [shapes-labels], limit: 4, seed: 1}
  sample2: {from: [shapes-labels], limit: 4, seed: 1, format: flat}
""")
    run = project.build()
    assert run.code == 0, run.err
    meta = metadata(project, "ds")
    reasons = {e["image"].rsplit("/", 1)[-1]: e["reason"] for e in meta["excluded"]}
    assert reasons == {"shape_000.png": "NSFW rating EXPLICIT is in exclude.nsfw",
                       "shape_001.png": "tag 'blurry' is in exclude.tags",
                       "shape_002.png": "no caption"}
    assert meta["counts"]["images"] == 9  # SUGGESTIVE is kept by default
    assert any("1 image left out for missing captions" in w for w in meta["warnings"])
    sample = metadata(project, "sample")
    assert sample["counts"]["images"] == 4
    assert sum("seeded sample" in e["reason"] for e in sample["excluded"]) == 6  # 12 - EXPLICIT - uncaptioned - 4
    same = DatasetInfo.from_meta(manifest(project, run, "sample2")["meta"])
    assert sorted(e.digest for e in same.entries) == sorted(
        e.digest for e in DatasetInfo.from_meta(manifest(project, run, "sample")["meta"]).entries)


def test_one_caption_edit_rebuilds_the_dataset_but_not_unrelated_targets(project, shapes):
    from make_images import make

    make(project.root / "data/other", 4, seed=11)
    edits = project.write("labels/edits.yaml", "shape_004.png: {caption: a hand-written caption}\n")
    project.spec(SHAPES_LABELS.replace("labeler: sidecar}", "labeler: sidecar, overrides: labels/edits.yaml}") + """
  other-labels: {of: other, labeler: sidecar}
datasets:
  ds: {from: [shapes-labels], trigger: shpz, format: flat}
  other-ds: {from: [other-labels]}
""")
    project.spec("sources:\n  other: {dir: data/other}\n", name="other.yaml")
    first = project.build()
    assert first.code == 0, first.err
    assert (project.root / "out/ds/image_0005.txt").read_text() == "shpz, a hand-written caption\n"
    edits.write_text("shape_004.png: {caption: a better caption}\n")
    second = project.build()
    assert second.code == 0, second.err
    assert second.statuses() == {"shapes": "cached", "shapes-labels": "built", "ds": "built",
                                 "other": "cached", "other-labels": "cached", "other-ds": "cached"}
    assert (project.root / "out/ds/image_0005.txt").read_text() == "shpz, a better caption\n"
    ds_event = next(e for e in second.events() if e.get("event") == "target" and e["target"] == "ds")
    assert ds_event["memo"]["dataset.shot"] == {"hits": 12, "misses": 0}  # no face detected twice


def test_two_label_sets_merge_by_digest_and_the_first_wins(project, shapes):
    other = project.root / "data/more"
    other.mkdir(parents=True)
    for name in ("shape_000.png", "shape_001.png"):
        shutil.copy(shapes / name, other / name)
        (other / name).with_suffix(".txt").write_text("the second album's caption\n")
    shutil.copy(shapes / "shape_005.png", other / "extra.png")
    (other / "extra.txt").write_text("an extra image\n")
    # shape_009.png here holds shape_006's bytes: a duplicate whose name clashes with another image
    (other / "shape_009.png").write_bytes((shapes / "shape_006.png").read_bytes())
    (other / "shape_009.txt").write_text("shape six under another name\n")
    project.spec(SHAPES_LABELS + """
  more-labels: {of: more, labeler: sidecar}
datasets:
  ab: {from: [shapes-labels, more-labels], format: imagefolder, caption: "{caption}"}
  ba: {from: [more-labels, shapes-labels], format: imagefolder, caption: "{caption}"}
""")
    project.spec("sources:\n  more: {dir: data/more, dedup: {exact: false, near: false}}\n", name="more.yaml")
    run = project.build()
    assert run.code == 0, "; ".join(e.get("error", "") for e in run.events() if e.get("status") == "failed")

    def texts(target):
        rows = [json.loads(x) for x in (project.root / f"out/{target}/metadata.jsonl").read_text().splitlines()]
        return {r["file_name"]: r["text"] for r in rows}

    ab, ba = texts("ab"), texts("ba")
    assert len(ab) == len(ba) == 12  # extra.png, shape_009.png and the copies are the same bytes
    assert ab["shape_000.png"] == sidecar(shapes, "shape_000.png")
    assert ba["shape_000.png"] == "the second album's caption"
    clashes = sorted(k for k in ba if k.startswith("shape_009-"))
    assert len(clashes) == 2 and "shape_009.png" not in ba  # same name, different images: both kept
    assert "shape six under another name" in ba.values() and "shape_009.png" in ab
    meta = metadata(project, "ab")
    assert meta["counts"]["duplicates"] == 4
    kept = {d["image"].split(":")[1].rsplit("/", 1)[-1]: d["kept"] for d in meta["duplicates"]}
    assert kept["extra.png"] == "shapes-labels:images/shape_005.png"


@pytest.mark.slow
def test_shot_types_from_real_faces(project):
    faces = project.root / "data/faces"
    expected = make_faces(faces)
    no_face(faces / "cup.png")
    (faces / "cup.txt").write_text("a cup of coffee\n")
    expected["cup.png"] = "unknown"
    project.spec("""
sources:
  faces: {dir: data/faces, dedup: {near: false}}
labels:
  faces-labels: {of: faces, labeler: sidecar}
datasets:
  people:
    from: [faces-labels]
    trigger: astr
    shots: {folders: true, prefix: {close: close-up}}
""")
    run = project.build()
    assert run.code == 0, run.err
    info = DatasetInfo.from_meta(manifest(project, run, "people")["meta"])
    got = {e.image.rsplit("/", 1)[-1]: e for e in info.entries}
    assert {k: e.shot for k, e in got.items()} == expected
    reps = info.recommended["repeats"]
    for name, e in got.items():
        assert e.image == f"{reps}_astr_{expected[name]}/{name}"
        if e.shot != "unknown":
            assert e.extra["shot_info"]["box"] and 0.5 <= e.extra["shot_info"]["confidence"] <= 1
    assert got["close_a.png"].caption.startswith("close-up, astr, a photo of an astronaut")
    assert got["far_a.png"].caption.startswith("astr, a photo")
    meta = metadata(project, "people")
    assert meta["shots"]["counts"] == {"close": 4, "mid": 1, "far": 1, "unknown": 1}
    assert any("67% of the images with faces are close" in w for w in meta["warnings"])
    assert any("only 1 mid shot" in w for w in meta["warnings"])
    subsets = tomllib.loads((project.root / "out/people/dataset.toml").read_text())["datasets"][0]["subsets"]
    assert {s["image_dir"] for s in subsets} == {f"{reps}_astr_{s}" for s in ("close", "mid", "far", "unknown")}


def test_concepts_from_a_project_taxonomy(project, shapes):
    tax = project.write("taxonomy.yaml", """
        shape: [circle, square, triangle, star, diamond, ring]
        count: [{two: [2]}, {three: [3]}]
    """)
    project.spec(SHAPES_LABELS + """
datasets:
  ds: {from: [shapes-labels], concepts: {taxonomy: taxonomy.yaml, custom: {style: [flat geometric art]}}}
""")
    run = project.build()
    assert run.code == 0, run.err
    c = metadata(project, "ds")["concepts"]
    assert c["by_category"]["shape"] == {s: 2 for s in ("circle", "diamond", "ring", "square", "star", "triangle")}
    assert c["by_category"]["style"] == {"flat geometric art": 12}
    assert c["top"][0] == {"category": "style", "term": "flat geometric art", "count": 12, "frequency": 1.0,
                           "strength": "strong"}
    n_two = sum("two " in p.read_text() for p in (project.root / "out/ds").glob("*/*.txt"))
    assert c["by_category"]["count"]["two"] == n_two > 0
    info = DatasetInfo.from_meta(manifest(project, run, "ds")["meta"])
    assert all(len(e.extra["concepts"]["shape"]) == 1 for e in info.entries)
    per_image = [list(im["concepts"].items()) for im in metadata(project, "ds")["images"]]
    texts = len(ds_memo(run))  # captions found once per distinct text and taxonomy, then memoised
    assert ds_memo(run)["dataset.concepts"]["hits"] == 0 and ds_memo(run)["dataset.concepts"]["misses"] > 0
    tax.write_text("shape: [circle]\n")
    again = project.build()
    assert again.statuses()["ds"] == "built" and again.statuses()["shapes-labels"] == "cached"
    assert metadata(project, "ds")["concepts"]["by_category"] == {"shape": {"circle": 2},
                                                                   "style": {"flat geometric art": 12}}
    assert ds_memo(again)["dataset.concepts"] == ds_memo(run)["dataset.concepts"]  # a new taxonomy: all new
    tax.write_text("shape: [circle, square, triangle, star, diamond, ring]\ncount: [{two: [2]}, {three: [3]}]\n")
    back = project.build("--set", "ds:trigger=zqx")  # rebuilt for the trigger; concepts from the memo
    assert back.statuses()["ds"] == "built" and len(ds_memo(back)) == texts
    assert ds_memo(back)["dataset.concepts"] == {"hits": ds_memo(run)["dataset.concepts"]["misses"], "misses": 0}
    assert [list(im["concepts"].items()) for im in metadata(project, "ds")["images"]] == per_image
    assert any(len(found) > 1 for found in per_image)  # the same concepts, in the taxonomy's category order


def ds_memo(run) -> dict:
    return next(e for e in run.events() if e.get("event") == "target" and e["target"] == "ds").get("memo", {})


def test_bad_inputs_are_clear_errors(project, shapes):
    project.spec("""
sources:
  shapes: {dir: data/shapes}
datasets:
  ds: {from: [shapes]}
""")
    run = project.build()
    assert run.code != 0
    failed = next(e for e in run.events() if e.get("event") == "target" and e["target"] == "ds")
    assert failed["status"] == "failed" and "'shapes' is not a labels target" in failed["error"]
    project.spec(SHAPES_LABELS + """
datasets:
  ds: {from: [shapes-labels], caption: "{trigger}, {captoin}"}
""")
    bad = project.build()
    assert bad.code != 0
    assert "unknown field {captoin}" in bad.out + bad.err and "main.yaml" in bad.out + bad.err
    assert not (project.root / "out/ds").exists()


def test_a_dataset_with_no_image_left_fails_clearly(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        labels:
          shapes-labels: {of: shapes, labeler: sidecar}
        datasets:
          nothing: {from: [shapes-labels], include: {tags: [no-such-tag]}}
    """)
    r = project.build("nothing")
    assert r.code == 1
    failed = [e for e in r.events() if e.get("target") == "nothing" and e.get("event") == "target"][0]
    assert failed["status"] == "failed"
    assert "no image is left to train on (12 candidates, 12 excluded" in failed["error"]
