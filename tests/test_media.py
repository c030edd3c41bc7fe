"""media/ helpers: album records round-trip, dedup on real hashes."""

from dataclasses import fields

from imagineer_build.media.album import Album, AlbumImage
from imagineer_build.media.dedup import Candidate, hamming, near_duplicates


def test_album_record_round_trips_every_field():
    im = AlbumImage("d" * 32, "images/a.png", 10, 20, "png", "dir:x/a.png", "ff00ff00ff00ff00", "cap",
                    [{"text": "cap", "origin": "sidecar"}], {"frames": 3})
    d = im.to_dict()
    assert set(d) == {f.name for f in fields(AlbumImage)}
    again = Album.from_meta(Album([im], {"skipped": []}).meta())
    assert again.images[0] == im and again.report == {"skipped": []}


def test_near_duplicates_keep_the_best_ranked_and_report_distance():
    a, b, c = "0000000000000000", "0000000000000007", "ffffffffffffffff"
    assert hamming(a, b) == 3
    dups = near_duplicates([Candidate("small", a, (1,)), Candidate("big", b, (2,)), Candidate("other", c, (3,))], 6)
    assert dups == {"small": ("big", 3)}
    assert near_duplicates([Candidate("small", a, (1,)), Candidate("big", b, (2,))], 2) == {}
