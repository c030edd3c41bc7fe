"""The `scrape:` variant: crawl a site, download its images, and freeze them as an album.

The album has the same shape as `dir:`'s: images validated, filtered and deduplicated through
select.py, each with the captions the page gave it and `extra` = {page_url, image_url}. File
names inside the artifact come from digests, never from URLs. The report has one record per
URL (pages and images) with its status, so a refresh can be judged and failures retried.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ...core.artifact import Artifact
from ...core.kind import BuildContext
from ...media.album import EXTENSIONS, Album, AlbumImage, manifest_files, readable_names
from .scrape_crawl import Crawl, Crawler, url_record
from .scrape_download import Downloaded, Downloader
from .scrape_extract import best_caption
from .scrape_fetch import Cancelled, Fetcher
from .scrape_urls import host_of, normalize
from .select import Item, empty_note, probe_all, select


class ScrapeError(Exception):
    """The scrape as a whole cannot produce an album (e.g. the start page is refused)."""


async def _fetch_everything(ctx: BuildContext, stats: dict[str, int]) -> tuple[Crawl, list[Any]]:
    cfg = ctx.config.scrape
    start = normalize(cfg.url) or cfg.url
    async with Fetcher(cfg, ctx.workdir, stats) as fetcher:
        renderer = None
        if cfg.render == "js":
            from .scrape_render import Renderer

            hosts = [host_of(start), *cfg.js_hosts]
            if cfg.same_domain:
                hosts.append("*." + host_of(start))
            renderer = Renderer(cfg, hosts, fetcher)
            await renderer.__aenter__()
        try:
            crawler = Crawler(cfg, fetcher, renderer, ctx.memo("scrape.page"), ctx.refresh,
                              lambda d, t=None: ctx.progress(d, t, "pages crawled"), ctx.cancelled)
            crawl = await crawler.run()
        finally:
            if renderer is not None:
                await renderer.__aexit__(None, None, None)
        dl = Downloader(ctx, fetcher, ctx.config.decode.max_bytes,
                        lambda d, t: ctx.progress(d, t, "images downloaded"))
        results = await dl.all(list(crawl.images))
    return crawl, results


def build_scrape(ctx: BuildContext) -> Artifact:
    cfg = ctx.config
    stats: dict[str, int] = {}
    try:
        crawl, results = asyncio.run(_fetch_everything(ctx, stats))
    except Cancelled:
        raise KeyboardInterrupt("build cancelled") from None
    records = list(crawl.records)
    if records and records[0]["status"] != "ok":
        raise ScrapeError(f"scrape.url: could not fetch the start page {records[0]['url']}: {records[0]['reason']}")
    items: list[Item] = []
    failed: list[dict[str, str]] = []
    how: dict[str, int] = {}
    for url, res in zip(crawl.images, results, strict=True):
        if isinstance(res, Downloaded):
            items.append(Item(url, str(res.path), res.digest, res.size))
            records.append({"url": url, "kind": "image", "status": "ok"})
            how[res.how] = how.get(res.how, 0) + 1
        else:
            rec = url_record(url, "image", res)
            records.append(rec)
            failed.append({"path": url, "reason": rec["reason"]})
    probe_all(ctx, items, cfg.decode, lambda d, t: ctx.progress(d, t, "images probed"), cfg.filter)
    sel = select(items, cfg.filter, cfg.dedup)
    files: dict[str, str] = {}
    images: list[AlbumImage] = []
    names = readable_names([(url_file_name(it.id, it.digest, EXTENSIONS.get(it.info["format"], "bin")), it.digest)
                            for it in sel.kept])
    for it, name in zip(sel.kept, names, strict=True):
        info = it.info
        found = crawl.images[it.id]
        path = f"images/{name}"
        files[path] = it.digest
        extra: dict[str, Any] = {"page_url": found.page_url, "image_url": it.id}
        if info.get("frames", 1) > 1:
            extra["frames"] = info["frames"]
        images.append(AlbumImage(
            digest=it.digest, path=path, width=info["width"], height=info["height"], format=info["format"],
            origin=f"scrape:{it.id}", phash=info["phash"], caption=best_caption(found.captions),
            captions=list(found.captions), extra=extra,
        ))
    for s in failed + sel.skipped:
        ctx.log(f"skipped {s['path']}: {s['reason']}", "warning")
    ctx.log(f"{crawl.pages_fetched} pages fetched, {crawl.pages_not_modified} not modified, "
            f"{crawl.pages_reused} reused; images: " + ", ".join(f"{n} {k}" for k, n in sorted(how.items()))
            + f"; {stats.get('requests', 0)} requests, {stats.get('bytes', 0)} bytes")
    limits = {}
    if crawl.images_over_limit:
        limits["images_over_max_images"] = crawl.images_over_limit
    if crawl.pages_over_limit:
        limits["pages_over_max_pages"] = crawl.pages_over_limit
    album = Album(images, {"urls": records, "skipped": failed + sel.skipped, "filtered": sel.filtered,
                           "duplicates": sel.duplicates, "limits": limits})
    run = {}
    if not images:
        run["note"] = empty_note(len(records), failed + sel.skipped + sel.filtered)
        ctx.log(run["note"], "warning")
    files.update({rel: ctx.put_bytes(data) for rel, data in manifest_files(album).items()})
    return Artifact(files=files, meta=album.meta(), facts=album.facts(), run=run)


def url_file_name(url: str, digest: str, ext: str) -> str:
    """A readable file name from an image URL's last path part (`…/cards/ace%20of%20cups.jpg` →
    `ace-of-cups.jpg`), with the extension of the bytes' real format; the digest when the URL
    has no usable name."""
    import posixpath
    import re
    from urllib.parse import unquote, urlsplit

    stem = posixpath.splitext(posixpath.basename(unquote(urlsplit(url).path)))[0]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:80]
    return f"{stem or digest[:16]}.{ext}"
