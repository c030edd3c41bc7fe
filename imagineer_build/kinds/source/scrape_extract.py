"""Find links, images and the captions a page already gives them, from HTML text.

Both render modes end here: `static` hands over the HTML as served, `js` the DOM Chromium
built (so JavaScript-inserted and lazily swapped images are in it). Every caption keeps its
origin: alt | title | figcaption | nearby | meta | jsonld.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .scrape_urls import normalize

EXTRACT_VERSION = "1"  # bump when what a page yields changes (page memo key)
CAPTION_RANK = ("jsonld", "figcaption", "alt", "title", "meta", "nearby")  # best first
IMAGE_PATH = re.compile(r"\.(jpe?g|png|webp|gif|bmp|avif|tiff?)$", re.I)
CSS_URL = re.compile(r"url\(\s*(['\"]?)([^'\")]+)\1\s*\)", re.I)
LAZY_ATTRS = ("data-src", "data-lazy-src", "data-original", "data-lazy")
NEARBY_MAX = 300
BLOCKS = ("div", "p", "li", "td", "section", "article", "span", "a", "dd", "header", "footer")


@dataclass
class PageFacts:
    """What one page yields: links to follow and image URL → captions, in document order."""

    links: list[str] = field(default_factory=list)
    images: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def add_image(self, url: str | None, captions: list[dict[str, str]] = ()) -> None:
        if not url:
            return
        have = self.images.setdefault(url, [])
        for c in captions:
            if c["text"] and c not in have:
                have.append(c)

    def to_json(self) -> dict[str, Any]:
        return {"links": self.links, "images": [[u, c] for u, c in self.images.items()]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PageFacts:
        return cls(list(d["links"]), {u: list(c) for u, c in d["images"]})


def _text(s: str | None) -> str:
    return " ".join((s or "").split())


def _cap(text: str | None, origin: str) -> list[dict[str, str]]:
    t = _text(text)
    return [{"text": t, "origin": origin}] if t else []


def best_srcset(value: str | None) -> str | None:
    """The largest candidate of a srcset (by width descriptor, else density)."""
    best, best_size = None, -1.0
    for part in (value or "").split(","):
        bits = part.strip().split()
        if not bits:
            continue
        size = 1.0
        if len(bits) > 1:
            d = bits[1].lower()
            try:
                size = float(d[:-1]) * (1 if d.endswith("w") else 10_000) if d[-1] in "wx" else 1.0
            except ValueError:
                size = 1.0
        if size > best_size:
            best, best_size = bits[0], size
    return best


def _img_src(img) -> str | None:
    for attr in ("srcset", "data-srcset"):
        if img.get(attr):
            return best_srcset(img.get(attr))
    for attr in LAZY_ATTRS:
        if img.get(attr):
            return img.get(attr)
    src = img.get("src")
    if src and not src.startswith("data:"):
        return src
    pic = img.find_parent("picture")
    if pic is not None:
        for source in pic.find_all("source"):
            if source.get("srcset"):
                return best_srcset(source.get("srcset"))
    return None


def _nearby(img) -> str:
    """Short text of the closest block around the image (not the whole page)."""
    for parent in img.parents:
        if parent.name in ("body", "html", "[document]", "figure"):
            return ""
        if parent.name in BLOCKS:
            t = _text(parent.get_text(" "))
            if t:
                return t if len(t) <= NEARBY_MAX else ""
    return ""


def _img_captions(img) -> list[dict[str, str]]:
    caps = _cap(img.get("alt"), "alt") + _cap(img.get("title"), "title")
    fig = img.find_parent("figure")
    if fig is not None and fig.find("figcaption") is not None:
        caps += _cap(fig.find("figcaption").get_text(" "), "figcaption")
    else:
        near = _nearby(img)
        if near and near != _text(img.get("alt")):
            caps += _cap(near, "nearby")
    return caps


def _jsonld_images(node: Any, out: list[tuple[str, list[dict[str, str]]]]) -> None:
    if isinstance(node, list):
        for n in node:
            _jsonld_images(n, out)
    elif isinstance(node, dict):
        types = node.get("@type")
        types = types if isinstance(types, list) else [types]
        if "ImageObject" in types:
            url = node.get("contentUrl") or node.get("url")
            caps: list[dict[str, str]] = []
            for key in ("caption", "description", "name"):
                v = node.get(key)
                if isinstance(v, dict):
                    v = v.get("text") or v.get("@value")
                if isinstance(v, str):
                    caps += _cap(v, "jsonld")
            if isinstance(url, str):
                out.append((url, caps))
        for v in node.values():
            if isinstance(v, (dict, list)):
                _jsonld_images(v, out)


def extract(html: str | bytes, page_url: str) -> PageFacts:
    """Links and images of one page; URLs normalized against the page (or its <base>).

    Bytes are decoded the way browsers do (BOM, <meta charset>, then a guess).
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    base = page_url
    tag = soup.find("base", href=True)
    if tag is not None:
        base = normalize(tag["href"], page_url) or page_url
    facts = PageFacts()

    def url(u: str | None) -> str | None:
        return normalize(u, base) if u else None

    for a in soup.find_all(["a", "area"], href=True):
        u = url(a["href"])
        if u is None:
            continue
        if IMAGE_PATH.search(u.split("?")[0]):
            inner = a.find("img")
            facts.add_image(u, _img_captions(inner) if inner is not None else _cap(a.get("title"), "title"))
        elif u not in facts.links:
            facts.links.append(u)
    for img in soup.find_all("img"):
        facts.add_image(url(_img_src(img)), _img_captions(img))
    for el in soup.find_all(style=True):
        for m in CSS_URL.finditer(el["style"]):
            facts.add_image(url(m.group(2)), _cap(el.get("title") or el.get("aria-label"), "title"))
    for style in soup.find_all("style"):
        for m in CSS_URL.finditer(style.get_text()):
            if IMAGE_PATH.search(m.group(2).split("?")[0]):
                facts.add_image(url(m.group(2)))
    alt = None
    for m in soup.find_all("meta"):
        prop = (m.get("property") or m.get("name") or "").lower()
        if prop in ("og:image:alt", "twitter:image:alt"):
            alt = alt or m.get("content")
    for m in soup.find_all("meta"):
        prop = (m.get("property") or m.get("name") or "").lower()
        if prop in ("og:image", "og:image:url", "og:image:secure_url", "twitter:image"):
            facts.add_image(url(m.get("content")), _cap(alt, "meta"))
    found: list[tuple[str, list[dict[str, str]]]] = []
    for script in soup.find_all("script", type=lambda t: t and "ld+json" in t.lower()):
        try:
            _jsonld_images(json.loads(script.get_text()), found)
        except (ValueError, RecursionError):
            continue
    for u, caps in found:
        facts.add_image(url(u), caps)
    return facts


def best_caption(captions: list[dict[str, str]]) -> str | None:
    """The caption of the most trusted origin (CAPTION_RANK), first found among equals."""
    ranked = sorted(captions, key=lambda c: CAPTION_RANK.index(c["origin"]) if c["origin"] in CAPTION_RANK else 99)
    return ranked[0]["text"] if ranked else None
