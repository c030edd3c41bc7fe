"""The `scrape:` settings: where to crawl, how far, how politely, and what counts as safe."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ...core.kind import KindConfig

DEFAULT_USER_AGENT = "imagineer-build/0.1 (dataset scraper; +https://github.com/imagineer-build)"


class ScrapeConfig(KindConfig):
    url: str = Field(..., description="start page (http or https)")
    depth: int = Field(3, ge=0, le=20, description="links followed from the start page (0: only the start page)")
    max_images: int = Field(1000, ge=1, description="image URLs downloaded at most (in crawl order)")
    max_pages: int = Field(200, ge=1, description="pages fetched at most")
    render: Literal["static", "js"] = Field(
        "static", description="static: parse the HTML as served; js: render each page in Chromium first")
    same_domain: bool = Field(True, description="follow links only to the start host and its subdomains")
    include: list[str] = Field(default_factory=list, description=(
        "image URL patterns to keep (glob on the whole URL, or a regex written 're:…'); empty keeps all"))
    exclude: list[str] = Field(default_factory=list, description="image URL patterns to drop (glob or 're:…')")
    exclude_pages: list[str] = Field(default_factory=list, description="page URL patterns never fetched")
    robots: bool = Field(True, description="honour robots.txt")
    user_agent: str = Field(DEFAULT_USER_AGENT, description="User-Agent header (and robots.txt agent)")
    concurrency: int = Field(20, ge=1, le=256, description="downloads in flight at once")
    per_host: int = Field(4, ge=1, le=64, description="requests in flight per host")
    delay: float = Field(0.0, ge=0, le=60, description="seconds between request starts to one host")
    timeout: float = Field(30.0, gt=0, description="seconds per request (connect, read)")
    retries: int = Field(3, ge=0, le=10, description="retries on 429, 5xx, timeouts and connection errors")
    backoff: float = Field(0.5, ge=0, le=60, description="first retry wait in seconds; doubles each retry")
    max_redirects: int = Field(5, ge=0, le=20, description="redirects followed per URL")
    max_page_bytes: int = Field(10_000_000, gt=0, description="largest HTML page read")
    allow_private: bool = Field(False, description=(
        "allow loopback, private and link-local addresses (refused by default: server-side request forgery)"))
    chromium: str | None = Field(None, description=(
        "Chromium binary for render: js (default: $IMAGINEER_CHROMIUM or /usr/lib/chromium/chromium)"))
    settle_ms: int = Field(250, ge=0, le=30_000, description="render: js — wait after `load` for scripts to finish")
    js_hosts: list[str] = Field(default_factory=list, description=(
        "render: js — extra hosts Chromium may resolve besides the start host (all others are blocked)"))

    @field_validator("url")
    @classmethod
    def _http_only(cls, v: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(v.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v!r} is not an http(s) URL with a host")
        return v.strip()

    @field_validator("include", "exclude", "exclude_pages")
    @classmethod
    def _patterns_compile(cls, v: list[str]) -> list[str]:
        import re

        for p in v:
            if p.startswith("re:"):
                try:
                    re.compile(p[3:])
                except re.error as e:
                    raise ValueError(f"bad regex {p!r}: {e}") from None
        return v
