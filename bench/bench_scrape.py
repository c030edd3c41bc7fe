"""Scrape benchmark: download throughput at concurrency 1 vs 16, and the cost of a no-change refresh.

Everything runs against a local threaded http.server (tests/scrape_site.py), so the numbers are
ratios within one run, not absolute claims about any network. Throughput is measured twice:
with no server latency (CPU-bound on both ends) and with a per-image delay standing in for a
network round trip, where concurrency is what pays.

    .venv/bin/python bench/bench_scrape.py [--images 200] [--size 384] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "examples")]

from scrape_site import Site, shape_images  # noqa: E402

from imagineer_build.kinds.source.scrape_config import ScrapeConfig  # noqa: E402
from imagineer_build.kinds.source.scrape_fetch import Fetcher  # noqa: E402


def make_site(tmp: Path, n: int, size: int, latency: float = 0.0) -> Site:
    site = Site()
    imgs = shape_images(n, tmp / "imgs", size=size)
    links = []
    for i, data in enumerate(imgs):
        site.file(f"/img/{i}.png", data, delay=latency)
        links.append(f'<div><img src="/img/{i}.png" alt="image {i}"></div>')
    site.page("/", "<html><body>" + "".join(links) + "</body></html>")
    return site


async def download_all(url: str, n: int, concurrency: int, workdir: Path) -> tuple[float, int]:
    cfg = ScrapeConfig(url=url + "/", allow_private=True, concurrency=concurrency, per_host=concurrency,
                       retries=0, robots=False)
    stats: dict[str, int] = {}
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            got = await fetcher.get(f"{url}/img/{i}.png", max_bytes=50_000_000, to_file=True)
            assert got.status == 200

    async with Fetcher(SimpleNamespace(**cfg.model_dump()), workdir, stats) as fetcher:
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - start, stats.get("bytes", 0)


def _serve(tmp: Path, n: int, size: int, latency: float, q) -> None:
    q.put(make_site(tmp, n, size, latency).start())
    while True:
        time.sleep(3600)


def throughput(tmp: Path, n: int, size: int, latency: float) -> dict[str, object]:
    """Downloads at concurrency 1 and 16 from a site in another process (no shared GIL)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(tmp / f"site-{latency}", n, size, latency, q), daemon=True)
    proc.start()
    out: dict[str, object] = {"server_latency_s": latency}
    try:
        url = q.get(timeout=120)
        for c in (1, 16):
            wd = tmp / f"dl-{latency}-{c}"
            wd.mkdir()
            secs, nbytes = asyncio.run(download_all(url, n, c, wd))
            out[f"concurrency_{c}"] = {"seconds": round(secs, 3), "images_per_s": round(n / secs, 1),
                                       "MB_per_s": round(nbytes / secs / 1e6, 2)}
        out["speedup_16_vs_1"] = round(out["concurrency_1"]["seconds"] / out["concurrency_16"]["seconds"], 2)
    finally:
        proc.kill()
        proc.join()
    return out


def cli(root: Path, *args: str) -> float:
    exe = [sys.executable, "-m", "imagineer_build"]
    start = time.perf_counter()
    p = subprocess.run([*exe, *args], cwd=root, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(p.stderr + p.stdout)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--latency", type=float, default=0.02, help="server delay per image, like a network round trip")
    args = ap.parse_args()
    results: dict[str, object] = {"images": args.images}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results["throughput"] = [throughput(tmp, args.images, args.size, lat) for lat in (0.0, args.latency)]
        site = make_site(tmp, args.images, args.size)
        url = site.start()
        try:
            root = tmp / "proj"
            (root / "specs").mkdir(parents=True)
            (root / "imagineer.yaml").write_text("cache: cache\nout: out\n")
            (root / "specs/main.yaml").write_text(
                f"sources:\n  web:\n    scrape: {{url: '{url}/', depth: 0, allow_private: true, "
                f"per_host: 16, concurrency: 16}}\n")
            site.reset_counts()
            first = cli(root, "build", "--json")
            first_bytes, first_requests = site.bytes_sent, site.count()
            site.reset_counts()
            refresh = cli(root, "build", "--json", "--refresh", "web")
            results["first_build"] = {"seconds": round(first, 3), "requests": first_requests,
                                      "body_bytes": first_bytes}
            results["refresh_no_change"] = {
                "seconds": round(refresh, 3), "requests": site.count(), "responses_304": site.count(status=304),
                "responses_200": site.count(status=200), "body_bytes": site.bytes_sent,
                "time_vs_first_build": round(refresh / first, 3),
                "bytes_vs_first_build": round(site.bytes_sent / max(1, first_bytes), 4),
            }
        finally:
            site.stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
