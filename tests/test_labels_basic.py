"""The labels kind without any API: sidecar captions, template captions, manual + overrides."""

from __future__ import annotations

import json


def show_json(project, target):
    r = project.run("show", target, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def labels_by_name(project, target):
    """Labels keyed by image file stem (shape_003), and the whole show --json answer."""
    data = show_json(project, target)
    paths = {im["digest"]: im["path"].rsplit("/", 1)[-1].rsplit(".", 1)[0] for im in data["meta"]["album"]["images"]}
    return {paths[d]: lab for d, lab in data["meta"]["labels"].items()}, data


def test_sidecar_labels_carry_album_files_and_captions(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        labels:
          caps: {of: shapes, labeler: sidecar}
          alt: {of: shapes, labeler: alt-text}
    """)
    r = project.build()
    assert r.code == 0, r.err
    assert r.statuses() == {"shapes": "built", "caps": "built", "alt": "built"}
    assert show_json(project, "alt")["meta"]["summary"]["labelled"] == 0  # .txt files are not web captions
    labs, data = labels_by_name(project, "caps")
    src = show_json(project, "shapes")
    images = {k: v for k, v in src["files"].items() if k.startswith("images/")}
    assert {k: v for k, v in data["files"].items() if k.startswith("images/")} == images  # the album's bytes
    assert set(data["files"]) - set(images) == {"album.jsonl", "album.csv"}  # with labels in them
    assert len(labs) == 12
    want = (shapes / "shape_003.txt").read_text().strip()
    assert labs["shape_003"]["caption"] == want
    assert labs["shape_003"]["labeler"] == "sidecar"
    assert labs["shape_003"]["origin"] == "sidecar:sidecar"
    assert data["meta"]["summary"]["labelled"] == 12
    assert data["meta"]["summary"]["failed"] == 0
    assert sorted((project.root / "out/caps/images").iterdir()) != []
    again = project.build()
    assert again.statuses() == {"shapes": "cached", "caps": "cached", "alt": "cached"}
    text = project.run("show", "caps")
    assert "12 images, 12 labelled, 0 failed" in text.out


def test_sidecar_missing_caption_leaves_image_unlabelled(project, shapes):
    (shapes / "shape_004.txt").unlink()
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        labels:
          caps: {of: shapes, labeler: sidecar}
    """)
    assert project.build().code == 0
    labs, data = labels_by_name(project, "caps")
    assert labs["shape_004"]["caption"] is None
    assert labs["shape_004"]["error"] is None
    assert data["meta"]["summary"]["labelled"] == 11


def test_manual_with_overrides_by_name_and_digest(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        labels:
          hand: {of: shapes, labeler: manual, overrides: labels/hand.yaml}
    """)
    project.write("labels/hand.yaml", "shape_001.png: {caption: a hand caption, tags: [x, y], nsfw: SAFE}\n")
    r = project.build()
    assert r.code == 0, r.err
    labs, data = labels_by_name(project, "hand")
    assert labs["shape_001"]["caption"] == "a hand caption"
    assert labs["shape_001"]["tags"] == ["x", "y"]
    assert labs["shape_001"]["nsfw"] == "SAFE"
    assert labs["shape_001"]["overridden"] is True
    assert labs["shape_001"]["labeler"] == "manual"
    assert labs["shape_002"]["caption"] is None
    assert data["meta"]["summary"]["labelled"] == 1
    digest2 = next(d for d, lab in data["meta"]["labels"].items() if lab is labs["shape_002"])
    # editing the overrides file is part of the key: the target rebuilds, the source does not
    project.write("labels/hand.yaml", f"""
        shape_001.png: {{caption: a hand caption, tags: [x, y], nsfw: SAFE}}
        {digest2}: {{caption: by digest, nsfw: EXPLICIT}}
        gone.png: {{caption: nobody}}
    """)
    r2 = project.build()
    assert r2.statuses() == {"shapes": "cached", "hand": "built"}
    labs, data = labels_by_name(project, "hand")
    assert labs["shape_002"]["caption"] == "by digest"
    assert data["meta"]["summary"]["nsfw"]["EXPLICIT"] == 1
    assert data["meta"]["report"]["overrides"]["unmatched"] == ["gone.png"]
    assert any("gone.png" in e.get("message", "") for e in r2.events() if e.get("event") == "log")


def test_overrides_win_over_sidecar_and_tags_can_be_added_and_removed(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        labels:
          caps: {of: shapes, labeler: sidecar, overrides: labels/caps.yaml}
    """)
    project.write("labels/caps.yaml", """
        shape_000.png: {caption: better words}
        shape_001.png: {add_tags: [keep, drop], remove_tags: [drop], nsfw: SUGGESTIVE}
    """)
    assert project.build().code == 0
    labs, _ = labels_by_name(project, "caps")
    assert labs["shape_000"]["caption"] == "better words"
    assert labs["shape_000"]["overridden"] is True
    assert labs["shape_001"]["caption"] == (shapes / "shape_001.txt").read_text().strip()
    assert labs["shape_001"]["labeler"] == "sidecar"
    assert labs["shape_001"]["tags"] == ["keep"]
    assert labs["shape_001"]["nsfw"] == "SUGGESTIVE"
    assert labs["shape_002"]["overridden"] is False


def test_bad_overrides_file_fails_the_target_clearly(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        labels:
          caps: {of: shapes, labeler: sidecar, overrides: labels/caps.yaml}
    """)
    project.write("labels/caps.yaml", "shape_000.png: {nsfw: MAYBE}\n")
    r = project.build()
    assert r.code != 0
    assert r.statuses() == {"shapes": "built", "caps": "failed"}
    err = next(e["error"] for e in r.events() if e.get("event") == "target" and e["target"] == "caps")
    assert "labels/caps.yaml" in err and "shape_000.png" in err and "nsfw" in err


def test_missing_overrides_file_and_missing_labeler_are_spec_errors(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        labels:
          a: {of: shapes, labeler: manual, overrides: labels/none.yaml}
          b: {of: shapes}
          c: {of: shapes, labeler: sidecar, labelers: [sidecar]}
    """)
    r = project.build()
    assert r.code != 0
    assert "labels/none.yaml" in r.err
    assert "needs labeler" in r.err
    assert "not both" in r.err


def test_template_labeler_formats_record_fields(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        labels:
          t: {of: shapes, labeler: template, template: "{stem} at {width}x{height}", template_tags: ["{format}"]}
          bad: {of: shapes, labeler: template, template: "{nope}"}
    """)
    r = project.build("-k")
    assert r.statuses()["t"] == "built", r.err
    labs, _ = labels_by_name(project, "t")
    assert labs["shape_005"]["caption"] == "shape_005 at 192x192"
    assert labs["shape_005"]["tags"] == ["png"]
    labs, data = labels_by_name(project, "bad")
    assert data["meta"]["summary"]["failed"] == 12
    assert "'nope'" in labs["shape_000"]["error"]


def test_chain_sidecar_then_template_fills_gaps(project, shapes):
    (shapes / "shape_004.txt").unlink()
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        labels:
          c: {of: shapes, labelers: [sidecar, template], template: "fallback {stem}"}
    """)
    assert project.build().code == 0
    labs, data = labels_by_name(project, "c")
    assert labs["shape_004"]["caption"] == "fallback shape_004"
    assert labs["shape_004"]["labeler"] == "template"
    assert labs["shape_003"]["labeler"] == "sidecar"
    assert data["meta"]["report"]["labelers"] == {"sidecar": 11, "template": 1}


def test_sidecar_preference_order_over_caption_origins():
    from imagineer_build.kinds.label.config import ALT_TEXT_ORIGINS
    from imagineer_build.kinds.label.labelers.sidecar import pick_caption
    from imagineer_build.media.album import AlbumImage

    im = AlbumImage("d", "images/a.png", 10, 10, "png", "scrape", caption="the figcaption",
                    captions=[{"text": "alt words", "origin": "alt"}, {"text": "the figcaption", "origin": "figcaption"},
                              {"text": " ", "origin": "jsonld"}])
    assert pick_caption(im, None) == ("the figcaption", "figcaption")
    assert pick_caption(im, ["alt", "figcaption"]) == ("alt words", "alt")
    assert pick_caption(im, ["jsonld"]) is None  # empty text never counts; unlisted origins are not used
    assert pick_caption(im, ["jsonld", "figcaption"]) == ("the figcaption", "figcaption")
    assert pick_caption(im, ALT_TEXT_ORIGINS) == ("the figcaption", "figcaption")
