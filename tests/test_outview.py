"""Out views after a rebuild: patched in place, unchanged files untouched, strays removed."""

import os

from PIL import Image


def test_rebuild_patches_the_out_view_in_place(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
    """)
    assert project.build().code == 0
    out = project.root / "out/shapes/images"
    before = {p.name: p.stat().st_ino for p in out.iterdir()}
    (out / "shape_001.png").unlink()  # a person deleted one file of the view
    Image.new("RGB", (160, 160), (10, 200, 30)).save(shapes / "new_one.png")  # and the source grew
    os.remove(shapes / "shape_002.png")
    r = project.build()
    assert r.statuses() == {"shapes": "built"}
    after = {p.name: p.stat().st_ino for p in out.iterdir()}
    assert set(after) == set(before) - {"shape_002.png"} | {"new_one.png"}
    kept = set(before) - {"shape_001.png", "shape_002.png"}
    assert {n: after[n] for n in kept} == {n: before[n] for n in kept}  # not relinked
    blob_dir = project.root / "cache/blobs"
    for name, ino in after.items():  # every file is the store's blob itself (hard link)
        assert ino in {p.stat().st_ino for p in blob_dir.glob("*/*") if p.stat().st_size == (out / name).stat().st_size}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_status_and_explain_name_the_files_that_changed_in_a_folder(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
    """)
    assert project.build().code == 0
    Image.new("RGB", (150, 150), (1, 2, 3)).save(shapes / "shape_004.png")
    Image.new("RGB", (150, 150), (200, 2, 3)).save(shapes / "zz_new.png")
    (shapes / "shape_009.txt").write_text("a new caption\n")
    st = project.run("status", "--json")
    reason = " ".join(__import__("json").loads(st.out.splitlines()[0])["reason"])
    assert "file data/shapes: 2 changed (shape_004.png, shape_009.txt); 1 added (zz_new.png)" in reason
    ex = project.run("explain", "shapes")
    assert "1 added (zz_new.png)" in ex.out
