"""Engine benchmark: imagineer against DVC 3 on the same N small PNGs, medians of several runs.

The project: a `dir` source over data/images (every image decoded and perceptually hashed)
and one cheap downstream target (a `fakes` test kind from tests/engine_kinds.py that reads
the album's digest). The DVC pipeline over the same files: a stage that decodes, hashes and
copies every image (in a process pool, like ours), and a downstream stage that counts them.
Each operation runs in a fresh process, as a user would run it:

  first build  · no-op build · status · one image changed · one image added

DVC lives in its own virtualenv (bench/work/venv-dvc, made on first use with `pip install
dvc`); --no-dvc skips it. The first build's probing rate is compared with single-core Pillow
decode + the same phash, measured on the same images in the same run. Also printed: each
operation's peak memory and how many lines of imagineer.lock one changed image touched.

    .venv/bin/python bench/bench_engine.py [--images 10000] [--quick] [--repeats 5] [--no-dvc]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work" / "engine"
DVC_VENV = HERE / "work" / "venv-dvc"  # bench/work/ is git-ignored
PY = Path(sys.executable)
IMAGINEER = PY.parent / "imagineer"
ENV = {**os.environ, "IMAGINEER_KINDS": "engine_kinds:FakeKind",
       "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "tests"), os.environ.get("PYTHONPATH")]))}
SIZE = 64  # pixels a side: ~12 KB of noise per PNG, 10,000 → ~120 MB

SPEC = """
sources:
  images: {dir: data/images, filter: {min_size: [32, 32]}}
fakes:
  count: {uses: [images]}
"""

PROBE_STAGE = '''
"""DVC stage: decode and phash every image (process pool), copy it, write a manifest."""
import json, os, shutil, sys
from concurrent.futures import ProcessPoolExecutor
from PIL import Image
import imagehash

def probe(path):
    with Image.open(path) as im:
        im.load()
        return path, im.size, str(imagehash.phash(im))

src, dst = sys.argv[1], sys.argv[2]
shutil.rmtree(dst, ignore_errors=True)
os.makedirs(dst)
paths = sorted(os.path.join(src, n) for n in os.listdir(src))
with ProcessPoolExecutor() as pool:
    rows = list(pool.map(probe, paths, chunksize=64))
for p, _, _ in rows:
    shutil.copyfile(p, os.path.join(dst, os.path.basename(p)))
json.dump([[os.path.basename(p), s, h] for p, s, h in rows], open(dst + ".json", "w"))
'''

COUNT_STAGE = '''
import json, sys
rows = json.load(open(sys.argv[1]))
open(sys.argv[2], "w").write(f"{len(rows)} images\\n")
'''


def make_images(folder: Path, n: int, start: int = 0) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234 + start)
    for i in range(start, start + n):
        arr = rng.integers(0, 256, (SIZE // 8, SIZE // 8, 3), dtype=np.uint8)
        im = Image.fromarray(arr).resize((SIZE, SIZE), Image.NEAREST)
        noise = rng.integers(0, 40, (SIZE, SIZE, 3), dtype=np.uint8)
        Image.fromarray(np.asarray(im) ^ noise).save(folder / f"img_{i:05d}.png", compress_level=1)


def tweak(path: Path, k: int) -> None:
    """Rewrite one image with different pixels (a user's edit)."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.copy()
    im.putpixel((k % SIZE, 0), (k % 256, 255 - k % 256, 7))
    im.save(path, compress_level=1)


PEAK_KB: dict[str, int] = {}  # largest resident set seen per operation


def timed(cmd: list[str], cwd: Path, env: dict | None = None, label: str = "") -> tuple[float, str]:
    """(seconds, stdout) of a command; its peak resident memory goes to PEAK_KB[label]."""
    import threading

    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    chunks: dict[str, str] = {}
    readers = [threading.Thread(target=lambda n, f: chunks.__setitem__(n, f.read()), args=(n, f))
               for n, f in (("out", p.stdout), ("err", p.stderr))]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(p.pid, 0)  # like wait(), plus the child's resource usage
    secs = time.perf_counter() - t
    for r in readers:
        r.join()
    p.returncode = code = os.waitstatus_to_exitcode(status)
    if label:
        PEAK_KB[label] = max(PEAK_KB.get(label, 0), usage.ru_maxrss)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{chunks['out'][-2000:]}\n{chunks['err'][-2000:]}")
    return secs, chunks["out"]


LOCK_DIFF: list[int] = []  # lines of imagineer.lock a one-image change touched


def changed_lines(before: str, after: str) -> int:
    import difflib

    return sum(1 for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---")))


def median(xs: list[float]) -> float:
    return statistics.median(xs)


# ---- imagineer ---------------------------------------------------------------------------


def imagineer_runs(root: Path, images: Path, repeats: int, first_repeats: int) -> dict[str, float]:
    build = [str(IMAGINEER), "build", "--json"]
    res: dict[str, list[float]] = {k: [] for k in ("first", "noop", "status", "change", "add")}
    probe_rates = []
    for _ in range(first_repeats):
        for d in ("cache", "out", "imagineer.lock"):
            p = root / d
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
        secs, out = timed(build, root, ENV)
        res["first"].append(secs)
        ev = next(json.loads(x) for x in out.splitlines() if '"target": "images"' in x and '"event": "target"' in x)
        probe_rates.append(ev["facts"]["images"] / ev["seconds"])
    for _ in range(repeats):
        res["noop"].append(timed(build, root, ENV, "noop")[0])
        res["status"].append(timed([str(IMAGINEER), "status"], root, ENV, "status")[0])
    victim = sorted(images.iterdir())[len(list(images.iterdir())) // 2]
    for k in range(repeats):
        lock_before = (root / "imagineer.lock").read_text()
        tweak(victim, k + 1)
        secs, out = timed(build, root, ENV, "change")
        assert '"status": "built"' in out
        res["change"].append(secs)
        LOCK_DIFF.append(changed_lines(lock_before, (root / "imagineer.lock").read_text()))
    for k in range(repeats):
        make_images(images, 1, start=900_000 + k)
        secs, out = timed(build, root, ENV, "add")
        res["add"].append(secs)
    for k in range(repeats):
        (images / f"img_{900_000 + k:05d}.png").unlink()
    out = {k: median(v) for k, v in res.items()}
    out["probe_rate"] = median(probe_rates)
    return out


# ---- DVC ---------------------------------------------------------------------------------


def ensure_dvc() -> Path | None:
    dvc = DVC_VENV / "bin" / "dvc"
    if dvc.exists():
        return dvc
    print("installing DVC into", DVC_VENV, "(once)", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(DVC_VENV)], check=True)
        subprocess.run([str(DVC_VENV / "bin" / "pip"), "install", "-q", "dvc>=3,<4"], check=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as e:
        print(f"DVC not available ({e}); skipping it", flush=True)
        return None
    return dvc if dvc.exists() else None


def dvc_runs(dvc: Path, root: Path, repeats: int, first_repeats: int) -> dict[str, float]:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{DVC_VENV / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    (root / "probe.py").write_text(PROBE_STAGE)
    (root / "count.py").write_text(COUNT_STAGE)
    (root / "dvc.yaml").write_text(
        "stages:\n"
        "  images:\n"
        f"    cmd: {PY} probe.py data/images out/images\n"
        "    deps: [data/images, probe.py]\n"
        "    outs: [out/images, out/images.json]\n"
        "  count:\n"
        f"    cmd: {PY} count.py out/images.json out/count.txt\n"
        "    deps: [out/images.json, count.py]\n"
        "    outs: [out/count.txt]\n"
    )
    if not (root / ".dvc").exists():
        timed([str(dvc), "init", "--no-scm", "-q"], root, env)
    images = root / "data" / "images"
    res: dict[str, list[float]] = {k: [] for k in ("first", "noop", "status", "change", "add")}
    for _ in range(first_repeats):
        for p in (root / ".dvc" / "cache", root / ".dvc" / "tmp", root / "out", root / "dvc.lock"):
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
        res["first"].append(timed([str(dvc), "repro", "-q"], root, env)[0])
    for _ in range(repeats):
        res["noop"].append(timed([str(dvc), "repro", "-q"], root, env)[0])
        res["status"].append(timed([str(dvc), "status"], root, env)[0])
    victim = sorted(images.iterdir())[len(list(images.iterdir())) // 2]
    for k in range(repeats):
        tweak(victim, 100 + k)
        res["change"].append(timed([str(dvc), "repro", "-q"], root, env)[0])
    for k in range(repeats):
        make_images(images, 1, start=950_000 + k)
        res["add"].append(timed([str(dvc), "repro", "-q"], root, env)[0])
    for k in range(repeats):
        (images / f"img_{950_000 + k:05d}.png").unlink()
    return {k: median(v) for k, v in res.items()}


# ---- baselines ---------------------------------------------------------------------------


def phash_rate(images: Path, n: int = 300) -> float:
    """Single-core images/s of plain Pillow decode + the same phash, warmed up first. numpy is
    imported first, as the pool workers of a first build do: without it phash takes its
    pure-Python DCT, ~3x slower, and the baseline would depend on whether this process
    happened to import numpy already (making the images does)."""
    import numpy  # noqa: F401
    from PIL import Image

    from imagineer_build.media.phash import phash

    paths = sorted(images.iterdir())[:n]
    phash(Image.open(paths[0]))
    t = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            im.load()
            phash(im)
    return len(paths) / (time.perf_counter() - t)


def python_startup() -> float:
    return median([timed([str(PY), "-c", "pass"], REPO)[0] for _ in range(5)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true", help="1,000 images, 3 repeats, 1 first build")
    ap.add_argument("--repeats", type=int, default=5, help="runs per cheap operation (median)")
    ap.add_argument("--first-repeats", type=int, default=3, help="runs of the first build")
    ap.add_argument("--dvc-repeats", type=int, default=3)
    ap.add_argument("--no-dvc", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.images, args.repeats, args.first_repeats, args.dvc_repeats = 1000, 3, 1, 2
    n = args.images
    WORK.mkdir(parents=True, exist_ok=True)
    data = WORK / f"data-{n}"
    if not data.exists() or len(list(data.iterdir())) != n:
        shutil.rmtree(data, ignore_errors=True)
        t = time.perf_counter()
        make_images(data, n)
        print(f"made {n} PNGs in {time.perf_counter() - t:.1f}s", flush=True)
    mb = sum(p.stat().st_size for p in data.iterdir()) / 1e6

    proj = WORK / "imagineer"
    shutil.rmtree(proj, ignore_errors=True)
    (proj / "specs").mkdir(parents=True)
    (proj / "imagineer.yaml").write_text("cache: cache\nout: out\n")
    (proj / "specs" / "main.yaml").write_text(SPEC)
    shutil.copytree(data, proj / "data" / "images")
    print("imagineer ...", flush=True)
    ours = imagineer_runs(proj, proj / "data" / "images", args.repeats, args.first_repeats)

    theirs = None
    dvc = None if args.no_dvc else ensure_dvc()
    if dvc:
        droot = WORK / "dvc"
        shutil.rmtree(droot, ignore_errors=True)
        (droot / "data").mkdir(parents=True)
        shutil.copytree(data, droot / "data" / "images")
        print("dvc ...", flush=True)
        theirs = dvc_runs(dvc, droot, args.dvc_repeats, 1)

    base = phash_rate(proj / "data" / "images")
    startup = python_startup()
    cores = os.cpu_count() or 1
    print()
    print(f"{n} PNGs ({mb:.0f} MB), {cores} cores; medians of {args.repeats} runs "
          f"(first build: {args.first_repeats}; DVC: {args.dvc_repeats})")
    names = {"first": "first build", "noop": "no-op build", "status": "status",
             "change": "one image changed", "add": "one image added"}
    print(f"{'operation':20} {'imagineer':>10} {'DVC':>10} {'DVC / ours':>11}")
    for k, label in names.items():
        d = f"{theirs[k]:9.2f}s" if theirs else "       n/a"
        ratio = f"{theirs[k] / ours[k]:10.1f}x" if theirs else "        n/a"
        print(f"{label:20} {ours[k]:9.2f}s {d} {ratio}")
    print(f"{'python -c pass':20} {startup:9.2f}s   (interpreter start-up, the floor for any CLI)")
    print("peak memory: " + ", ".join(f"{names[k]} {PEAK_KB[k] / 1024:.0f} MB" for k in names if k in PEAK_KB))
    if LOCK_DIFF:
        print(f"imagineer.lock lines changed by one changed image: {max(LOCK_DIFF)} "
              f"({len((proj / 'imagineer.lock').read_text().splitlines())} lines in all)")
    rate = ours["probe_rate"]
    print(f"first build, source target: {rate:.0f} images/s (store + decode + phash) on {cores} cores; "
          f"plain phash here {base:.0f} images/s/core → {rate / (base * cores):.0%} of ideal scaling")


if __name__ == "__main__":
    main()
