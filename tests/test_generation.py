"""The generation kind end to end: the real CLI, real diffusers on the embedded tiny SD 1.5."""

from __future__ import annotations

import json

import numpy as np
import pytest
from generation_helpers import CARD_ROWS, tiny_settings, write_csv
from PIL import Image

pytestmark = pytest.mark.slow

DECK = """
generations:
  deck:
    template: data/deck.csv
    prompt: "{value} of {suit}, {visual_layout}, {Hair}"
    theme: gothic steampunk
    style: ornate
    model: tiny
    size: [64, 64]
    steps: 3
    batch_size: BATCH
    variations: {Hair: [blonde, neon blue]}
"""


def deck_project(project, rows=CARD_ROWS, batch=4, cache="cache"):
    project.root.joinpath("imagineer.yaml").write_text(tiny_settings().replace("cache: cache", f"cache: {cache}"))
    write_csv(project.root / "data/deck.csv", rows)
    project.spec(DECK.replace("BATCH", str(batch)))
    return project


@pytest.fixture(scope="module")
def model_root(tmp_path_factory):
    """One project/store folder for the in-process tests, so they share one warm pipeline."""
    return tmp_path_factory.mktemp("tiny-model")


def target_event(run, name):
    return next(e for e in run.events() if e.get("event") == "target" and e["target"] == name)


def pixels(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def out_images(project, target="deck"):
    return {p.name: p for p in sorted((project.root / "out" / target / "images").glob("*.png"))}


def test_deck_builds_with_metadata_album_and_contact_sheet_then_is_a_no_op(project):
    deck_project(project)
    project.spec("""
        labels:
          deck-labels:
            of: deck
            labeler: template
            template: "card, {value} of {suit}, {Hair} hair"
    """, name="labels.yaml")
    r = project.build()
    assert r.code == 0, r.err
    assert target_event(r, "deck-labels")["status"] == "built"  # the album feeds other targets
    assert "card, Ace of Spades, neon blue hair" in project.run("show", "deck-labels").out
    ev = target_event(r, "deck")
    assert ev["status"] == "built" and ev["facts"]["images"] == 6
    assert ev["memo"]["generation.image"] == {"hits": 0, "misses": 6}
    imgs = out_images(project)
    assert list(imgs) == ["001_ace-of-spades_blonde.png", "002_ace-of-spades_neon-blue.png",
                          "003_two-of-hearts_blonde.png", "004_two-of-hearts_neon-blue.png",
                          "005_king-of-clubs_blonde.png", "006_king-of-clubs_neon-blue.png"]
    with Image.open(imgs["002_ace-of-spades_neon-blue.png"]) as im:
        assert im.size == (64, 64)
        text = im.text["parameters"]
    side = json.loads((project.root / "out/deck/images/002_ace-of-spades_neon-blue.json").read_text())
    prompt = "gothic steampunk, Ace of Spades, one large spade, ornate border, neon blue, ornate"
    assert text.splitlines()[0] == prompt
    assert "Negative prompt: blurry, low quality" in text
    assert f"Steps: 3, Sampler: DPM++ 2M, CFG scale: 8, Seed: {side['seed']}, Size: 64x64" in text
    assert "Model: tiny" in text
    assert side["prompt"] == prompt and side["variations"] == {"Hair": "neon blue"}
    assert side["row"] == CARD_ROWS[0]
    # Different seeds, different pictures.
    assert np.abs(pixels(imgs["001_ace-of-spades_blonde.png"]) - pixels(imgs["003_two-of-hearts_blonde.png"])).max() > 20
    with Image.open(project.root / "out/deck/contact.png") as sheet:
        assert sheet.width >= 6 * 64
    table = (project.root / "out/deck/album.csv").read_text().splitlines()
    assert table[0].startswith("file,seed,value,suit,visual_layout,Hair") and len(table) == 7
    shown = project.run("show", "deck")
    assert shown.code == 0 and "6 images" in shown.out and "seed" in shown.out
    again = project.build()
    assert {target_event(again, t)["status"] for t in ("deck", "deck-labels")} == {"cached"}


def test_per_image_memo_edit_one_row_reorder_rows_and_set_theme(project):
    deck_project(project)
    project.spec("""
        generations:
          deck:
            template: data/deck.csv
            prompt: "{value} of {suit}, {visual_layout}"
            model: tiny
            size: [64, 64]
            steps: 3
    """)
    first = project.build()
    assert first.code == 0, first.err
    before = {n: pixels(p) for n, p in out_images(project).items()}
    edited = [dict(r) for r in CARD_ROWS]
    edited[2]["visual_layout"] = "a king with a golden club"
    write_csv(project.root / "data/deck.csv", edited)
    r = project.build()
    edit = target_event(r, "deck")  # a patch of the last build: the other two images are kept as they are
    assert edit["memo"]["generation.image"] == {"hits": 0, "misses": 1} and edit["run"]["patched"]["kept images"] == 2
    with Image.open(project.root / "out/deck/images/003_king-of-clubs.png") as im:
        assert "a king with a golden club" in im.text["parameters"]
    # Rows reordered: new file names and a new artifact, but not one image generated.
    write_csv(project.root / "data/deck.csv", list(reversed(CARD_ROWS)))
    r = project.build()
    ev = target_event(r, "deck")
    # (the middle row keeps its place and name: kept; the other two are found in the memo)
    assert ev["status"] == "built" and ev["memo"]["generation.image"] == {"hits": 2, "misses": 0}
    after = out_images(project)
    assert list(after)[0] == "001_king-of-clubs.png"
    assert np.array_equal(pixels(after["001_king-of-clubs.png"]), before["003_king-of-clubs.png"])
    # --set theme=… overrides the spec for one build: a new key, new prompts, new images.
    r = project.build("deck", "--set", "theme=art nouveau")
    assert r.code == 0, r.err
    themed = target_event(r, "deck")
    assert themed["status"] == "built" and themed["memo"]["generation.image"] == {"hits": 0, "misses": 3}
    assert themed["key"] != ev["key"]
    with Image.open(project.root / "out/deck/images/003_ace-of-spades.png") as im:
        assert im.text["parameters"].startswith("art nouveau, Ace of Spades")
    back = project.build("deck")
    assert target_event(back, "deck")["status"] == "cached" and target_event(back, "deck")["key"] == ev["key"]


def test_batch_size_does_not_change_images(model_root):
    """In-process, through the kind's own batch runner: each image has its own seeded generator."""
    import io

    from imagineer_build.kinds.generation.render import ImageJob, Settings, run_batch
    from imagineer_build.models import ModelSpec, model_identity, pipeline_cache

    spec = ModelSpec(base="builtin:tiny-sd")
    s = Settings("tiny", spec, model_identity(spec, model_root), 64, 64, 3, 8.0, "dpmpp", 4)
    jobs = [ImageJob(i, f"img{i}", i, {}, {}, 0, f"{v} of spades, ornate border", "blurry", 1000 + i)
            for i, v in enumerate(["ace", "two", "three", "king"])]

    def decode(res):
        png, _ = res
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)

    with pipeline_cache.lease(spec, model_root, model_root) as pipe:
        together = [decode(r) for r in run_batch(pipe, jobs, s)]
        alone = [decode(run_batch(pipe, [j], s)[0]) for j in jobs]
        reordered = [decode(r) for r in run_batch(pipe, jobs[::-1], s)][::-1]
    for a, b, c in zip(together, alone, reordered, strict=True):
        assert np.abs(a - b).max() <= 2
        assert np.abs(a - c).max() <= 2
    assert np.abs(together[0] - together[1]).max() > 20  # and the images do differ


def test_every_scheduler_generates_and_the_pipeline_gets_its_own_back(model_root):
    import io

    from imagineer_build.kinds.generation.render import ImageJob, Settings, run_batch
    from imagineer_build.kinds.generation.schedulers import SCHEDULERS, using
    from imagineer_build.models import ModelSpec, model_identity, pipeline_cache

    spec = ModelSpec(base="builtin:tiny-sd")
    job = ImageJob(1, "x", 0, {}, {}, 0, "ace of spades", "blurry", 7)
    seen = {}
    with pipeline_cache.lease(spec, model_root, model_root) as pipe:
        original = pipe.scheduler
        for name in SCHEDULERS:
            s = Settings("tiny", spec, model_identity(spec, model_root), 64, 64, 4, 8.0, name, 1)
            with using(pipe, name):
                assert type(pipe.scheduler).__name__ == SCHEDULERS[name][0]
                png, _ = run_batch(pipe, [job], s)[0]
            seen[name] = np.asarray(Image.open(io.BytesIO(png)), dtype=np.int16)
        assert pipe.scheduler is original
    assert np.abs(seen["ddim"] - seen["euler_a"]).max() > 5
    assert all(a.shape == (64, 64, 3) for a in seen.values())
