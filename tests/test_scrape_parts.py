"""The scraper's parts on their own: URL hygiene, the address guard, extraction, polite fetching."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest
from scrape_site import SPEC, Site, album_by_path, serve_card_site, shape_images, show

from imagineer_build.kinds.source.scrape_config import ScrapeConfig
from imagineer_build.kinds.source.scrape_extract import best_caption, extract
from imagineer_build.kinds.source.scrape_fetch import Fetcher, FetchError
from imagineer_build.kinds.source.scrape_urls import UnsafeURL, check_addresses, normalize


def test_normalize_gives_one_spelling_per_url():
    assert normalize("HTTP://Example.ORG:80/a/../b?z=1&a=2#frag") == "http://example.org/b?a=2&z=1"
    assert normalize("img/x.png", "https://h.org:8443/dir/page.html") == "https://h.org:8443/dir/img/x.png"
    assert normalize("//cdn.h.org/p%20q.png", "https://h.org/") == "https://cdn.h.org/p%20q.png"
    for bad in ("javascript:alert(1)", "mailto:a@b", "data:image/png;base64,AA", "ftp://h/x", "file:///etc/passwd"):
        assert normalize(bad, "http://h.org/") is None


@pytest.mark.parametrize("addr, what", [("127.0.0.1", "loopback"), ("10.1.2.3", "private"),
                                        ("192.168.0.9", "private"), ("169.254.169.254", "link-local"),
                                        ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
                                        ("0.0.0.0", "unspecified")])
def test_address_guard_refuses_non_public_addresses(addr, what):
    with pytest.raises(UnsafeURL, match=what):
        check_addresses("h.example", [addr])


def test_address_guard_accepts_public_addresses():
    check_addresses("h.example", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
    with pytest.raises(UnsafeURL, match="does not resolve"):
        check_addresses("h.example", [])


def test_config_refuses_non_http_urls_and_bad_patterns():
    with pytest.raises(ValueError, match="not an http"):
        ScrapeConfig(url="file:///etc/passwd")
    with pytest.raises(ValueError, match="bad regex"):
        ScrapeConfig(url="http://h.org/", exclude=["re:(["])


def test_extract_finds_every_kind_of_image_with_its_captions():
    html = b"""<html><head><base href="/gallery/">
    <script type="application/ld+json">{"@graph": [{"@type": "Product", "image":
        {"@type": "ImageObject", "url": "ld.png", "description": "From JSON-LD"}}]}</script>
    </head><body>
    <img srcset="s-small.png 200w, s-big.png 800w, s-mid.png 400w" alt="Set">
    <picture><source srcset="p-1x.webp 1x, p-2x.webp 2x"><img alt="Pic"></picture>
    <a href="full.jpg" title="ignored"><img src="thumb.jpg" alt="Thumb"></a>
    <div style="background-image: url('bg.png')" title="Backdrop"></div>
    <a href="/other.html">next</a><a href="/other.html#x">again</a>
    </body></html>"""
    facts = extract(html, "http://h.org/start/index.html")
    base = "http://h.org/gallery/"
    caps = {u.removeprefix(base): [(c["origin"], c["text"]) for c in cs] for u, cs in facts.images.items()}
    assert caps == {
        "full.jpg": [("alt", "Thumb")],
        "s-big.png": [("alt", "Set")],
        "p-2x.webp": [("alt", "Pic")],
        "thumb.jpg": [("alt", "Thumb")],
        "bg.png": [("title", "Backdrop")],
        "ld.png": [("jsonld", "From JSON-LD")],
    }
    assert facts.links == ["http://h.org/other.html"]


def test_best_caption_follows_origin_rank():
    caps = [{"text": "near", "origin": "nearby"}, {"text": "alt", "origin": "alt"},
            {"text": "fig", "origin": "figcaption"}]
    assert best_caption(caps) == "fig"
    assert best_caption(caps[:2]) == "alt"
    assert best_caption([]) is None


def _fetcher(tmp_path, **kw):
    cfg = ScrapeConfig(url="http://127.0.0.1/", allow_private=True, robots=False, backoff=0.01, **kw)
    return Fetcher(SimpleNamespace(**cfg.model_dump()), tmp_path, {})


def test_fetcher_waits_out_429_retries_and_caps_bytes_and_redirects(tmp_path):
    site = Site()
    data = shape_images(1, tmp_path / "imgs")[0]
    site.file("/busy.png", data, throttle=2)
    site.file("/big.bin", b"x" * 5000, "application/octet-stream")
    for i in range(4):
        site.routes[f"/r{i}"] = type(site.routes["/busy.png"])(status=301, location=f"/r{i + 1}")
    site.file("/r4", b"end", "text/plain")
    url = site.start()

    async def go():
        async with _fetcher(tmp_path, max_redirects=3, retries=3) as f:
            start = time.monotonic()
            got = await f.get(url + "/busy.png", max_bytes=10_000_000, to_file=True)
            waited = time.monotonic() - start
            assert got.status == 200 and got.path.read_bytes() == data
            assert waited >= 0.4  # two Retry-After: 0.2 honoured
            with pytest.raises(FetchError, match="over the 1000-byte limit"):
                await f.get(url + "/big.bin", max_bytes=1000)
            with pytest.raises(FetchError, match="more than 3 redirects"):
                await f.get(url + "/r0", max_bytes=1000)
            ok = await f.get(url + "/r1", max_bytes=1000)
            assert ok.body == b"end" and ok.final_url.endswith("/r4")
            return f.stats

    try:
        stats = asyncio.run(go())
    finally:
        site.stop()
    assert site.count("/busy.png", 429) == 2 and site.count("/busy.png", 200) == 1
    assert stats["retry_429"] == 2
    assert not list(tmp_path.glob(".dl-*"))  # a capped download leaves no temp file


def test_fetcher_spaces_requests_to_one_host(tmp_path):
    site = Site()
    site.file("/a", b"a", "text/plain")
    url = site.start()

    async def go():
        async with _fetcher(tmp_path, delay=0.1, per_host=4) as f:
            start = time.monotonic()
            await asyncio.gather(*(f.get(url + "/a", max_bytes=100) for _ in range(5)))
            return time.monotonic() - start

    try:
        elapsed = asyncio.run(go())
    finally:
        site.stop()
    assert elapsed >= 0.4  # five starts at least 0.1 s apart
    assert site.count("/a", 200) == 5


@pytest.fixture
def site(tmp_path):
    yield from serve_card_site(tmp_path)


def test_bounds_and_patterns_limit_the_crawl(project, site):
    project.spec(SPEC.format(url=site.url, render="static")
                 + "      max_pages: 2\n      max_images: 3\n"
                 + "      exclude: ['*/img/a.png', 're:slow|loop']\n      robots: false\n")
    run = project.build()
    assert run.code == 0, run.err
    shown = show(project)
    # document order: a.png (excluded), b, c, lazy; max_images stops there
    assert list(album_by_path(shown, site.url)) == ["/img/b.png", "/img/c.png", "/img/lazy.png"]
    assert shown["meta"]["report"]["limits"]["images_over_max_images"] > 0
    pages = [r["url"].removeprefix(site.url) for r in shown["meta"]["report"]["urls"] if r["kind"] == "page"]
    assert len(pages) == 2 and pages[0] == "/"
    assert site.requests("/robots.txt") == 0  # robots: false
    assert site.requests("/img/slow.png") == 0 and site.requests("/loop/a.png") == 0
