"""`scrape:` with render: js in real Chromium: JS-inserted images and CSS backgrounds appear."""

from __future__ import annotations

import os

import pytest
from scrape_site import (
    JS_ONLY,
    SPEC,
    STATIC_ALBUM,
    Site,
    album_by_path,
    report_reasons,
    serve_card_site,
    shape_images,
    show,
)

from imagineer_build.kinds.source.scrape_render import DEFAULT_CHROMIUM


@pytest.fixture
def site(tmp_path):
    yield from serve_card_site(tmp_path)


@pytest.fixture
def chromium() -> str:
    path = os.environ.get("IMAGINEER_CHROMIUM") or DEFAULT_CHROMIUM
    if not os.access(path, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is missing at {path}; CI must install it (apt-get install chromium)")
        pytest.skip(f"Chromium not installed at {path} (apt-get install chromium)")
    return path


@pytest.mark.slow
def test_js_scrape_finds_script_inserted_images_and_css_backgrounds(project, site, chromium):
    project.spec(SPEC.format(url=site.url, render="js"))
    run = project.build()
    assert run.code == 0, run.err + run.out
    assert run.statuses() == {"cards": "built"}
    shown = show(project)
    assert album_by_path(shown, site.url) == {**STATIC_ALBUM, **JS_ONLY}
    skipped = report_reasons(shown, site.url, "skipped")
    assert set(skipped) == {"/img/fake.png", "/img/trunc.png", "/img/bomb.png", "/img/missing.png",
                            "/loop/a.png", "/img/slow.png", "/private/p.png"}
    assert report_reasons(shown, site.url, "duplicates") == {"/img/a-copy.png": "dup of /img/a.png",
                                                             "/img/a-near.jpg": "dup of /img/a.png"}
    # Chromium loaded the page and its images; robots.txt still kept the crawl out of /private/
    assert site.count("/private/secret.html") == 0
    assert site.count("/img/cssbg.png", 200) >= 2  # once for the page, once for the album


def test_missing_chromium_is_a_clear_error_not_a_hang(project, site, tmp_path):
    project.spec(SPEC.format(url=site.url, render="js") + f"      chromium: {tmp_path / 'no-chromium'}\n")
    run = project.build(timeout=60)
    assert run.code == 1
    failed = [e for e in run.events() if e.get("event") == "target"][0]
    assert failed["status"] == "failed"
    assert "apt-get install chromium" in failed["error"]
    assert str(tmp_path / "no-chromium") in failed["error"]


@pytest.mark.slow
def test_js_render_keeps_chromium_off_other_hosts(project, chromium, tmp_path):
    """Chromium resolves only the crawl's host: a stylesheet image on `localhost` is never asked for."""
    site = Site()
    url = site.start()
    port = url.rsplit(":", 1)[1]
    site.page("/", '<link rel="stylesheet" href="/s.css"><div class="x"></div><img src="/y.png" alt="here">')
    site.file("/s.css", f".x {{ width: 50px; height: 50px; background: url(http://localhost:{port}/z.png) }}"
              .encode(), "text/css")
    site.file("/y.png", shape_images(1, tmp_path / "imgs")[0])
    site.file("/z.png", site.routes["/y.png"].body)
    try:
        project.spec(SPEC.format(url=url, render="js").replace("depth: 2", "depth: 0"))
        run = project.build()
        assert run.code == 0, run.err
        assert album_by_path(show(project), url) == {"/y.png": [("alt", "here")]}
        assert site.count("/s.css") == 1  # the page did render with its stylesheet
        assert site.count("/z.png") == 0
    finally:
        site.stop()


def test_chromium_requests_pass_the_address_guard(chromium, tmp_path):
    """Without allow_private, every request Chromium makes to a loopback address is blocked."""
    import asyncio
    from types import SimpleNamespace

    from imagineer_build.kinds.source.scrape_config import ScrapeConfig
    from imagineer_build.kinds.source.scrape_fetch import Fetcher, FetchError
    from imagineer_build.kinds.source.scrape_render import Renderer

    site = Site()
    site.page("/", "<p>hello</p>")
    url = site.start()
    cfg = SimpleNamespace(**ScrapeConfig(url=url + "/", chromium=chromium).model_dump())

    async def go():
        async with Fetcher(cfg, tmp_path) as fetcher, Renderer(cfg, ["127.0.0.1"], fetcher) as renderer:
            with pytest.raises(FetchError, match="BLOCKED_BY_CLIENT"):
                await renderer.render(url + "/")

    try:
        asyncio.run(go())
    finally:
        site.stop()
    assert site.requests() == 0
