"""Download image URLs into the store, memoised per URL with their validators.

memo "scrape.url": URL → {digest, size, etag, last_modified, http}, blob = digest. A plain
build reuses a memoised URL without a request; `--refresh` revalidates it (If-None-Match /
If-Modified-Since) and a 304 reuses the stored blob, so only new or changed images cost
bandwidth. Failures are never memoised: the next build retries exactly those.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.store import BlobDamaged
from .scrape_crawl import conditional_headers
from .scrape_fetch import Cancelled, FetchError
from .scrape_urls import UnsafeURL


@dataclass
class Downloaded:
    url: str
    digest: str
    size: int
    path: Path  # local bytes: the workdir copy or the store blob (read-only)
    how: str  # downloaded | not_modified | reused


class Downloader:
    def __init__(self, ctx, fetcher, max_bytes: int, progress):
        self.ctx = ctx
        self.fetcher = fetcher
        self.memo = ctx.memo("scrape.url")
        self.max_bytes = max_bytes
        self.progress = progress
        self.sem = asyncio.Semaphore(ctx.config.scrape.concurrency)
        self.done = 0
        self.total = 0
        self.known: dict[str, tuple[Any, str | None]] = {}

    def _stored(self, value: dict[str, Any] | None, blob: str | None) -> Path | None:
        if not value or not blob:
            return None
        try:
            return self.ctx.blob_path(blob)
        except (FileNotFoundError, BlobDamaged):
            return None

    async def one(self, url: str) -> Downloaded | Exception:
        key = self.memo.key(url)
        value, blob = self.known.get(key, (None, None))
        stored = self._stored(value, blob)
        try:
            if stored is not None and not self.ctx.refresh:
                return Downloaded(url, blob, value["size"], stored, "reused")
            async with self.sem:
                got = await self.fetcher.get(url, max_bytes=self.max_bytes, to_file=True,
                                             headers=conditional_headers(value) if stored else None)
            if got.status == 304 and stored is not None:
                return Downloaded(url, blob, value["size"], stored, "not_modified")
            if got.status != 200:
                return FetchError(f"HTTP {got.status}")
            digest = await asyncio.to_thread(self.ctx.put_file, got.path, got.digest)
            self.memo.put(key, {"digest": digest, "size": got.size, "etag": got.headers.get("etag"),
                                "last_modified": got.headers.get("last-modified")}, blob=digest)
            return Downloaded(url, digest, got.size, got.path, "downloaded")
        except (FetchError, UnsafeURL) as e:
            return e
        finally:
            self.done += 1
            self.progress(self.done, self.total)
            if self.ctx.cancelled.is_set():
                raise Cancelled("build cancelled")

    async def all(self, urls: list[str]) -> list[Downloaded | Exception]:
        self.total = len(urls)
        self.known = self.memo.get_many(self.memo.key(u) for u in urls)  # one query, not one per URL
        return list(await asyncio.gather(*(self.one(u) for u in urls)))
