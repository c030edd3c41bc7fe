"""`scrape:` with render: static against a real local site: album, captions, report, refresh."""

from __future__ import annotations

import pytest
from scrape_site import (
    JS_ONLY,
    SPEC,
    STATIC_ALBUM,
    album_by_path,
    report_reasons,
    serve_card_site,
    show,
)


@pytest.fixture
def site(tmp_path):
    yield from serve_card_site(tmp_path)



@pytest.mark.slow
def test_static_scrape_builds_the_expected_album(project, site):
    project.spec(SPEC.format(url=site.url, render="static"))
    run = project.build()
    assert run.code == 0, run.err + run.out
    assert run.statuses() == {"cards": "built"}
    shown = show(project)
    album = album_by_path(shown, site.url)
    assert album == STATIC_ALBUM
    assert not set(JS_ONLY) & set(album)  # script-inserted images and CSS backgrounds need render: js
    # the best caption is chosen by origin rank; figcaption beats alt
    by = {im["extra"]["image_url"].removeprefix(site.url): im for im in shown["meta"]["album"]["images"]}
    assert by["/img/b.png"]["caption"] == "Figure B"
    assert by["/img/f.png"]["extra"]["page_url"] == site.url + "/p/1.html"
    # file names come from the URL's name, with the extension of the bytes' real format
    for url, im in by.items():
        ext = {"png": "png", "jpeg": "jpg"}[im["format"]]  # sniffed: /img/d.png is a JPEG
        assert im["path"] == f"images/{url.rsplit('/', 1)[1].rsplit('.', 1)[0]}.{ext}"
        assert (project.root / "out/cards" / im["path"]).read_bytes() == site.routes[
            im["extra"]["image_url"].removeprefix(site.url)].body
    skipped = report_reasons(shown, site.url, "skipped")
    assert set(skipped) == {"/img/fake.png", "/img/trunc.png", "/img/bomb.png", "/img/missing.png",
                            "/loop/a.png", "/img/slow.png", "/private/p.png"}
    assert "HTML" in skipped["/img/fake.png"]
    assert "truncated" in skipped["/img/trunc.png"]
    assert "decompression bomb" in skipped["/img/bomb.png"]
    assert skipped["/img/missing.png"] == "HTTP 404"
    assert "redirect loop" in skipped["/loop/a.png"]
    assert "timed out" in skipped["/img/slow.png"]
    assert "robots.txt" in skipped["/private/p.png"]
    assert report_reasons(shown, site.url, "duplicates") == {"/img/a-copy.png": "dup of /img/a.png",
                                                             "/img/a-near.jpg": "dup of /img/a.png"}
    assert set(report_reasons(shown, site.url, "filtered")) == {"/img/pixel.gif"}
    # every URL has a status; robots.txt kept the crawler out of /private/, depth 2 stopped at p/2
    urls = {r["url"].removeprefix(site.url): r for r in shown["meta"]["report"]["urls"]}
    assert urls["/private/secret.html"]["status"] == "skipped"
    assert urls["/missing.html"] == {"url": site.url + "/missing.html", "kind": "page", "status": "failed",
                                     "reason": "HTTP 404"}
    assert urls["/img/flaky.png"]["status"] == "ok"  # a 503 then a retry
    assert "/p/3.html" not in urls and site.count("/p/3.html") == 0
    assert site.count("/private/secret.html") == 0 and site.count("/private/p.png") == 0
    assert site.count("/img/flaky.png", 503) == 1
    assert set(site.user_agents) == {"imagineer-build/0.1 (dataset scraper; +https://github.com/imagineer-build)"}


@pytest.mark.slow
def test_rebuilds_reuse_what_was_fetched_and_refresh_revalidates(project, site):
    project.spec(SPEC.format(url=site.url, render="static"))
    assert project.build().code == 0
    site.reset_counts()
    assert project.build().statuses() == {"cards": "cached"}
    assert site.requests() == 0  # frozen: no request without a config change or --refresh

    # a config change rebuilds from the memo: only the failures are asked for again
    project.spec(SPEC.format(url=site.url, render="static") + "    filter: {min_size: [1, 1]}\n")
    run = project.build()
    assert run.statuses() == {"cards": "built"}
    assert set(site.arrivals) <= {"/robots.txt", "/img/missing.png", "/loop/a.png", "/loop/b.png",
                                  "/img/slow.png", "/missing.html"}
    assert site.requests("/img/missing.png") == 1
    assert "/img/pixel.gif" in album_by_path(show(project), site.url)

    # --refresh revalidates: unchanged pages and images answer 304, a changed one is downloaded
    site.routes["/img/g.png"].body = site.routes["/img/d.png"].body  # g now shows d's picture
    site.reset_counts()
    refresh = project.build("--refresh", "cards")
    assert refresh.code == 0, refresh.err
    assert refresh.statuses() == {"cards": "built"}
    assert site.count("/img/g.png", 200) == 1
    for path in ("/img/a.png", "/img/b.png", "/img/f.png", "/", "/p/1.html"):
        assert site.count(path, 200) == 0, path
        assert site.count(path, 304) == 1, path
    assert site.requests("/img/missing.png") == 1  # failures are retried
    shown = show(project)
    assert "/img/g.png" not in album_by_path(shown, site.url)  # now a duplicate of d
    assert report_reasons(shown, site.url, "duplicates")["/img/g.png"] == "dup of /img/d.png"


def test_private_addresses_are_refused_by_default(project, site):
    project.spec(SPEC.format(url=site.url, render="static").replace("allow_private: true", "allow_private: false"))
    run = project.build()
    assert run.code == 1
    failed = [e for e in run.events() if e.get("event") == "target" and e["status"] == "failed"]
    assert "loopback address 127.0.0.1" in failed[0]["error"]
    assert "allow_private" in failed[0]["error"]
    assert site.requests() == 0
