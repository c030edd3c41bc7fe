"""The loop example (examples/loop) builds end to end on the tiny models, as `make loop-demo` does."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import REPO, Project

pytestmark = pytest.mark.slow


def test_the_loop_and_the_specialist_build_end_to_end(tmp_path):
    root = tmp_path / "loop"
    shutil.copytree(REPO / "examples/loop", root, ignore=shutil.ignore_patterns("cache", "out"))
    p = Project(root)
    r = p.build()
    assert r.code == 0, r.err + r.out[-3000:]
    built = {e["target"]: e for e in r.events() if e.get("event") == "target"}
    assert all(e["status"] == "built" for e in built.values()) and len(built) == 12
    assert built["round-1"]["facts"]["images"] == 24
    assert built["round-1-best"]["facts"]["images"] == 5  # the top 20 % of 24
    assert built["round-1-lora"]["facts"]["images"] == 5
    loads = [e for e in r.events() if e.get("event") == "log" and e["message"].startswith("loaded CLIP")]
    assert len(loads) == 1  # one warm scorer for the three scores targets of the build

    q2 = json.loads(p.run("show", "round-2-q", "--json").out)["meta"]["scores"]
    base = q2["summary"]["baseline"]
    assert base["target"] == "round-1-q" and base["images"] == {"before": 24, "now": 24}
    assert {(r["name"], r["value"]) for r in base["per_value"]} == {(r["name"], r["value"]) for r in q2["summary"]["per_value"]}
    shown = p.run("show", "round-2-q").out
    assert "against round-1-q (24 → 24 images):" in shown and "delta (pp)" in shown

    focus = json.loads(p.run("show", "focus-green-q", "--json").out)["meta"]["scores"]
    assert focus["checked"] == [{"name": "HairColor", "source": "variation", "options": ["red", "blue", "green"],
                                 "texts": ["a picture of red", "a picture of blue", "a picture of green"]}]
    assert built["green-hair-specialist"]["status"] == "built"

    again = p.build()
    assert again.code == 0 and set(again.statuses().values()) == {"cached"}
