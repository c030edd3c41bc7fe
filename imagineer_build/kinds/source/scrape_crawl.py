"""Breadth-first crawl: pages level by level within `depth`, collecting image URLs and captions.

Each level is fetched concurrently (the fetcher's host gates keep it polite) but merged in
document order, so the same site always yields the same album order. Pages are memoised by
URL and render mode: a build after a config change reuses what it already has, and only
`--refresh` revalidates (static: If-None-Match / If-Modified-Since; js: render again).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .scrape_extract import EXTRACT_VERSION, PageFacts, extract
from .scrape_fetch import Cancelled, FetchError
from .scrape_urls import UnsafeURL, compile_patterns, host_of, matches, normalize, same_site

HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass
class Found:
    """An image URL as the crawl found it: the first page that shows it, and every caption."""

    url: str
    page_url: str
    captions: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Crawl:
    images: dict[str, Found] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)  # one per page / refused URL
    pages_fetched: int = 0
    pages_reused: int = 0
    pages_not_modified: int = 0
    images_over_limit: int = 0
    pages_over_limit: int = 0


def conditional_headers(value: dict[str, Any] | None) -> dict[str, str]:
    headers = {}
    if value and value.get("etag"):
        headers["If-None-Match"] = value["etag"]
    if value and value.get("last_modified"):
        headers["If-Modified-Since"] = value["last_modified"]
    return headers


class Crawler:
    def __init__(self, cfg, fetcher, renderer, memo, refresh: bool, progress, cancelled):
        self.cfg = cfg
        self.fetcher = fetcher
        self.renderer = renderer
        self.memo = memo
        self.refresh = refresh
        self.progress = progress
        self.cancelled = cancelled
        self.include = compile_patterns(cfg.include)
        self.exclude = compile_patterns(cfg.exclude)
        self.exclude_pages = compile_patterns(cfg.exclude_pages)
        self.out = Crawl()
        self.js_slots = asyncio.Semaphore(max(1, cfg.per_host))

    def _key(self, url: str) -> str:
        return self.memo.key(url, self.cfg.render, EXTRACT_VERSION)

    async def page(self, url: str) -> tuple[str, PageFacts]:
        """(final URL, facts) of one page; raises FetchError / UnsafeURL with the reason."""
        key = self._key(url)
        hit = self.memo.get(key)
        old = hit[0] if hit else None
        if old is not None and not self.refresh:
            self.out.pages_reused += 1
            return old["final_url"], PageFacts.from_json(old["facts"])
        if self.renderer is not None:
            await self.fetcher.check_safe(url)
            if not await self.fetcher.allowed(url):
                raise FetchError("disallowed by robots.txt")
            async with self.js_slots:
                r = await self.renderer.render(url)
            final = normalize(r.final_url) or url
            facts = extract(r.html, final)
            for u in r.image_responses:
                facts.add_image(normalize(u))
            value = {"final_url": final, "facts": facts.to_json()}
        else:
            got = await self.fetcher.get(url, max_bytes=self.cfg.max_page_bytes, headers=conditional_headers(old))
            if got.status == 304 and old is not None:
                self.out.pages_not_modified += 1
                return old["final_url"], PageFacts.from_json(old["facts"])
            if got.status != 200:
                raise FetchError(f"HTTP {got.status}")
            ctype = got.headers.get("content-type", "text/html").split(";")[0].strip().lower()
            if ctype not in HTML_TYPES:
                raise FetchError(f"not an HTML page (Content-Type {ctype})")
            final = normalize(got.final_url) or url
            facts = extract(got.body or b"", final)
            value = {"final_url": final, "facts": facts.to_json(),
                     "etag": got.headers.get("etag"), "last_modified": got.headers.get("last-modified")}
        self.out.pages_fetched += 1
        self.memo.put(key, value)
        return final, facts

    def _want_image(self, url: str) -> bool:
        if self.include and not matches(url, self.include):
            return False
        return not matches(url, self.exclude)

    async def run(self) -> Crawl:
        cfg = self.cfg
        start = normalize(cfg.url)
        if start is None:
            raise FetchError(f"scrape.url {cfg.url!r} is not an http(s) URL")
        start_host = host_of(start)
        frontier, seen = [start], {start}
        budget = cfg.max_pages
        done = 0
        for _level in range(cfg.depth + 1):
            if not frontier:
                break
            batch, rest = frontier[:budget], frontier[budget:]
            self.out.pages_over_limit += len(rest)
            budget -= len(batch)
            results = await asyncio.gather(*(self._safe_page(u) for u in batch))
            nxt: list[str] = []
            for url, res in zip(batch, results, strict=True):
                done += 1
                self.progress(done)
                if isinstance(res, Exception):
                    self.out.records.append(url_record(url, "page", res))
                    continue
                final, facts = res
                seen.add(final)
                self.out.records.append({"url": url, "kind": "page", "status": "ok"})
                for img, caps in facts.images.items():
                    self._add_image(img, final, caps)
                for link in facts.links:
                    if link in seen:
                        continue
                    seen.add(link)
                    if cfg.same_domain and not same_site(link, start_host):
                        continue
                    if matches(link, self.exclude_pages):
                        continue
                    nxt.append(link)
            if self.cancelled.is_set():
                raise Cancelled("build cancelled")
            frontier = nxt
            if budget <= 0:
                self.out.pages_over_limit += len(frontier)
                break
        return self.out

    def _add_image(self, url: str, page_url: str, caps: list[dict[str, str]]) -> None:
        if not self._want_image(url):
            return
        found = self.out.images.get(url)
        if found is None:
            if len(self.out.images) >= self.cfg.max_images:
                self.out.images_over_limit += 1
                return
            found = self.out.images[url] = Found(url, page_url)
        for c in caps:
            if c not in found.captions:
                found.captions.append(c)

    async def _safe_page(self, url: str):
        try:
            return await self.page(url)
        except (FetchError, UnsafeURL) as e:
            return e


def url_record(url: str, kind: str, err: Exception) -> dict[str, Any]:
    reason = str(err)
    status = "skipped" if isinstance(err, UnsafeURL) or "robots.txt" in reason else "failed"
    return {"url": url, "kind": kind, "status": status, "reason": reason}
