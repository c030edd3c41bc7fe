"""The whole chain, not just the source: sidecar labels → kohya dataset, and a CSV generation.
Adding one image or one CSV row costs work for that item only (memo misses), and the out
views are patched in place (unchanged files keep their inode), not rewritten."""

from __future__ import annotations

import os

import pytest
from generation_helpers import tiny_settings, write_csv
from make_images import make

IMAGES, ROWS = 60, 40


def memo_counts(run) -> dict[str, dict[str, dict[str, int]]]:
    return {e["target"]: e.get("memo", {}) for e in run.events() if e.get("event") == "target"}


def inodes(folder) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_ino for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_one_more_image_or_row_costs_one_item_of_work_down_the_chain(project):
    project.write("imagineer.yaml", tiny_settings())
    make(project.root / "data" / "photos", IMAGES)
    rows = [{"thing": f"thing number {i}", "color": ("red", "blue", "green")[i % 3]} for i in range(ROWS)]
    write_csv(project.root / "data" / "things.csv", rows)
    project.spec("""
        sources:
          photos: {dir: data/photos}
        labels:
          caps: {of: photos, labeler: sidecar}
        datasets:
          ds: {from: [caps], trigger: zqx}
        generations:
          things:
            template: data/things.csv
            prompt: "a {color} {thing}"
            model: tiny
            size: [32, 32]
            steps: 1
    """)
    first = project.build()
    assert first.code == 0, first.err
    kept = first.events()
    photos = next(e for e in kept if e.get("target") == "photos" and e.get("event") == "target")["facts"]["images"]
    assert photos > IMAGES // 2  # near-duplicate shapes may be dropped; most are kept
    out = project.root / "out"
    before = {name: inodes(out / name) for name in ("photos", "ds", "things")}

    make(project.root / "data" / "extra", 1, seed=99)  # one more image (and its caption) arrives
    for p in (project.root / "data" / "extra").iterdir():
        os.replace(p, project.root / "data" / "photos" / f"zz_new{p.suffix}")
    write_csv(project.root / "data" / "things.csv", [*rows, {"thing": "one more thing", "color": "red"}])
    second = project.build()
    assert second.code == 0, second.err
    assert second.statuses() == {"photos": "built", "caps": "built", "ds": "built", "things": "built"}
    memo = memo_counts(second)
    # the source is patched: the new image is probed, and only the images dedup dropped are
    # looked up again (to see that the new one is near none of them)
    assert memo["photos"]["media.probe"] == {"hits": IMAGES - photos, "misses": 1}
    # the generation is patched too: the row's image is made, the others kept without a lookup
    assert memo["things"]["generation.image"] == {"hits": 0, "misses": 1}
    for target, spaces in memo.items():  # whatever else keeps per-item results: one miss at most
        for ns, c in spaces.items():
            assert c["misses"] <= 1, (target, ns, c)

    after = {name: inodes(out / name) for name in ("photos", "ds", "things")}
    for name in before:
        same = {rel for rel in before[name] if after[name].get(rel) == before[name][rel]}
        changed = set(after[name]) - same
        # the new item's files and the few listing files (album.jsonl, metadata) are all that moved
        assert len(same) >= len(before[name]) - 4, (name, sorted(set(before[name]) - same)[:10])
        assert 1 <= len(changed) <= 6, (name, sorted(changed))
