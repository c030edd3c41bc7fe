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
