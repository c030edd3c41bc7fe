"""The review web app (`imagineer serve`) on a 10,000-image album.

The album is written straight into a store through the store API (a scores-shaped artifact:
variations, a CSV column, seeds, verdicts), so no model runs: the first 300 images are 512 px
PNGs (what generations look like; the first three grid pages), the other 9,700 small JPEGs.
The real `imagineer serve` serves it; measured in the same run:

- first grid page, time to interactive, in Chromium: cold (fresh server: the catalog of 10,000
  images is built and the page's thumbnails are made) and warm (reloaded);
- server time per page of 100 with warm thumbnails: the page's HTML plus its 100 thumbnails,
  fetched one after another over one keep-alive connection (a browser fetches several at once,
  so this is the server's whole work, an upper bound on the wait); goal ≤ 200 ms;
- thumbnail generation on first view: thumbnails per second, one connection and four.

Ratios: warm page against the 200 ms goal, a memoised thumbnail against making it, and a
thumbnail's bytes against the image's.

    .venv/bin/python bench/bench_app.py [--images 10000] [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SPEC = "sources:\n  big: {dir: data/big}\n"
PNG_IMAGES = 300
HAIR, CUT, STYLE = ["red", "blue", "green", "black", "white"], ["mohawk", "bob", "long", "short"], \
    ["ink", "oil", "flat", "photo", "neon"]


def synth(root: Path, n: int) -> str:
    """Write n images and a scores-shaped album into the project's store; the artifact digest."""
    import numpy as np
    from PIL import Image

    from imagineer_build.api import open_project, open_store
    from imagineer_build.core.artifact import Artifact
    from imagineer_build.core.store import ActionRecord

    proj = open_project(root)
    store = open_store(proj)
    rng = np.random.default_rng(1)
    big = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    small = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    files, images, scores = {}, [], {}
    for i in range(n):
        buf = io.BytesIO()
        base = big if i < PNG_IMAGES else small
        arr = base.copy()
        arr[:8, :64] = np.frombuffer(i.to_bytes(4, "big") * 384, dtype=np.uint8).reshape(8, 64, 3)  # unique bytes
        if i < PNG_IMAGES:
            Image.fromarray(arr).save(buf, "PNG", compress_level=1)
        else:
            Image.fromarray(arr).save(buf, "JPEG", quality=85)
        digest = store.put_bytes(buf.getvalue())
        ext = "png" if i < PNG_IMAGES else "jpg"
        path = f"images/{i:05d}.{ext}"
        files[path] = digest
        v = {"Hair": HAIR[i % 5], "Cut": CUT[(i // 5) % 4], "Style": STYLE[(i // 20) % 5]}
        side = 512 if i < PNG_IMAGES else 256
        images.append({"digest": digest, "path": path, "width": side, "height": side, "format": ext,
                       "origin": "generation:big", "phash": "", "caption": f"portrait {i}", "captions": [],
                       "extra": {"variations": v, "row": {"who": f"person {i % 40}"}, "row_index": i % 40,
                                 "seed": 1000 + i, "prompt": f"portrait {i}, {v['Hair']} hair", "copy": 0}})
        matched = (i * 7) % 4
        scores[digest] = {"adherence": round(15 + (i * 13) % 20, 2), "chunks": 1, "matched": matched, "checked": 3,
                          "score": round(((i * 37) % 100) / 100, 3), "flag": None,
                          "verdict": "success" if matched == 3 else "partial" if matched == 2 else "failed",
                          "checks": {k: {"intended": v[k], "chosen": v[k] if matched > j else "x", "p": 0.5,
                                         "match": matched > j} for j, k in enumerate(v)}}
    meta = {"album": {"version": 1, "images": images}, "report": {},
            "scores": {"images": scores, "summary": {}, "checked": []}}
    digest = store.store_artifact(Artifact(files=files, meta=meta, facts={"images": n}))
    store.commit(ActionRecord(key="bench" + "0" * 27, target="big", kind="source", artifact=digest, created=0.0,
                              seconds=0.0, facts={"images": n}, key_inputs={}))
    store.stat.flush()
    return digest


class Client:
    """One keep-alive connection; get() → (seconds, body)."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def get(self, path: str) -> tuple[float, bytes]:
        t = time.perf_counter()
        self.conn.request("GET", path)
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise SystemExit(f"GET {path}: {r.status} {body[:300]!r}")
        return time.perf_counter() - t, body


def thumbs_of(html: bytes) -> list[str]:
    return [m.decode() for m in re.findall(rb'src="(/thumb/[0-9a-f]{32}/\d+)"', html)]


def page_time(c: Client, path: str) -> tuple[float, float, list[str]]:
    """(HTML seconds, thumbnails seconds, thumbnail paths) of one grid page."""
    t_html, html = c.get(path)
    paths = thumbs_of(html)
    t0 = time.perf_counter()
    for p in paths:
        c.get(p)
    return t_html, time.perf_counter() - t0, paths


def parallel(port: int, paths: list[str], workers: int) -> float:
    chunks = [paths[i::workers] for i in range(workers)]

    def work(part: list[str]) -> None:
        c = Client(port)
        for p in part:
            c.get(p)

    t = time.perf_counter()
    threads = [threading.Thread(target=work, args=(ch,)) for ch in chunks]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t


def browser_tti(url: str) -> list[tuple[float, float]] | None:
    """[(interactive ms, thumbnails-in-view ms)] for a cold load and a warm reload, in Chromium."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    try:
        from app_helpers import CHROMIUM_FLAGS, chromium_path
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    exe = chromium_path()
    if exe is None:
        return None
    out = []
    probe = ("() => { const n = performance.getEntriesByType('navigation')[0];"
             " const vis = Array.from(document.images).filter(i => i.getBoundingClientRect().top < innerHeight);"
             " return [n.domInteractive, vis.length > 0 && vis.every(i => i.complete && i.naturalWidth > 0)]; }")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_FLAGS)
        pg = b.new_context(viewport={"width": 1280, "height": 900}).new_page()
        for attempt in range(2):
            t0 = time.perf_counter()
            if attempt == 0:
                pg.goto(url, wait_until="domcontentloaded")
            else:
                pg.reload(wait_until="domcontentloaded")
            while True:
                interactive, visible = pg.evaluate(probe)
                if visible:
                    break
                time.sleep(0.01)
            out.append((interactive, (time.perf_counter() - t0) * 1000))
        b.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true", help="2,000 images")
    args = ap.parse_args()
    n = 2000 if args.quick else args.images
    exe = shutil.which("imagineer", path=str(Path(sys.executable).parent)) or "imagineer"
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        root = Path(tmp) / "proj"
        (root / "specs").mkdir(parents=True)
        (root / "data" / "big").mkdir(parents=True)
        (root / "imagineer.yaml").write_text("cache: cache\nout: out\n")
        (root / "specs" / "main.yaml").write_text(SPEC)
        t = time.perf_counter()
        synth(root, n)
        print(f"album: {n} images ({min(n, PNG_IMAGES)} PNG 512 px, the rest JPEG 256 px), "
              f"written in {time.perf_counter() - t:.1f} s (not timed below)")

        srv = subprocess.Popen([exe, "serve", "--port", "0"], cwd=root, stdout=subprocess.PIPE, text=True)
        try:
            url = srv.stdout.readline().split(": ", 1)[1].strip()
            port = int(url.rstrip("/").rsplit(":", 1)[1])
            rows: list[tuple[str, str]] = []

            tti = browser_tti(url + "t/big")
            if tti:
                (cold_i, cold_v), (warm_i, warm_v) = tti
                rows.append(("first grid page, cold: interactive / thumbnails in view", f"{cold_i:.0f} ms / {cold_v:.0f} ms"))
                rows.append(("first grid page, warm: interactive / thumbnails in view", f"{warm_i:.0f} ms / {warm_v:.0f} ms"))
            else:
                rows.append(("first grid page in Chromium", "skipped (no Chromium / Playwright)"))

            c = Client(port)
            # thumbnails made on first view: pages 2 and 3 (PNG 512 px), one connection, then four
            _, html2 = c.get("/t/big?page=2")
            _, html3 = c.get("/t/big?page=3")
            p2, p3 = thumbs_of(html2), thumbs_of(html3)
            t0 = time.perf_counter()
            for p in p2:
                c.get(p)
            cold_one = time.perf_counter() - t0
            cold_four = parallel(port, p3, 4)
            rows.append(("thumbnails made on first view, 1 connection", f"{len(p2) / cold_one:.0f} /s"))
            rows.append(("thumbnails made on first view, 4 connections", f"{len(p3) / cold_four:.0f} /s"))

            # warm pages: thumbnails already made once; pages spread over the album
            pages = [2, 3, max(2, n // 200), max(2, n // 100 - 1)]
            for pgno in pages:  # make sure their thumbnails exist
                page_time(c, f"/t/big?page={pgno}")
            totals, htmls, thumbs = [], [], []
            for _ in range(3):
                for pgno in pages:
                    h, th, _ = page_time(c, f"/t/big?page={pgno}")
                    htmls.append(h)
                    thumbs.append(th)
                    totals.append(h + th)
            warm = statistics.median(totals)
            rows.append(("server time per page of 100, warm thumbnails (median)",
                         f"{warm * 1000:.0f} ms (HTML {statistics.median(htmls) * 1000:.0f} ms + 100 thumbnails "
                         f"{statistics.median(thumbs) * 1000:.0f} ms)"))
            h, _ = c.get("/t/big?v.Hair=red&verdict=failed&sort=score&desc=1")
            h2, _ = c.get("/t/big?v.Hair=red&verdict=failed&sort=score&desc=1&page=2")
            rows.append(("filtered + sorted page: new query / next page", f"{h * 1000:.0f} ms / {h2 * 1000:.0f} ms"))

            # bytes: a thumbnail against its image
            _, tb = c.get(p2[0])
            t_thumb = statistics.median(thumbs) / 100  # a memoised thumbnail, within the warm pages
            digest = p2[0].split("/")[2]
            m = re.search(rb'href="(/t/big/i/' + digest.encode() + rb')', html2)
            _, page_html = c.get(m.group(1).decode())
            full = re.search(rb'src="(/t/big/file/[^"]+)"', page_html).group(1).decode()
            _, fb = c.get(full)
            made = cold_one / len(p2)
            print()
            width = max(len(k) for k, _ in rows)
            for k, v in rows:
                print(f"{k:<{width}}  {v}")
            print()
            print(f"ratio: warm page of 100 / 200 ms goal      {warm / 0.2:.2f}  ({'within' if warm <= 0.2 else 'over'} the goal)")
            print(f"ratio: memoised thumbnail / making it      {t_thumb / made:.3f}  ({made / t_thumb:.0f}x faster)")
            print(f"ratio: thumbnail bytes / image bytes       {len(tb) / len(fb):.3f}  ({len(tb)} / {len(fb)} bytes)")
        finally:
            srv.terminate()
            srv.wait(10)
    print(f"(machine: {os.cpu_count()} cores; the server and the client share them)")


if __name__ == "__main__":
    main()
