"""A generation patched from its last build makes the bytes, and names the memo entries, that a
full build makes.

Random edits to the CSV (rows added at the end or the top, changed in their file name or only
in their prompt, removed, duplicated), one
build after each; after each build `verify` makes the target from nothing in a scratch store
and compares the artifact, and the memo entries the patched build names as used are those a
full build (--refresh) names.
"""

from __future__ import annotations

import json
import random

import patch_helpers
import pytest
from generation_helpers import tiny_settings, write_csv
from patch_helpers import out_jsonl, verdict

from imagineer_build.core.project import Project
from imagineer_build.core.store import LocalStore

SPEC = """
generations:
  things:
    template: data/things.csv
    prompt: "a {color} {thing}, {mood}"
    model: tiny
    size: [32, 32]
    steps: 1
"""
COLORS = ("red", "blue", "green", "gold")


def setup(project, rows: list[dict[str, str]]):
    project.root.joinpath("imagineer.yaml").write_text(tiny_settings())
    write_csv(project.root / "data" / "things.csv", rows)
    project.spec(SPEC)


def build(root, refresh: bool = False):
    return patch_helpers.build(root, "things", refresh)


def memo_used(root, result) -> dict[str, list[str]]:
    store = LocalStore(Project.load(root).store_root)
    record = store.actions.get(result.key)
    return json.loads(store.blob_path(record.memo).read_bytes()) if record.memo else {}


def row(n: int) -> dict[str, str]:
    return {"thing": f"thing {n}", "color": COLORS[n % 4], "mood": "calm"}


def edit(rows: list[dict[str, str]], rng: random.Random, n: int) -> str:
    what = rng.choice(["append", "append", "append two", "change", "mood", "mood", "remove", "remove last",
                       "duplicate", "top"])
    i = rng.randrange(len(rows))
    if what == "append":
        rows.append(row(100 + n))
    elif what == "append two":
        rows += [row(200 + n), row(300 + n)]
    elif what == "change":
        rows[i] = {**rows[i], "color": COLORS[(COLORS.index(rows[i]["color"]) + 1) % 4]}
    elif what == "mood":  # in the prompt, not in the file name: the same stem, another image
        rows[i] = {**rows[i], "mood": f"mood {n}"}
    elif what == "remove" and len(rows) > 3:
        del rows[i]
    elif what == "remove last" and len(rows) > 3:
        rows.pop()
    elif what == "duplicate":
        rows.append(dict(rows[i]))
    elif what == "top":
        rows.insert(0, row(400 + n))
    return f"{what} {i}"


@pytest.mark.slow
def test_patched_generations_are_full_builds_byte_for_byte(project):
    rows = [row(n) for n in range(6)]
    setup(project, rows)
    assert build(project.root).run.get("patched") is None  # nothing to patch yet
    rng = random.Random(19)
    patched, log = 0, []
    for n in range(10):
        log.append(edit(rows, rng, n))
        write_csv(project.root / "data" / "things.csv", rows)
        result = build(project.root)
        if result.status == "built" and result.run.get("patched"):
            patched += 1
            used = memo_used(project.root, result)
            full = build(project.root, refresh=True)
            assert full.artifact == result.artifact and full.run.get("patched") is None, log
            assert memo_used(project.root, full) == used, log
        v = verdict(project.root, "things")
        assert v.status == "identical", (n, log, v.to_json())
    assert patched >= 6, (patched, log)


def test_one_more_row_renders_one_image_and_keeps_the_others(project):
    """The kept images are not looked up in the memo at all; album.jsonl keeps their lines."""
    rows = [row(n) for n in range(5)]
    setup(project, rows)
    build(project.root)
    write_csv(project.root / "data" / "things.csv", [*rows, row(9)])
    result = build(project.root)
    assert result.run["patched"]["kept images"] == 5
    assert result.memo["generation.image"] == {"hits": 0, "misses": 1}
    assert result.memo["generation.final"] == {"hits": 0, "misses": 1}
    jsonl = out_jsonl(project.root, "things")
    assert len(jsonl) == 6 and '"thing 9"' in jsonl[5]
    assert verdict(project.root, "things").status == "identical"


def test_a_lost_image_is_made_again_and_a_settings_change_is_never_patched(project):
    rows = [row(n) for n in range(4)]
    setup(project, rows)
    first = build(project.root)
    store = LocalStore(Project.load(project.root).store_root)
    view = store.load_artifact(first.artifact)
    lost = store.blob_path(view.files[sorted(r for r in view.files if r.endswith(".png") and "/" in r)[2]])
    lost.unlink()
    write_csv(project.root / "data" / "things.csv", [*rows, row(7)])
    result = build(project.root)
    assert result.run["patched"]["kept images"] == 3  # the lost one is finished again from its render
    assert lost.exists()
    assert result.memo["generation.image"] == {"hits": 1, "misses": 1}
    assert verdict(project.root, "things").status == "identical"

    project.spec(SPEC.replace("steps: 1", "steps: 2"))
    write_csv(project.root / "data" / "things.csv", [*rows, row(7), row(8)])
    assert build(project.root).run.get("patched") is None
