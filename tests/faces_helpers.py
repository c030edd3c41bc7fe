"""Helpers for the faces tests: the people example's photo library, analysed once per module.

The photos (examples/people/make_photos.py) are variants of two real people, both free to use:
Eileen Collins (scikit-image's bundled astronaut.png, NASA, public domain) and Grace Hopper
(examples/people/grace_hopper.jpg: U.S. Navy photo, public domain, the copy matplotlib ships
from Wikimedia Commons). The coffee cup (scikit-image, CC0) has no face.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "people"))

from make_photos import MORE, PHOTOS, make  # noqa: E402

EILEEN_BOX = [175, 76, 91, 91]  # the astronaut's face in the 512x512 photo
GRACE_BOX = [180, 139, 187, 187]
EILEEN_TRUSTED = ["eileen_original.png", "eileen_mirror.png", "eileen_bright.png", "eileen_dark.png",
                  "eileen_portrait.jpg", "eileen_half.png", "eileen_large.png", "eileen_far.png"]
GRACE_TRUSTED = ["grace_original.jpg", "grace_mirror.png", "grace_bright.png", "grace_gray16.png", "grace_cmyk.jpg"]

__all__ = ["MORE", "PHOTOS", "make", "EILEEN_BOX", "GRACE_BOX", "EILEEN_TRUSTED", "GRACE_TRUSTED", "analysed"]


def analysed(folder: Path, names: list[str]):
    """(faces, embeddings) of the named photos, as the faces kind lists them, in name order."""
    import numpy as np

    from imagineer_build.core.hashing import digest_file
    from imagineer_build.kinds.faces.analyze import Params, analyze
    from imagineer_build.kinds.faces.cluster import Face
    from imagineer_build.kinds.faces.people import face_id

    faces, rows = [], []
    params = Params("hog", 1, 5, 1600)
    for name in names:
        value, emb = analyze(str(folder / name), params)
        vecs = np.frombuffer(emb, dtype="<f4").reshape(-1, 128)
        digest = digest_file(folder / name)[0]
        for rec, vec in zip(value["faces"], vecs, strict=True):
            faces.append(Face(face_id(digest, rec["box"]), digest, f"images/{name}", rec["box"], rec["score"],
                              rec["sharpness"], rec["landmarks"], len(rows)))
            rows.append(vec)
    return faces, np.asarray(rows, dtype="<f4").reshape(-1, 128)
