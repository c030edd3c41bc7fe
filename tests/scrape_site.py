"""A real web site on 127.0.0.1 for scrape tests and the scrape benchmark.

`Site` is a threaded http.server with a route table (path → body, type, status, delay, …),
ETag/Last-Modified revalidation, and counters of what it served. `card_site()` builds the test
site the scrape tests assert against: captioned images in every way a page can give them,
JS-inserted and lazy images, a CSS background, deeper pages, robots.txt, and every kind of bad
URL and bad image (404, redirect loop, slow, flaky 503, HTML as PNG, truncated, bomb, dups).
"""

from __future__ import annotations

import io
import struct
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import xxhash

LAST_MODIFIED = "Sat, 01 Jan 2022 00:00:00 GMT"


@dataclass
class Route:
    body: bytes = b""
    ctype: str = "text/html; charset=utf-8"
    status: int = 200
    location: str | None = None
    delay: float = 0.0
    flaky: bool = False  # every other request answers 503
    throttle: int = 0  # the first N requests answer 429 with Retry-After
    validators: bool = True  # send ETag / Last-Modified and answer 304 when they match


@dataclass
class Site:
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter = field(default_factory=Counter)  # (path, status) → count, when answered
    arrivals: Counter = field(default_factory=Counter)  # path → count, when asked
    bytes_sent: int = 0
    user_agents: Counter = field(default_factory=Counter)
    url: str = ""  # set by start()

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ---- content -----------------------------------------------------------------------
    def page(self, path: str, html: str) -> None:
        self.routes[path] = Route(html.encode("utf-8"))

    def file(self, path: str, data: bytes, ctype: str = "image/png", **kw) -> None:
        self.routes[path] = Route(data, ctype, **kw)

    # ---- counters ----------------------------------------------------------------------
    def count(self, path: str | None = None, status: int | None = None) -> int:
        return sum(n for (p, s), n in self.hits.items()
                   if (path is None or p == path) and (status is None or s == status))

    def requests(self, path: str | None = None) -> int:
        """Requests received (a slow answer still pending counts here, not in count())."""
        return sum(n for p, n in self.arrivals.items() if path is None or p == path)

    def reset_counts(self) -> None:
        with self._lock:
            self.hits.clear()
            self.arrivals.clear()
            self.bytes_sent = 0

    # ---- serving -----------------------------------------------------------------------
    def start(self) -> str:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once (no 40 ms delayed ACK)

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                route = site.routes.get(path)
                with site._lock:
                    site.user_agents[self.headers.get("User-Agent", "")] += 1
                    site.arrivals[path] += 1
                    n_before = site.count(path)
                if route is None:
                    return self._send(path, 404, b"not found", "text/plain")
                if route.delay:
                    time.sleep(route.delay)
                if n_before < route.throttle:
                    return self._send(path, 429, b"slow down", "text/plain", {"Retry-After": "0.2"})
                if route.flaky and n_before % 2 == 0:
                    return self._send(path, 503, b"busy", "text/plain", {"Retry-After": "0"})
                if route.location:
                    return self._send(path, route.status, b"", "text/plain", {"Location": route.location})
                headers = {}
                if route.validators:
                    etag = '"' + xxhash.xxh3_64_hexdigest(route.body) + '"'
                    headers = {"ETag": etag, "Last-Modified": LAST_MODIFIED}
                    if self.headers.get("If-None-Match") == etag:
                        return self._send(path, 304, b"", None, headers)
                return self._send(path, route.status, route.body, route.ctype, headers)

            def _send(self, path, status, body, ctype, headers=None) -> None:
                with site._lock:
                    site.hits[(path, status)] += 1
                    site.bytes_sent += len(body)
                try:
                    self.send_response(status)
                    if ctype:
                        self.send_header("Content-Type", ctype)
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if body:
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


# ---- images ------------------------------------------------------------------------------

def shape_images(count: int, tmp: Path, size: int = 192) -> list[bytes]:
    """`count` distinct procedural PNG/JPEG images (examples/make_images.py), as bytes."""
    from make_images import make

    return [p.read_bytes() for p in make(tmp, count, size=size)]


def png_bytes(im) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def near_copy(data: bytes, size: int = 160) -> bytes:
    """The same picture smaller and re-encoded: a near duplicate (hash distance 0-2)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        out = io.BytesIO()
        im.convert("RGB").resize((size, size)).save(out, "JPEG", quality=85)
        return out.getvalue()


def truncated_png() -> bytes:
    import random

    from PIL import Image

    rng = random.Random(3)
    im = Image.frombytes("RGB", (200, 200), bytes(rng.randrange(256) for _ in range(200 * 200 * 3)))
    data = png_bytes(im)
    return data[: len(data) // 2]


def bomb_png(side: int = 30_000) -> bytes:
    """A tiny PNG whose header claims side×side pixels (it is never decoded)."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")


def pixel_gif() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (1, 1), (255, 255, 255)).save(out, "GIF")
    return out.getvalue()


LAZY_PLACEHOLDER = "data:image/gif;base64,R0lGODlhAQABAAAAACw="

INDEX = """<!doctype html>
<html><head><title>Cards</title>
<meta property="og:image" content="/img/e.png"><meta property="og:image:alt" content="Meta E">
<link rel="stylesheet" href="/style.css">
<script type="application/ld+json">
{"@context": "https://schema.org", "@type": "ImageObject", "contentUrl": "/img/d.png",
 "caption": "LD caption D"}
</script>
</head><body>
<div><img src="/img/a.png" alt="Alt A"></div>
<figure><img src="/img/b.png" alt="Alt B"><figcaption>Figure B</figcaption></figure>
<div><img src="/img/c.png"><p>Nearby C</p></div>
<div><img class="lazy" src="{lazy}" data-src="/img/lazy.png" alt="Lazy L"></div>
<div id="jsbox"></div>
<div class="hero"></div>
<div><img src="/img/a-copy.png" alt="Copy of A"></div>
<div><img src="/img/a-near.jpg" alt="Near A"></div>
<div><img src="/img/pixel.gif"></div>
<div><img src="/img/fake.png"></div>
<div><img src="/img/trunc.png"></div>
<div><img src="/img/bomb.png"></div>
<div><img src="/img/missing.png"></div>
<div><img src="/loop/a.png"></div>
<div><img src="/img/slow.png"></div>
<div><img src="/img/flaky.png" title="Flaky F"></div>
<div><img src="/private/p.png"></div>
<a href="/p/1.html">next</a> <a href="/private/secret.html">secret</a> <a href="/missing.html">gone</a>
<a href="mailto:someone@example.org">mail</a> <a href="#top">top</a>
<script>
document.getElementById("jsbox").innerHTML = '<img src="/img/js.png" alt="Inserted by script">';
document.querySelectorAll("img.lazy").forEach(function (i) { i.src = i.dataset.src; });
</script>
</body></html>
"""

STYLE = ".hero { width: 200px; height: 200px; background-image: url(/img/cssbg.png); }\n"


def card_site(tmp: Path, slow: float = 4.0) -> Site:
    """The scrape test site (see the module docstring); serve it with .start()."""
    names = ["a", "b", "c", "d", "e", "lazy", "js", "cssbg", "f", "g", "deep", "flaky"]
    imgs = dict(zip(names, shape_images(len(names), tmp), strict=True))
    site = Site()
    site.page("/", INDEX.replace("{lazy}", LAZY_PLACEHOLDER))
    site.file("/style.css", STYLE.encode(), "text/css")
    site.file("/robots.txt", b"User-agent: *\nDisallow: /private/\n", "text/plain")
    for n in names:
        site.file(f"/img/{n}.png", imgs[n], flaky=(n == "flaky"))
    site.file("/img/a-copy.png", imgs["a"])
    site.file("/img/a-near.jpg", near_copy(imgs["a"]), "image/jpeg")
    site.file("/img/pixel.gif", pixel_gif(), "image/gif")
    site.file("/img/fake.png", b"<!doctype html><html><body>Sorry, hotlinking is not allowed</body></html>")
    site.routes["/img/fake.png"].ctype = "image/png"
    site.file("/img/trunc.png", truncated_png())
    site.file("/img/bomb.png", bomb_png())
    site.file("/img/slow.png", imgs["a"], delay=slow)
    site.file("/private/p.png", imgs["b"])
    site.page("/private/secret.html", '<img src="/img/deep.png" alt="secret">')
    site.routes["/loop/a.png"] = Route(status=302, location="/loop/b.png")
    site.routes["/loop/b.png"] = Route(status=302, location="/loop/a.png")
    site.page("/p/1.html", '<div><img src="/img/f.png" alt="Page one F"></div><a href="/p/2.html">2</a>'
                           '<a href="/">home</a>')
    site.page("/p/2.html", '<div><img src="/img/g.png" title="Title G"></div><a href="/p/3.html">3</a>')
    site.page("/p/3.html", '<div><img src="/img/deep.png" alt="Deep"></div>')
    return site


# What the album holds for card_site() at depth 2, by image path → captions (origin, text).
STATIC_ALBUM = {
    "/img/a.png": [("alt", "Alt A")],
    "/img/b.png": [("alt", "Alt B"), ("figcaption", "Figure B")],
    "/img/c.png": [("nearby", "Nearby C")],
    "/img/lazy.png": [("alt", "Lazy L")],
    "/img/flaky.png": [("title", "Flaky F")],
    "/img/e.png": [("meta", "Meta E")],
    "/img/d.png": [("jsonld", "LD caption D")],
    "/img/f.png": [("alt", "Page one F")],
    "/img/g.png": [("title", "Title G")],
}
JS_ONLY = {
    "/img/js.png": [("alt", "Inserted by script")],
    "/img/cssbg.png": [],
}


# ---- helpers shared by the scrape tests ----------------------------------------------------

SPEC = """
sources:
  cards:
    scrape:
      url: "{url}/"
      depth: 2
      render: {render}
      allow_private: true
      timeout: 1.5
      retries: 1
      backoff: 0.05
"""


def serve_card_site(tmp: Path):
    """Generator for a pytest fixture: the card site, started, with .url set; stopped after."""
    s = card_site(tmp / "site-images")
    s.start()
    yield s
    s.stop()


def show(project, target: str = "cards") -> dict:
    import json

    r = project.run("show", target, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def album_by_path(shown: dict, base: str) -> dict[str, list[tuple[str, str]]]:
    """image URL (without the site's base) → [(origin, text)] for every image in the album."""
    images = shown["meta"]["album"]["images"]
    return {im["extra"]["image_url"].removeprefix(base): [(c["origin"], c["text"]) for c in im["captions"]]
            for im in images}


def report_reasons(shown: dict, base: str, section: str) -> dict[str, str]:
    return {e["path"].removeprefix(base): e.get("reason") or f"dup of {e['kept'].removeprefix(base)}"
            for e in shown["meta"]["report"][section]}
