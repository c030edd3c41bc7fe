"""The dataset kind's pure parts: captions, buckets, concepts, selection, shots, report, layouts."""

from __future__ import annotations

import json
import tomllib

import pytest
import yaml
from dataset_helpers import FACES, designed_share, face_array, no_face

from imagineer_build.kinds.dataset import (
    buckets,
    captions,
    concepts,
    layouts,
    report,
    select,
    shots,
)
from imagineer_build.kinds.dataset.config import DatasetConfig

# ---- captions -------------------------------------------------------------------------------


def settings(**kw) -> captions.CaptionSettings:
    return captions.CaptionSettings(**{"template": "{trigger}, {caption}", **kw})


def test_caption_template_fills_trigger_caption_and_first_n_tags():
    s = settings(template="{trigger}, {tags:2}, {caption}", trigger="emma")
    a = captions.assemble(s, caption="a woman  in a\nred dress", tags=["smiling", "outdoors", "hat"], shot=None,
                          name="x", salt="d1")
    assert a.text == "emma, smiling, outdoors, a woman in a red dress"
    assert captions.render("{tags}", {}, ["a", "b", "c"]) == "a, b, c"
    assert captions.render("{{literal}} {tags:1}", {}, ["a", "b"]) == "{literal} a"


def test_empty_fields_leave_no_dangling_commas():
    a = captions.assemble(settings(), caption="  a cat ", tags=[], shot=None, name="x", salt="d")
    assert a.text == "a cat"
    assert captions.normalize(" , a ,, b ,  ") == "a, b"


def test_template_problems_are_named():
    problems = captions.check_template("{trigger}, {captoin}, {shot:3} }")
    assert any("unknown field {captoin}" in p for p in problems)
    assert any("only {tags:N}" in p for p in problems)
    assert any("stray '}'" in p for p in problems)
    assert captions.check_template("{trigger}, {tags:5}, {caption}") == []


def test_shuffle_is_seeded_and_keeps_leading_tokens():
    s = settings(template="{trigger}, {tags}", trigger="emma", shuffle=True, keep_tokens=1, seed=3)
    tags = [f"t{i}" for i in range(12)]
    a1 = captions.assemble(s, caption=None, tags=tags, shot=None, name="x", salt="digest-1").text
    a2 = captions.assemble(s, caption=None, tags=tags, shot=None, name="x", salt="digest-1").text
    other_seed = captions.assemble(settings(template="{trigger}, {tags}", trigger="emma", shuffle=True, seed=4),
                                   caption=None, tags=tags, shot=None, name="x", salt="digest-1").text
    assert a1 == a2
    assert a1.startswith("emma, ")
    assert sorted(a1.split(", ")[1:]) == sorted(tags)
    assert a1 != "emma, " + ", ".join(tags)
    assert other_seed != a1


def test_long_captions_are_cut_at_a_part_boundary():
    long = ", ".join(f"part number {i}" for i in range(50))
    a = captions.assemble(settings(max_length=60), caption=long, tags=[], shot=None, name="x", salt="d")
    assert len(a.text) <= 60
    assert a.truncated_from == len(long)
    assert a.text.endswith(("part number 3", "part number 4"))


def test_shot_prefix_goes_first_unless_the_template_places_it():
    s = settings(trigger="emma", prefixes={"close": "close-up"})
    assert captions.assemble(s, caption="a face", tags=[], shot="close", name="x", salt="d").text == \
        "close-up, emma, a face"
    s2 = settings(template="{trigger}, {prefix}, {caption}", trigger="emma", prefixes={"close": "close-up"})
    assert captions.assemble(s2, caption="a face", tags=[], shot="close", name="x", salt="d").text == \
        "emma, close-up, a face"
    assert captions.assemble(s2, caption="a face", tags=[], shot="far", name="x", salt="d").text == "emma, a face"


# ---- buckets --------------------------------------------------------------------------------


def test_bucket_plan_is_multiples_of_64_within_the_area():
    plan = buckets.plan(512, 64, 256, 1024)
    assert (512, 512) in plan
    assert all(w % 64 == 0 and h % 64 == 0 for w, h in plan)
    assert all(w * h <= 512 * 512 for w, h in plan)
    assert all(256 <= s <= 1024 for b in plan for s in b)
    assert (256, 1024) in plan and (1024, 256) in plan


def test_images_go_to_the_nearest_aspect_bucket():
    chosen, used = buckets.assign([(600, 600), (1200, 800), (800, 1200), (3000, 1000)], 512)
    assert chosen[0] == (512, 512)
    assert chosen[1][0] > chosen[1][1] and abs(chosen[1][0] / chosen[1][1] - 1.5) < 0.2
    assert chosen[2] == (chosen[1][1], chosen[1][0])
    assert abs(chosen[3][0] / chosen[3][1] - 3) < 0.5
    assert used[0] == list(chosen[3])  # widest first
    off, used_off = buckets.assign([(1200, 800), (800, 1200)], 512, enabled=False)
    assert off == [(512, 512), (512, 512)] and used_off == [[512, 512]]


# ---- concepts -------------------------------------------------------------------------------


def test_default_taxonomy_finds_terms_aliases_and_plurals():
    terms = concepts.compile_terms(concepts.load_taxonomy())
    found = concepts.find(terms, "Emma standing outdoors at sunset wearing sunglasses and two dresses")
    assert "standing" in found["pose"]
    assert "outdoors" in found["setting"]
    assert "golden hour" in found["lighting"]  # alias: sunset
    assert {"glasses", "dress"} <= set(found["clothing"])  # alias, plural
    assert "red" not in found.get("colors", [])
    assert concepts.find(terms, "a bored man") == {}  # no 'red' inside 'bored'


def test_concept_patterns_do_not_depend_on_hash_order():
    """A term's regex is part of the concepts memo key: aliases of equal length must come out in
    the same order in every process, whatever PYTHONHASHSEED is."""
    import os
    import subprocess
    import sys

    code = ("from imagineer_build.kinds.dataset import concepts as c; "
            "print([t.pattern.pattern for t in c.compile_terms({'n': [{'two': ['duo', 'due', 'pair', 'dos']}]}) "
            "+ c.compile_terms(c.load_taxonomy())])")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in range(6)}
    assert len(outs) == 1 and "pair|dos|due|duo|two" in outs.pop().replace("(?:e?s)?", "")


def test_concept_frequencies_and_strength():
    terms = concepts.compile_terms({"shape": ["circle", {"square": ["box"]}], "mood": ["calm"]})
    per = [concepts.find(terms, t) for t in ["a circle", "circles and a box", "a circle, calm", "a square",
                                              "nothing", "circle"]]
    f = concepts.frequencies(per, top=2)
    assert f["top"][0] == {"category": "shape", "term": "circle", "count": 4, "frequency": 0.667,
                           "strength": "moderate"}
    assert f["by_category"] == {"shape": {"circle": 4, "square": 2}, "mood": {"calm": 1}}
    assert len(f["top"]) == 2
    strong = concepts.frequencies([{"a": ["x"]}] * 8 + [{}] * 2)["top"][0]
    assert strong["strength"] == "strong"
    weak = concepts.frequencies([{"a": ["x"]}] + [{}] * 9)["top"][0]
    assert weak["strength"] == "weak"


def test_bad_taxonomy_is_a_clear_error(tmp_path):
    with pytest.raises(concepts.TaxonomyError, match="must be a list"):
        concepts.compile_terms({"pose": "standing"}, "t.yaml")
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"shape": ["circle"]}))
    assert concepts.load_taxonomy(p) == {"shape": ["circle"]}


# ---- selection ------------------------------------------------------------------------------


def cand(i: int, **kw) -> select.Candidate:
    base = dict(digest=f"d{i:03d}", blob_digest=f"d{i:03d}", blob="/x", source="l", path=f"images/{i}.png",
                width=512, height=512, format="png", caption=f"caption {i}")
    return select.Candidate(**{**base, **kw})


def cfg(**kw) -> DatasetConfig:
    return DatasetConfig.model_validate({"from": ["l"], **kw})


def test_filters_give_reasons():
    cands = [cand(0), cand(1, nsfw="EXPLICIT"), cand(2, tags=["Blurry"]), cand(3, caption=None),
             cand(4, width=100), cand(5, caption=None, label_error="HTTP 500"), cand(6, nsfw="SUGGESTIVE")]
    kept, excluded = select.choose(cands, cfg(exclude={"tags": ["blurry"]}, min_size=[256, 256]))
    assert [c.digest for c in kept] == ["d000", "d006"]
    reasons = {e["digest"]: e["reason"] for e in excluded}
    assert "EXPLICIT" in reasons["d001"]
    assert "exclude.tags" in reasons["d002"]
    assert reasons["d003"] == "no caption"
    assert "min_size" in reasons["d004"]
    assert reasons["d005"] == "no caption (labelling failed: HTTP 500)"
    kept2, _ = select.choose(cands, cfg(exclude={"nsfw": []}, include={"tags": ["blurry"]}, require_caption=False))
    assert [c.digest for c in kept2] == ["d002"]


def test_limit_is_a_seeded_sample_that_survives_additions():
    cands = [cand(i) for i in range(40)]
    a, ex = select.choose(cands, cfg(limit=10, seed=1))
    b, _ = select.choose(cands, cfg(limit=10, seed=1))
    c, _ = select.choose(cands, cfg(limit=10, seed=2))
    assert [x.digest for x in a] == [x.digest for x in b]
    assert {x.digest for x in a} != {x.digest for x in c}
    assert len(a) == 10 and len(ex) == 30 and all("seeded sample" in e["reason"] for e in ex)
    assert [x.digest for x in a] == sorted(x.digest for x in a)  # input order kept
    more, _ = select.choose(cands + [cand(99)], cfg(limit=10, seed=1))
    assert len({x.digest for x in a} & {x.digest for x in more}) >= 9


# ---- shots ----------------------------------------------------------------------------------


def test_classify_thresholds_and_confidence():
    assert shots.classify(0.5)[0] == "close"
    assert shots.classify(0.15)[0] == "mid"
    assert shots.classify(0.02)[0] == "far"
    assert shots.classify(None) == ("unknown", None)
    assert shots.classify(0.5)[1] == 1.0  # twice the threshold
    assert shots.classify(0.26)[1] < 0.6  # just over it


@pytest.mark.parametrize("name", ["close_a", "mid_a", "far_a"])
def test_shot_of_a_real_face_at_a_known_share(tmp_path, name):
    from PIL import Image

    mode, side, expected = FACES[name]
    path = tmp_path / f"{name}.png"
    Image.fromarray(face_array(mode, side)).save(path)
    info = shots.shot_info(shots.detect_job(str(path)), 0.25, 0.08)
    assert info["shot"] == expected
    share = designed_share(mode, side)
    assert share / 2 < info["share"] < share * 2, (info, share)  # detector boxes differ a little
    x, y, w, h = info["box"]
    assert 0 <= x and 0 <= y and x + w <= side + 1 and y + h <= side + 1
    assert 0.5 <= info["confidence"] <= 1.0


def test_no_face_is_unknown_and_unreadable_is_reported(tmp_path):
    p = tmp_path / "cup.png"
    no_face(p)
    assert shots.shot_info(shots.detect_job(str(p)), 0.25, 0.08)["shot"] == "unknown"
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    info = shots.shot_info(shots.detect_job(str(bad)), 0.25, 0.08)
    assert info["shot"] == "unknown" and info["error"]


# ---- report ---------------------------------------------------------------------------------


def test_recommended_settings_follow_dataset_size():
    assert report.recommended(10)["epochs"] == 20 and report.recommended(10)["batch_size"] == 1
    assert (report.recommended(40)["epochs"], report.recommended(40)["batch_size"]) == (15, 2)
    assert (report.recommended(80)["epochs"], report.recommended(80)["batch_size"]) == (10, 2)
    assert (report.recommended(300)["epochs"], report.recommended(300)["batch_size"]) == (8, 4)
    for n in (10, 40, 80, 300):
        assert 1000 <= report.recommended(n)["steps"] <= 2200
    assert report.recommended(10, repeats=3)["repeats"] == 3


def test_warnings_cover_size_shots_captions_and_trigger():
    shots_dist = report.shot_distribution(["close"] * 7 + ["mid"] * 2 + ["far"] * 1 + ["unknown"] * 5)
    w = report.warnings(n=10, shots=shots_dist, excluded=[{"reason": "no caption"}], uncaptioned=0,
                        truncated=2, max_length=100, trigger="woman", label_errors=0)
    text = "\n".join(w)
    assert "only 10 images" in text
    assert "70% of the images with faces are close" in text
    assert "only 2 mid shots" in text and "only 1 far shot" in text
    assert "1 image left out for missing captions" in text
    assert "2 captions were cut" in text
    assert "common word" in text
    none = report.warnings(n=40, shots=report.shot_distribution(["unknown"] * 40), excluded=[], uncaptioned=0,
                           truncated=0, max_length=100, trigger="shpz", label_errors=0)
    assert none == []


# ---- layouts --------------------------------------------------------------------------------


def lay(layout: str, **kw) -> layouts.LayoutFiles:
    items = [layouts.Placed("d1", "b1", "cat", "png", "emma, a cat", "close", 4),
             layouts.Placed("d2", "b2", "dog", "jpeg", "emma, a dog", "far", 4)]
    s = layouts.LayoutSettings(layout=layout, trigger="emma", name="ds", resolution=512, batch_size=1, repeats=4,
                               caption_dropout=0.1, bucket={"enabled": True, "step": 64, "min_side": 256,
                                                            "max_side": 1024}, **kw)
    return layouts.write(items, s)


def test_kohya_layout_and_toml():
    out = lay("kohya")
    assert out.images == {"4_emma/cat.png": "b1", "4_emma/dog.jpg": "b2"}
    assert out.texts["4_emma/cat.txt"] == b"emma, a cat\n"
    toml = tomllib.loads(out.texts["dataset.toml"].decode())
    assert toml["general"]["caption_extension"] == ".txt"
    ds = toml["datasets"][0]
    assert ds["resolution"] == 512 and ds["enable_bucket"] is True and ds["bucket_reso_steps"] == 64
    assert ds["subsets"] == [{"image_dir": "4_emma", "num_repeats": 4, "caption_dropout_rate": 0.1,
                              "class_tokens": "emma"}]
    by_shot = lay("kohya", shot_folders=True)
    assert set(by_shot.images) == {"4_emma_close/cat.png", "4_emma_far/dog.jpg"}
    assert [s["image_dir"] for s in tomllib.loads(by_shot.texts["dataset.toml"].decode())["datasets"][0]["subsets"]] \
        == ["4_emma_close", "4_emma_far"]


def test_flat_imagefolder_and_ai_toolkit_layouts():
    flat = lay("flat")
    assert flat.images == {"image_0001.png": "b1", "image_0002.jpg": "b2"}
    assert flat.texts["image_0002.txt"] == b"emma, a dog\n"
    hf = lay("imagefolder")
    rows = [json.loads(line) for line in hf.texts["metadata.jsonl"].decode().splitlines()]
    assert rows == [{"file_name": "cat.png", "text": "emma, a cat", "shot": "close"},
                    {"file_name": "dog.jpg", "text": "emma, a dog", "shot": "far"}]
    assert set(hf.images) == {"cat.png", "dog.jpg"}
    ait = lay("ai-toolkit")
    assert set(ait.images) == {"images/cat.png", "images/dog.jpg"}
    block = yaml.safe_load(ait.texts["ai-toolkit.yaml"])["datasets"]
    assert block == [{"folder_path": "images", "caption_ext": "txt", "caption_dropout_rate": 0.1,
                      "shuffle_tokens": False, "keep_tokens": 1, "num_repeats": 4, "cache_latents_to_disk": True,
                      "resolution": [512]}]


def test_unique_stems_on_clashes():
    stems = layouts.unique_stems([("aaaaaaaaaa1", "cat"), ("bbbbbbbbbb2", "Cat"), ("c3", "dog/..")])
    assert stems["aaaaaaaaaa1"] == "cat-aaaaaaaa" and stems["bbbbbbbbbb2"] == "Cat-bbbbbbbb"
    assert "/" not in stems["c3"]


def test_bucket_sides_follow_the_resolution():
    from imagineer_build.kinds.dataset.config import BucketConfig

    assert BucketConfig().sides(512) == (256, 1024)
    assert BucketConfig().sides(1024) == (256, 2048)
    assert BucketConfig().sides(128) == (64, 1024)
    small = buckets.plan(128, 64, *BucketConfig().sides(128))
    assert (128, 128) in small and (64, 256) in small and all(w * h <= 128 * 128 for w, h in small)


def test_config_checks_name_the_field():
    from imagineer_build.kinds.dataset import DatasetKind

    kind = DatasetKind()
    problems = dict(kind.check(cfg(caption="{trigger} {nope}", shots={"far": 0.3}, buckets={"max_side": 256},
                                   **{"from": ["a", "a"]}), {}))
    assert "unknown field {nope}" in problems[("caption",)]
    assert "below close" in problems[("shots", "far")]
    assert "below the resolution 512" in problems[("buckets", "max_side")]
    assert "named twice" in problems[("from",)]
    assert kind.check(cfg(), {}) == []
    assert [r.target for r in kind.refs(cfg(**{"from": ["x", "y"]}))] == ["x", "y"]
