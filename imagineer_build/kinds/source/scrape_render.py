"""`render: js`: pages rendered in the system Chromium through Playwright, quietly.

Chromium phones home (component updates, safe browsing, DNS for Google hosts) unless told
not to; the flags below plus a host-resolver rule that sends every host but the crawl's to
NOTFOUND keep it on the closed network. We wait for `load`, scroll once so lazy loaders fire,
settle briefly (networkidle costs ~0.6 s a page), then read the DOM and the image responses
(CSS backgrounds only show up there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .scrape_fetch import FetchError
from .scrape_urls import UnsafeURL

DEFAULT_CHROMIUM = "/usr/lib/chromium/chromium"
QUIET_FLAGS = (
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
    "--disable-extensions", "--disable-default-apps", "--mute-audio",
)
LAUNCH_TIMEOUT_MS = 30_000
PAGE_TIMEOUT_MIN = 15.0  # seconds; Chromium on a busy machine needs more than one HTTP timeout


class ChromiumMissing(RuntimeError):
    """No Chromium binary where we looked; the message says how to get one."""


def chromium_path(configured: str | None) -> str:
    """The Chromium binary to launch: config, then $IMAGINEER_CHROMIUM, then Debian's path."""
    path = configured or os.environ.get("IMAGINEER_CHROMIUM") or DEFAULT_CHROMIUM
    p = Path(path)
    if not p.is_file() or not os.access(p, os.X_OK):
        raise ChromiumMissing(
            f"render: js needs Chromium, and {path} is not an executable file. Install it "
            "(Debian/Ubuntu: apt-get install chromium) or point scrape.chromium or "
            "$IMAGINEER_CHROMIUM at the binary; render: static needs no browser.")
    return str(p)


def resolver_rule(hosts: list[str]) -> str:
    """Every host but the crawl's resolves to NOTFOUND."""
    excludes = "".join(f", EXCLUDE {h}" for h in sorted(set(hosts)))
    return f"--host-resolver-rules=MAP * ~NOTFOUND{excludes}"


@dataclass
class Rendered:
    html: str
    final_url: str
    image_responses: list[str] = field(default_factory=list)


class Renderer:
    """One headless browser for a build; render() is safe to call concurrently."""

    def __init__(self, cfg, hosts: list[str], fetcher):
        self.cfg = cfg
        self.hosts = hosts
        self.fetcher = fetcher
        self._pw = None
        self._browser = None
        self._context = None

    async def __aenter__(self) -> Renderer:
        from playwright.async_api import async_playwright

        exe = chromium_path(self.cfg.chromium)
        self._pw = await async_playwright().start()
        try:
            self._browser = await self._pw.chromium.launch(
                executable_path=exe, headless=True, timeout=LAUNCH_TIMEOUT_MS,
                args=[*QUIET_FLAGS, resolver_rule(self.hosts)])
        except Exception as e:
            await self._pw.stop()
            raise ChromiumMissing(f"could not start Chromium at {exe}: {str(e).splitlines()[0]}") from None
        self._context = await self._browser.new_context(
            user_agent=self.cfg.user_agent, service_workers="block", java_script_enabled=True)
        if not self.cfg.allow_private:
            await self._context.route("**/*", self._guard)
        return self

    async def __aexit__(self, *exc) -> None:
        try:
            if self._browser is not None:
                await self._browser.close()
        finally:
            await self._pw.stop()

    async def _guard(self, route) -> None:
        """Every request the page makes passes the same address guard as ours."""
        try:
            await self.fetcher.check_safe(route.request.url)
        except UnsafeURL:
            await route.abort("blockedbyclient")
            return
        await route.continue_()

    async def render(self, url: str) -> Rendered:
        page = await self._context.new_page()
        images: list[str] = []

        def on_response(resp) -> None:
            ctype = (resp.headers.get("content-type") or "").lower()
            if 300 <= resp.status < 400:
                return  # a redirect hop, not an image
            if resp.request.resource_type == "image" or ctype.startswith("image/"):
                if resp.url not in images:
                    images.append(resp.url)

        page.on("response", on_response)
        try:
            try:
                resp = await page.goto(url, wait_until="domcontentloaded",
                                       timeout=max(self.cfg.timeout, PAGE_TIMEOUT_MIN) * 1000)
            except Exception as e:
                raise FetchError(f"Chromium could not load the page: {str(e).splitlines()[0]}") from None
            if resp is not None and resp.status >= 400:
                raise FetchError(f"HTTP {resp.status}")
            try:  # one slow image must not cost the page: wait for `load` at most one timeout
                await page.wait_for_load_state("load", timeout=self.cfg.timeout * 1000)
            except Exception:
                pass
            await page.evaluate("window.scrollTo(0, document.body ? document.body.scrollHeight : 0)")
            if self.cfg.settle_ms:
                await page.wait_for_timeout(self.cfg.settle_ms)
            html = await page.content()
            return Rendered(html, page.url, list(images))
        finally:
            await page.close()
