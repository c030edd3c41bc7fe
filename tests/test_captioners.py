"""Local labelers: `vlm` (transformers generate on the builtin tiny LLaVA and a tiny BLIP folder)
and `tagger` (onnxruntime on the builtin tiny WD14-layout tagger), through the real CLI."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from captioner_helpers import MODELS, labels, make_blip, memo_rows, solid, target_event

from imagineer_build.kinds.label.config import TaggerConfig
from imagineer_build.models import ModelSpec
from imagineer_build.models.tokenizer import CORPUS

WORDS = set(CORPUS.split())


def spec(project, body: str, models: str = MODELS, settings: str = "") -> None:
    project.write("imagineer.yaml", "cache: cache\nout: out\n" + models + settings)
    head = "sources:\n  shapes: {dir: data/shapes}\nlabels:\n  caps:\n    of: shapes\n"
    project.spec(head + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n")


# ---- the tagger, on real onnxruntime ------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_tagger(tmp_path_factory):
    from imagineer_build.models.tagger import warm

    return warm(ModelSpec(base="builtin:tiny-tagger", arch="tagger"), Path("."), tmp_path_factory.mktemp("models"))


def tag(tagger, rgb, size=(40, 40), **cfg):
    from PIL import Image

    from imagineer_build.kinds.label.labelers.tagger import floor, keep_scores, to_label

    t = TaggerConfig(model="tag", **cfg)
    row = tagger.scores([Image.new("RGB", size, rgb)])[0]
    return to_label(keep_scores(row, tagger.tags, floor(t)), t)


def test_tagger_reads_bgr_orders_by_score_and_maps_ratings(tiny_tagger):
    red = tag(tiny_tagger, (230, 20, 20))
    assert red.tags[:2] == ["red mascot", "red"]  # by score; underscores replaced; a character above 0.85
    assert "blue" not in red.tags and "^_^" not in red.tags and "solo" not in red.tags
    assert red.nsfw == "SAFE" and red.caption is None and red.labeler == "tagger"
    blue = tag(tiny_tagger, (20, 20, 230))
    assert "blue" in blue.tags and "red" not in blue.tags  # channel order: WD14 models read BGR
    assert tag(tiny_tagger, (255, 0, 255)).nsfw == "SUGGESTIVE"
    assert tag(tiny_tagger, (0, 255, 255)).nsfw == "ADULT"
    assert tag(tiny_tagger, (255, 255, 0)).nsfw == "EXPLICIT"
    dark = tag(tiny_tagger, (0, 0, 0))
    assert dark.tags[0] == "dark" and "bright" not in dark.tags
    # a wide image is padded to a white square, as the WD14 models were trained
    assert "bright" in tag(tiny_tagger, (0, 0, 0), size=(120, 30)).tags


def test_tagger_thresholds_exclusions_and_caption(tiny_tagger):
    red = (230, 20, 20)
    assert "red mascot" not in tag(tiny_tagger, red, character_threshold=1.0).tags
    assert "no humans" not in tag(tiny_tagger, red, general_threshold=0.8).tags
    low = tag(tiny_tagger, red, general_threshold=0.01, replace_underscores=False)
    assert "^_^" in low.tags and "simple_background" in low.tags  # kaomoji and raw names kept
    few = tag(tiny_tagger, red, max_tags=2, exclude_tags=["red mascot"], as_caption=True)
    assert few.tags == ["red", "no humans"] and few.caption == "red, no humans"


def test_builtin_tagger_is_the_same_bytes_in_two_folders(tmp_path):
    """(The tiny VLM's sameness shows in test_same_bytes_in_two_stores_whatever_the_batch_size.)"""
    from imagineer_build.models.tiny_tagger import ensure_tiny_tagger

    a, b = ensure_tiny_tagger(tmp_path / "a"), ensure_tiny_tagger(tmp_path / "b")
    assert sorted(p.name for p in a.iterdir()) == [".ready", "model.onnx", "selected_tags.csv"]
    for name in ("model.onnx", "selected_tags.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_models_declare_vlm_and_tagger_archs():
    from imagineer_build.models import check_model, resolve_model

    settings = {"models": {"cap": {"base": "builtin:tiny-vlm"}, "joy": {"base": "org/joy", "arch": "vlm"},
                           "wrong": {"base": "builtin:tiny-tagger", "arch": "vlm"}}}
    assert resolve_model("cap", settings).arch == "vlm"  # a builtin knows its arch
    assert resolve_model("builtin:tiny-tagger", settings).arch == "tagger"
    assert check_model("joy", settings, ("vlm",)) is None
    assert "is a vlm model; this target needs sd15 or sdxl" in check_model("joy", settings)  # e.g. a generation
    assert "builtin:tiny-tagger is an tagger model, but arch says vlm" in check_model("wrong", settings, ("vlm",))


# ---- spec errors and the lazy imports -----------------------------------------------------

def test_spec_errors_name_the_line(project, shapes):
    spec(project, """
        labelers: [vlm, tagger]
        tagger: {model: cap}
        review: {by: tag}
    """)
    r = project.run("status")
    assert r.code == 2
    assert "specs/main.yaml:6:15: labeler vlm needs vlm: {model: NAME}" in r.err
    assert "specs/main.yaml:7:21: model 'cap' is a vlm model; this target needs tagger" in r.err
    assert "specs/main.yaml:8:18: review by: claude, or a vlm model: model 'tag' is a tagger model" in r.err
    spec(project, """
        labeler: vlm
        vlm: {model: cap, prompt: custom}
    """)
    r = project.run("status")
    assert r.code == 2 and "prompt: custom needs custom_prompt" in r.err


def test_status_with_local_labelers_loads_no_heavy_library(project, shapes):
    from test_light_imports import run_probe

    spec(project, """
        labelers: [tagger, vlm]
        vlm: {model: cap}
        tagger: {model: tag}
        review: {by: cap}
    """)
    p, heavy = run_probe(project.root, "status")
    assert p.returncode == 0, p.stderr
    assert heavy == ""
    assert "onnxruntime" not in p.stdout


# ---- through the CLI ----------------------------------------------------------------------

@pytest.mark.slow
def test_tagger_and_vlm_chain_memo_and_overrides(project, shapes):
    spec(project, """
        labelers: [tagger, vlm]
        chain: merge
        vlm: {model: cap, max_new_tokens: 8}
        tagger: {model: tag}
    """)
    r = project.build()
    assert r.code == 0, r.err
    ev = target_event(r)
    assert ev["memo"] == {"labels.tagger": {"hits": 0, "misses": 12}, "labels.vlm": {"hits": 0, "misses": 12}}
    labs, data = labels(project)
    for lab in labs.values():
        words = lab["caption"].split()
        assert 1 <= len(words) <= 8 and set(words) <= WORDS, lab["caption"]  # decoded from the tiny model
        assert lab["labeler"] == "vlm" and lab["model"] == "cap" and lab["prompt_version"].startswith("descriptive@")
        assert "no humans" in lab["tags"] and lab["nsfw"] == "SAFE"  # the tagger's part
    assert data["meta"]["report"]["labelers"] == {"tagger": 12, "vlm": 12}
    assert project.build().statuses()["caps"] == "cached"
    # thresholds are applied to memoised scores: no model call
    spec(project, """
        labelers: [tagger, vlm]
        chain: merge
        vlm: {model: cap, max_new_tokens: 8}
        tagger: {model: tag, general_threshold: 0.7, exclude_tags: [no_humans]}
    """)
    r = project.build()
    assert target_event(r)["memo"] == {"labels.tagger": {"hits": 12, "misses": 0}, "labels.vlm": {"hits": 12, "misses": 0}}
    after, _ = labels(project)
    assert all("no humans" not in lab["tags"] and "simple background" not in lab["tags"] for lab in after.values())
    # one new image costs one caption and one tagging; a hand edit wins
    solid(shapes, "extra.png", (230, 20, 20))
    digest = next(im["digest"] for im in data["meta"]["album"]["images"] if Path(im["path"]).stem == "shape_003")
    project.write("labels/caps.yaml", f'"{digest}": {{caption: a hand-written caption}}\n')
    spec(project, """
        labelers: [tagger, vlm]
        chain: merge
        overrides: labels/caps.yaml
        vlm: {model: cap, max_new_tokens: 8}
        tagger: {model: tag, general_threshold: 0.7, exclude_tags: [no_humans]}
    """)
    r = project.build()
    assert target_event(r)["memo"] == {"labels.tagger": {"hits": 12, "misses": 1}, "labels.vlm": {"hits": 12, "misses": 1}}
    final, _ = labels(project)
    assert final["shape_003"]["caption"] == "a hand-written caption" and final["shape_003"]["overridden"]
    assert final["extra"]["tags"][:2] == ["red mascot", "red"]
    assert memo_rows(project, "labels.vlm") == 13


@pytest.mark.slow
def test_same_bytes_in_two_stores_whatever_the_batch_size(project, tmp_path):
    """Two fresh stores in two folders, one captioning 8 images per generate() call and one
    image at a time: the same artifact (the memo key leaves the batch size out for this reason)."""
    from make_images import make

    artifacts = []
    for root, batch in ((project.root, 8), (tmp_path / "elsewhere" / "proj2", 1)):
        other = type(project)(root)
        (root / "specs").mkdir(parents=True, exist_ok=True)
        make(root / "data" / "shapes", 6)
        spec(other, f"""
            labelers: [vlm, tagger]
            chain: merge
            vlm: {{model: cap, prompt: tags, max_new_tokens: 10, batch_size: {batch}}}
            tagger: {{model: tag}}
        """)
        r = other.build()
        assert r.code == 0, r.err
        artifacts.append(target_event(r)["artifact"])
    assert artifacts[0] == artifacts[1]
    labs, _ = labels(project)
    for lab in labs.values():  # prompt: tags → the vlm's tags first (also its caption), then the tagger's
        mine = lab["caption"].split(", ")
        assert lab["tags"][:len(mine)] == mine and "no humans" in lab["tags"][len(mine):]


@pytest.mark.slow
def test_local_blip_folders_and_empty_captions_are_reported(project, shapes):
    make_blip(project.root / "models" / "blip")
    make_blip(project.root / "models" / "mute", mute=True)
    project.write("imagineer.yaml", """
        cache: cache
        out: out
        models:
          blip: {base: models/blip, arch: vlm}
          mute: {base: models/mute, arch: vlm}
    """)
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        labels:
          caps:
            of: shapes
            labeler: vlm
            vlm: {model: blip, max_new_tokens: 6, prompt: custom, custom_prompt: a picture of}
          muted:
            of: shapes
            labeler: vlm
            vlm: {model: mute}
          fallback:
            of: shapes
            labelers: [vlm, sidecar]
            vlm: {model: mute}
    """)
    r = project.build()
    assert r.code == 0, r.err
    labs, _ = labels(project)
    for lab in labs.values():  # BLIP: an image-to-text model, the custom prompt is its caption's start
        words = lab["caption"].split()
        assert words and len(words) <= 6 and set(words) <= WORDS | {"a", "of"}, lab["caption"]
        assert not lab["caption"].startswith("a of")  # the echoed prefix is cut off
    labs, data = labels(project, "muted")
    assert all(lab["error"] == "vlm: model mute gave an empty caption" and lab["caption"] is None
               for lab in labs.values())
    assert len(data["meta"]["report"]["failed"]) == 12 and target_event(r, "muted")["facts"]["failed"] == 12
    assert r.out.count("gave an empty caption") >= 12  # logged per image
    labs, _ = labels(project, "fallback")
    assert all(lab["labeler"] == "sidecar" and not lab["error"] for lab in labs.values())  # the chain went on
    # the folder's bytes are in the key (and in the memo's): a changed model rebuilds, the others stay cached
    gen = project.root / "models" / "mute" / "generation_config.json"
    gen.write_text(gen.read_text().replace("{", '{\n  "max_length": 40,', 1))
    r = project.build()
    assert r.statuses() == {"shapes": "cached", "caps": "cached", "muted": "built", "fallback": "built"}
    memo = [target_event(r, t)["memo"]["labels.vlm"] for t in ("muted", "fallback")]
    assert sorted(m["misses"] for m in memo) == [0, 12]  # captioned once, shared through the memo


@pytest.mark.slow
def test_missing_hf_model_fails_before_any_work(project, shapes, tmp_path):
    spec(project, """
        labelers: [tagger, vlm]
        chain: merge
        tagger: {model: tag}
        vlm: {model: joy}
    """, models=MODELS + "  joy: {base: fancyfeast/llama-joycaption-beta-one-hf-llava, arch: vlm}\n")
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty-hub")}
    r = project.build(env=env)
    assert r.code != 0
    assert "huggingface-cli download fancyfeast/llama-joycaption-beta-one-hf-llava" in r.out + r.err
    assert memo_rows(project, "labels.tagger") == 0  # the tagger, first in the chain, did not run


def test_dataset_file_names_from_captions(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        labels:
          caps: {of: shapes, labeler: template, template: "{stem}"}
          same: {of: shapes, labeler: template, template: "Ça, a RED circle on blue!"}
        datasets:
          kohya: {from: [caps], names: caption, shots: {detect: false}, contact_sheet: false, trigger: zz}
          flat: {from: [same], names: caption, format: flat, shots: {detect: false}, contact_sheet: false}
    """)
    r = project.build()
    assert r.code == 0, r.err
    kohya = sorted(p.name for p in (project.root / "out" / "kohya").rglob("*.png"))
    assert kohya[:2] == ["shape-000_0001.png", "shape-001_0001.png"]
    flat = sorted(p.name for p in (project.root / "out" / "flat").glob("*.*") if p.suffix in (".png", ".jpg"))
    assert len(flat) == 12 and flat[0] == "ca-a-red-circle-on-blue_0001.png" and flat[-1].startswith("ca-a-red-circle-on-blue_0012.")
    assert (project.root / "out" / "flat" / "ca-a-red-circle-on-blue_0001.txt").read_text().startswith("Ça, a RED")
