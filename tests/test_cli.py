"""The `imagineer` command through its real entry point, in a temp project."""

from __future__ import annotations

import json

import pytest
from engine_kinds import ENV
from PIL import Image

PIPELINE = """
    sources:
      shapes: {dir: data/shapes}
    fakes:
      after-shapes: {uses: [shapes]}
      last: {uses: [after-shapes]}
      independent: {file: data/other.txt}
"""


def setup(project):
    project.write("data/other.txt", "other\n")
    project.spec(PIPELINE)


def test_build_noop_then_only_dependents_of_a_change_rebuild(project, shapes):
    setup(project)
    first = project.build(env=ENV)
    assert first.code == 0, first.err
    assert set(first.statuses().values()) == {"built"}
    noop = project.build(env=ENV)
    assert set(noop.statuses().values()) == {"cached"}
    assert not any(e["event"] == "start" for e in noop.events())
    with Image.open(shapes / "shape_004.png") as im:
        im.rotate(90).save(shapes / "shape_004.png")
    changed = project.build(env=ENV)
    assert changed.statuses() == {"shapes": "built", "after-shapes": "built", "last": "built",
                                  "independent": "cached"}
    start = next(e for e in changed.events() if e["event"] == "start" and e["target"] == "shapes")
    assert start["reason"] == ["file data/shapes: " + start["reason"][0].split(": ", 1)[1]]
    shapes_ev = next(e for e in changed.events() if e.get("target") == "shapes" and e["event"] == "target")
    assert shapes_ev["memo"]["media.probe"] == {"hits": 0, "misses": 1}  # a patch: the changed image alone
    project.write("data/other.txt", "changed\n")
    assert project.build(env=ENV).statuses() == {"shapes": "cached", "after-shapes": "cached",
                                                 "last": "cached", "independent": "built"}


def test_build_named_target_builds_only_what_it_needs(project, shapes):
    setup(project)
    r = project.build("after-shapes", env=ENV)
    assert r.statuses() == {"shapes": "built", "after-shapes": "built"}
    bad = project.build("after-shape", env=ENV)
    assert bad.code == 2 and "unknown target 'after-shape' (did you mean 'after-shapes'?)" in bad.err


def test_json_events(project, shapes):
    setup(project)
    r = project.build(env=ENV)
    events = r.events()
    assert all("event" in e for e in events)
    kinds = {e["event"] for e in events}
    assert {"start", "progress", "target", "summary"} <= kinds
    prog = [e for e in events if e["event"] == "progress" and e["target"] == "shapes"]
    assert prog[-1]["done"] == prog[-1]["total"] == 12
    target = next(e for e in events if e["event"] == "target" and e["target"] == "shapes")
    assert target["status"] == "built" and target["facts"]["images"] == 12 and target["size"] > 0
    summary = events[-1]
    assert summary["event"] == "summary" and summary["targets"] == 4 and summary["ok"] == 4
    assert summary["failed"] == [] and len(summary["built"]) == 4


def test_dry_run_builds_nothing(project, shapes):
    setup(project)
    r = project.build("--dry-run", env=ENV)
    assert r.code == 0
    assert set(r.statuses().values()) == {"stale"}
    assert not (project.root / "out").exists() and not (project.root / "imagineer.lock").exists()
    text = project.run("build", "--dry-run", "independent", env=ENV)
    assert text.out.split() == ["stale", "independent", "(never", "built)"]
    project.build(env=ENV)
    assert set(project.build("-n", env=ENV).statuses().values()) == {"cached"}


def test_set_overrides_a_spec_value(project, shapes):
    setup(project)
    project.build(env=ENV)
    r = project.build("--set", "shapes:filter.min_size=[500, 500]", env=ENV)
    assert r.code == 0, r.err
    ev = next(e for e in r.events() if e.get("target") == "shapes" and e["event"] == "target")
    assert ev["status"] == "built" and ev["facts"]["images"] == 0 and ev["facts"]["filtered"] == 12
    # The spec itself is unchanged: without --set the first result is cached again.
    assert project.build(env=ENV).statuses()["shapes"] == "cached"
    bare = project.build("--set", "filter.min_size=[1,1]", env=ENV)
    assert bare.code == 2 and "name the target" in bare.err


def test_refresh_rebuilds_one_target(project, shapes):
    setup(project)
    project.build(env=ENV)
    r = project.build("--refresh", "independent", env=ENV)
    assert r.statuses()["independent"] == "built" and r.statuses()["shapes"] == "cached"
    assert project.build("--refresh", "nope", env=ENV).code == 2


@pytest.mark.slow
def test_status_and_explain(project, shapes):
    setup(project)
    st = project.run("status", env=ENV)
    assert st.code == 0
    lines = {line.split()[1]: line.split()[0] for line in st.out.splitlines()}
    assert lines == {"shapes": "stale", "after-shapes": "stale", "last": "stale", "independent": "stale"}
    project.build(env=ENV)
    js = [json.loads(x) for x in project.run("status", "--json", env=ENV).out.splitlines()]
    assert {j["target"]: j["status"] for j in js} == dict.fromkeys(lines, "fresh")
    project.write("data/other.txt", "edited\n")
    one = [json.loads(x) for x in project.run("status", "--json", "independent", env=ENV).out.splitlines()]
    assert len(one) == 1 and one[0]["status"] == "stale"
    assert one[0]["reason"][0].startswith("file data/other.txt: ")
    ex = project.run("explain", "independent", env=ENV)
    assert ex.code == 0
    assert ex.out.startswith("independent [fake]: stale")
    assert "  - file data/other.txt:" in ex.out and '"files"' in ex.out
    exj = json.loads(project.run("explain", "--json", "after-shapes", env=ENV).out)
    assert exj["status"] == "fresh" and set(exj["inputs"]["upstream"]) == {"shapes"}
    assert exj["inputs"]["kind"] == "fake" and exj["inputs"]["config"]["uses"] == ["shapes"]
    assert project.run("explain", "nope", env=ENV).code == 2


def test_graph_in_three_formats(project, shapes):
    setup(project)
    text = project.run("graph", env=ENV).out.splitlines()
    assert text == ["independent [fake]", "last [fake]", "  after-shapes [fake]", "    shapes [source]"]
    mermaid = project.run("graph", "--format", "mermaid", env=ENV).out
    assert mermaid.startswith("graph LR")
    ids = {line.split("[")[0].strip(): line for line in mermaid.splitlines() if '["' in line}
    by_name = {v.split('"')[1].split(" (")[0]: k for k, v in ids.items()}
    assert f"  {by_name['shapes']} --> {by_name['after-shapes']}" in mermaid
    dot = project.run("graph", "--format", "dot", env=ENV).out
    assert dot.startswith("digraph") and '"shapes" -> "after-shapes";' in dot
    assert '"after-shapes" -> "last";' in dot and dot.rstrip().endswith("}")
    assert project.run("graph", "--format", "svg", env=ENV).code == 2


def test_schema_describes_every_section(project):
    r = project.run("schema", env=ENV)
    sch = json.loads(r.out)
    assert {"sources", "fakes", "gpufakes"} <= set(sch["properties"])
    src = sch["$defs"]["SourceConfig"]
    assert {"dir", "filter", "dedup", "decode"} <= set(src["properties"])
    assert src["additionalProperties"] is False
    out = project.root / "schema.json"
    assert project.run("schema", "--out", str(out), env=ENV).code == 0
    assert json.loads(out.read_text()) == sch
    settings = json.loads(project.run("schema", "--settings", env=ENV).out)
    assert "executor" in settings["properties"]


@pytest.mark.slow
def test_show_clean_gc_verify(project, shapes):
    setup(project)
    assert project.run("show", "shapes", env=ENV).code == 1  # not built yet
    project.build(env=ENV)
    shown = project.run("show", "shapes", env=ENV)
    assert shown.code == 0 and "12 images" in shown.out and "shape_000.png  192x192 png" in shown.out
    cleaned = project.run("clean", "independent", env=ENV)
    assert cleaned.code == 0 and "independent: forgot 1 result" in cleaned.out
    assert not (project.root / "out/independent").exists()
    assert project.run("status", "independent", env=ENV).out.startswith("stale")
    gc = project.run("gc", env=ENV)
    assert gc.code == 0 and gc.out.startswith("freed ")
    ver = project.run("verify-cache", env=ENV)
    assert ver.code == 0 and "0 damaged blobs" in ver.out
    r = project.build(env=ENV)
    assert r.statuses()["independent"] == "built" and r.statuses()["shapes"] == "cached"
    project.run("clean", env=ENV)
    again = project.build(env=ENV)
    assert set(again.statuses().values()) == {"built"}
    ev = next(e for e in again.events() if e.get("target") == "shapes" and e["event"] == "target")
    assert ev["memo"]["media.probe"]["misses"] == 0  # results forgotten, item memo kept


def test_human_output_has_a_summary_table(project, shapes):
    setup(project)
    r = project.run("build", env=ENV)
    assert r.code == 0
    assert "built" in r.err and "shapes" in r.err and "images 12" in r.err
