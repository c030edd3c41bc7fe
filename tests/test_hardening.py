"""Bad input and damaged caches found in review: each gets a clear answer and loses nothing."""

import os
import shutil

from PIL import Image


def test_clean_refuses_names_that_are_not_targets(project, shapes, tmp_path):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
    """)
    assert project.build().code == 0
    victim = tmp_path / "victim"
    victim.mkdir()
    for name in (str(victim), "..", "shapez"):
        r = project.run("clean", name)
        assert r.code == 2 and "unknown target" in r.err
    assert "did you mean 'shapes'" in project.run("clean", "shapez").err
    assert victim.is_dir() and (project.root / "specs").is_dir() and (project.root / "out/shapes").is_dir()


def test_set_with_invalid_yaml_is_a_clear_error(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
    """)
    r = project.run("build", "shapes", "--set", "filter.max_aspect=[1")
    assert r.code == 2 and "--set:1:1" in r.err and "not valid YAML" in r.err and "Traceback" not in r.err


def test_a_folder_link_loop_is_reported_not_followed(project, shapes):
    os.symlink(".", shapes / "loop")
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
    """)
    st = project.run("status")
    assert st.code == 0, st.err
    r = project.build()
    assert r.statuses() == {"shapes": "built"}
    assert len(list((project.root / "out/shapes/images").iterdir())) == 12


def test_a_missing_manifest_is_healed_and_downstream_views_are_repaired(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
        labels:
          lab: {of: shapes, labeler: sidecar}
    """)
    first = project.build()
    assert first.code == 0
    ev = {e["target"]: e for e in first.events() if e.get("event") == "target"}
    # 1. an image of the source, edited in place through the labels target's out view
    img = next((project.root / "out/lab/images").iterdir())
    with open(img, "r+b") as f:
        f.seek(40)
        f.write(b"\0\0\0\0")
    r = project.build()
    assert r.code == 0 and r.statuses()["shapes"] == "built"
    assert img.read_bytes() == (shapes / img.name).read_bytes()  # the downstream view is repaired
    # 2. the artifact manifest of the source vanishes
    manifest = project.root / "cache/blobs" / ev["shapes"]["artifact"][:2] / ev["shapes"]["artifact"]
    manifest.unlink()
    r = project.build()
    assert r.code == 0 and r.statuses() == {"shapes": "built", "lab": "cached"}, r.err
    assert manifest.exists()
    assert project.run("verify-cache").code == 0


def test_inputs_outside_the_project_with_one_base_name_stay_distinct(project, tmp_path):
    a, b = tmp_path / "a" / "pics", tmp_path / "b" / "pics"
    for d, color in ((a, (200, 0, 0)), (b, (0, 200, 0))):
        d.mkdir(parents=True)
        Image.new("RGB", (128, 128), color).save(d / "x.png")
    project.write("imagineer.yaml", f"cache: cache\nout: out\nallow_paths: [{tmp_path}]\n")
    project.spec(f"""
        sources:
          one: {{dir: {a}}}
          two: {{dir: {b}}}
    """)
    assert project.build().code == 0
    lock = (project.root / "imagineer.lock").read_text()
    assert str(tmp_path) not in lock  # no absolute path in keys or the lock
    Image.new("RGB", (128, 128), (0, 0, 200)).save(b / "x.png")
    r = project.build()
    assert r.statuses() == {"one": "cached", "two": "built"}
    shutil.rmtree(a)
    gone = project.run("status")
    assert gone.code == 2 and "no such file or folder" in gone.err
