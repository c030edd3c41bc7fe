"""Polite, bounded HTTP for the scraper: one async httpx client behind per-host gates.

Every request passes the address guard and robots.txt, waits for its host's slot (a
concurrency limit plus a minimum delay between starts, pushed back by 429 Retry-After),
follows redirects itself (each hop checked again, loops and long chains refused), retries
429/5xx/timeouts/connection errors with exponential backoff, and streams bodies under a byte
cap. Nothing here trusts Content-Type for images; the decoder sniffs the bytes later.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from .scrape_urls import UnsafeURL, check_addresses, normalize, origin_of, resolve

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
MAX_RETRY_AFTER = 60.0


class Cancelled(Exception):
    """The user cancelled the build (raised inside the event loop, re-raised as KeyboardInterrupt)."""


class FetchError(Exception):
    """A URL that could not be fetched; the message is the reason recorded in the report."""


@dataclass
class Fetched:
    url: str  # as asked
    final_url: str  # after redirects
    status: int
    headers: dict[str, str]
    body: bytes | None = None  # small bodies (pages)
    path: Path | None = None  # streamed bodies (downloads)
    digest: str | None = None
    size: int = 0


@dataclass
class HostGate:
    """At most `slots` requests in flight to one host, starts at least `delay` apart."""

    slots: int
    delay: float
    sem: asyncio.Semaphore = field(init=False)
    next_start: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.sem = asyncio.Semaphore(self.slots)

    async def wait_turn(self) -> None:
        async with self.lock:
            now = time.monotonic()
            wait = self.next_start - now
            self.next_start = max(now, self.next_start) + self.delay
        if wait > 0:
            await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        self.next_start = max(self.next_start, time.monotonic() + seconds)


def _retry_after(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(value)))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return min(MAX_RETRY_AFTER, max(0.0, parsedate_to_datetime(value).timestamp() - time.time()))
        except (TypeError, ValueError):
            return default


class Fetcher:
    """Shared by the crawl and the downloads of one build; use as an async context manager."""

    def __init__(self, cfg, workdir: Path, stats: dict[str, int] | None = None):
        self.cfg = cfg
        self.workdir = workdir
        self.gates: dict[str, HostGate] = {}
        self.safe: dict[tuple[str, int], str | None] = {}
        self.robots: dict[str, RobotFileParser | None] = {}
        self.robots_lock = asyncio.Lock()
        self.stats = stats if stats is not None else {}
        self.client = None

    async def __aenter__(self) -> Fetcher:
        import httpx

        try:
            import h2  # noqa: F401  (HTTP/2 is negotiated over TLS when the server offers it)

            http2 = True
        except ImportError:
            http2 = False
        t = self.cfg.timeout
        self.client = httpx.AsyncClient(
            http2=http2, follow_redirects=False, trust_env=False,
            timeout=httpx.Timeout(t, connect=t, read=t, write=t, pool=None),
            headers={"User-Agent": self.cfg.user_agent},
            limits=httpx.Limits(max_connections=self.cfg.concurrency + self.cfg.per_host * 4,
                                max_keepalive_connections=self.cfg.concurrency + self.cfg.per_host),
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self.client.aclose()

    def _count(self, what: str, n: int = 1) -> None:
        self.stats[what] = self.stats.get(what, 0) + n

    def gate(self, url: str) -> HostGate:
        key = origin_of(url)
        if key not in self.gates:
            self.gates[key] = HostGate(self.cfg.per_host, self.cfg.delay)
        return self.gates[key]

    async def check_safe(self, url: str) -> None:
        """Raise UnsafeURL for non-http(s) URLs and, unless allowed, non-public addresses."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UnsafeURL(f"only http and https URLs are fetched, not {url!r}")
        if self.cfg.allow_private:
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        key = (parts.hostname, port)
        if key not in self.safe:
            try:
                addrs = await asyncio.to_thread(resolve, parts.hostname, port)
                check_addresses(parts.hostname, addrs)
                self.safe[key] = None
            except UnsafeURL as e:
                self.safe[key] = str(e)
        if self.safe[key]:
            raise UnsafeURL(self.safe[key])

    async def allowed(self, url: str) -> bool:
        """robots.txt says this user agent may fetch the URL (always true when robots is off)."""
        if not self.cfg.robots:
            return True
        origin = origin_of(url)
        async with self.robots_lock:
            if origin not in self.robots:
                self.robots[origin] = await self._load_robots(origin)
        rp = self.robots[origin]
        return True if rp is None else rp.can_fetch(self.cfg.user_agent, url)

    async def _load_robots(self, origin: str) -> RobotFileParser | None:
        rp = RobotFileParser()
        try:
            got = await self.get(origin + "/robots.txt", max_bytes=512_000, use_robots=False, retries=1)
        except (FetchError, UnsafeURL):
            return None
        if got.status in (401, 403):
            rp.disallow_all = True
        elif got.status == 200 and got.body is not None:
            rp.parse(got.body.decode("utf-8", "replace").splitlines())
            crawl_delay = rp.crawl_delay(self.cfg.user_agent)
            if crawl_delay:
                gate = self.gate(origin + "/")
                gate.delay = max(gate.delay, min(float(crawl_delay), 30.0))
        else:
            return None
        return rp

    async def get(self, url: str, *, max_bytes: int, headers: dict[str, str] | None = None,
                  to_file: bool = False, use_robots: bool = True, retries: int | None = None) -> Fetched:
        """GET with redirects, retries and a byte cap; non-2xx answers are returned, not raised."""
        seen = [url]
        current = url
        for _hop in range(self.cfg.max_redirects + 1):
            await self.check_safe(current)
            if use_robots and not await self.allowed(current):
                raise FetchError("disallowed by robots.txt")
            got = await self._get_retrying(current, headers or {}, max_bytes, to_file,
                                           self.cfg.retries if retries is None else retries)
            if got.status not in REDIRECT_STATUS:
                got.url = url
                return got
            target = normalize(got.headers.get("location", ""), current)
            if target is None:
                raise FetchError(f"HTTP {got.status} redirect to an unusable location")
            if target in seen:
                raise FetchError(f"redirect loop ({' → '.join(seen[-3:])} → {target})")
            seen.append(target)
            current = target
        raise FetchError(f"more than {self.cfg.max_redirects} redirects")

    async def _get_retrying(self, url: str, headers: dict[str, str], max_bytes: int, to_file: bool,
                            retries: int) -> Fetched:
        import httpx

        gate = self.gate(url)
        for attempt in range(retries + 1):
            wait = self.cfg.backoff * (2 ** attempt)
            try:
                async with gate.sem:
                    await gate.wait_turn()
                    self._count("requests")
                    got = await self._get_once(url, headers, max_bytes, to_file)
                if got.status not in RETRY_STATUS or attempt == retries:
                    return got
                wait = _retry_after(got.headers.get("retry-after"), wait)
                if got.status == 429:
                    gate.pause(wait)
                self._count(f"retry_{got.status}")
            except httpx.TimeoutException:
                self._count("retry_timeout")
                if attempt == retries:
                    raise FetchError(f"timed out after {self.cfg.timeout:g} s") from None
            except (httpx.TransportError, httpx.DecodingError) as e:
                self._count("retry_connection")
                if attempt == retries:
                    raise FetchError(f"connection error: {type(e).__name__}: {e}") from None
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _get_once(self, url: str, headers: dict[str, str], max_bytes: int, to_file: bool) -> Fetched:
        import xxhash

        async with self.client.stream("GET", url, headers=headers) as r:
            hdrs = {k.lower(): v for k, v in r.headers.items()}
            got = Fetched(url, url, r.status_code, hdrs)
            if r.status_code != 200:
                return got  # redirects, 304s and errors: the body is not wanted
            declared = hdrs.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"Content-Length {declared} is over the {max_bytes}-byte limit")
            h = xxhash.xxh3_128()
            chunks: list[bytes] = []
            fd = None
            tmp = None
            try:
                if to_file:
                    fd, tmp = _tempfile(self.workdir)
                async for chunk in r.aiter_bytes():
                    got.size += len(chunk)
                    if got.size > max_bytes:
                        raise FetchError(f"body is over the {max_bytes}-byte limit")
                    h.update(chunk)
                    if fd is not None:
                        os.write(fd, chunk)
                    else:
                        chunks.append(chunk)
            except BaseException:
                if tmp is not None:
                    os.close(fd)
                    os.unlink(tmp)
                raise
            self._count("bytes", got.size)
            got.digest = h.hexdigest()
            if tmp is not None:
                os.close(fd)
                final = self.workdir / got.digest
                os.replace(tmp, final)
                got.path = final
            else:
                got.body = b"".join(chunks)
            return got


def _tempfile(workdir: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(dir=workdir, prefix=".dl-")
