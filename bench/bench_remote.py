"""Push and pull through the remote cache against DVC and raw s3fs, on one moto S3 server.

    .venv/bin/python bench/bench_remote.py [--small 10000] [--large 3] [--quick] [--no-dvc]

Data: N small blobs (~12 KB, random bytes) and M large ones (50 MB). Ours: the store's push
(find what the remote lacks, upload, then the record) and a pull into an empty store (download,
hash, adopt). DVC: `dvc push` / `dvc pull` of the same files (dvc-s3, its own virtualenv in
bench/work/). Raw s3fs `put`/`get` of the same folder is the ceiling. Every number comes from
one run against one server, so only the ratios mean anything.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "remote"
DVC_VENV = HERE / "work" / "venv-dvc-s3"
sys.path.insert(0, str(HERE.parent))


def make_files(folder: Path, count: int, size: int, seed: int) -> list[Path]:
    import random

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        p = folder / f"f{i:06d}.bin"
        if not p.exists():
            p.write_bytes(rng.randbytes(size))
        out.append(p)
    return out


def ours(files: list[Path], url: str, endpoint: str, tag: str) -> dict[str, float]:
    from imagineer_build.core.artifact import Artifact
    from imagineer_build.core.store import ActionRecord, LocalStore
    from imagineer_build.core.store.remote import FsspecRemote
    from imagineer_build.core.store.tiered import TieredStore, push_records

    a_root, b_root = WORK / f"store-a-{tag}", WORK / f"store-b-{tag}"
    shutil.rmtree(a_root, ignore_errors=True)
    a = LocalStore(a_root)
    digests = {p.name: a.put_file(p) for p in files}
    art = a.store_artifact(Artifact(files=digests))
    rec = ActionRecord("0" * 31 + "1", "bench", "bench", art, 0.0, 0.0, {}, {})
    a.commit(rec)
    remote = FsspecRemote(url, 16, {"endpoint_url": endpoint})
    t0 = time.perf_counter()
    push_records(a, [rec], remote=remote)
    push = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = push_records(a, [rec], remote=remote)
    noop = time.perf_counter() - t0
    assert res["blobs"] == 0
    shutil.rmtree(b_root, ignore_errors=True)
    b = TieredStore(b_root, FsspecRemote(url, 16, {"endpoint_url": endpoint}))
    t0 = time.perf_counter()
    got = b.get_action(rec.key)
    b.fetch(set(digests.values()))
    pull = time.perf_counter() - t0
    assert got is not None and b.cas.find_missing(digests.values()) == set()
    return {"push": push, "noop_push": noop, "pull": pull}


def raw_s3fs(folder: Path, url: str, endpoint: str) -> dict[str, float]:
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=endpoint)
    dest = url.removeprefix("s3://")
    t0 = time.perf_counter()
    fs.put(str(folder), dest, recursive=True)
    put = time.perf_counter() - t0
    back = WORK / "raw-back"
    shutil.rmtree(back, ignore_errors=True)
    t0 = time.perf_counter()
    fs.get(dest, str(back), recursive=True)
    get = time.perf_counter() - t0
    return {"push": put, "pull": get}


def ensure_dvc() -> Path | None:
    dvc = DVC_VENV / "bin" / "dvc"
    if dvc.exists():
        return dvc
    print("installing DVC with S3 into", DVC_VENV, "(once)", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(DVC_VENV)], check=True)
        subprocess.run([str(DVC_VENV / "bin" / "pip"), "install", "-q", "dvc[s3]>=3,<4"], check=True, timeout=1200)
    except (subprocess.SubprocessError, OSError) as e:
        print(f"DVC not available ({e}); skipping it", flush=True)
        return None
    return dvc if dvc.exists() else None


def dvc(files_dir: Path, url: str, endpoint: str, tag: str, dvc_bin: Path) -> dict[str, float]:
    repo = WORK / f"dvc-{tag}"
    shutil.rmtree(repo, ignore_errors=True)
    (repo / "data").mkdir(parents=True)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    for p in files_dir.iterdir():
        os.link(p, repo / "data" / p.name)

    def run(*args: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([str(dvc_bin), *args], cwd=repo, env=env, check=True, capture_output=True)
        return time.perf_counter() - t0

    run("init", "--no-scm", "-q")
    run("remote", "add", "-d", "s3", url)
    run("remote", "modify", "s3", "endpointurl", endpoint)
    run("remote", "modify", "s3", "jobs", "16")
    run("add", "data")
    push = run("push")
    noop = run("push")
    shutil.rmtree(repo / ".dvc" / "cache")
    shutil.rmtree(repo / "data")
    pull = run("pull")
    return {"push": push, "noop_push": noop, "pull": pull}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--large", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1,000 small and one large blob")
    ap.add_argument("--no-dvc", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.small, args.large = 1000, 1
    import boto3
    from moto.server import ThreadedMotoServer

    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
    dvc_bin = None if args.no_dvc else ensure_dvc()
    sets = {"small": (WORK / "small", args.small, 12_000), "large": (WORK / "large", args.large, 50 << 20)}
    rows = []
    try:
        for tag, (folder, count, size) in sets.items():
            files = make_files(folder, count, size, seed=len(tag))
            mb = count * size / 1e6
            print(f"\n{tag}: {count} blobs, {mb:.0f} MB", flush=True)
            res = {"ours": ours(files, f"s3://bench/ours-{tag}", endpoint, tag),
                   "s3fs": raw_s3fs(folder, f"s3://bench/raw-{tag}", endpoint)}
            if dvc_bin:
                res["dvc"] = dvc(folder, f"s3://bench/dvc-{tag}", endpoint, tag, dvc_bin)
            for who, r in res.items():
                print(f"  {who:5} " + "  ".join(f"{k} {v:7.2f} s" for k, v in r.items()), flush=True)
            o = res["ours"]
            if "dvc" in res:
                rows.append(f"{tag}: ours vs dvc  push {res['dvc']['push'] / o['push']:.1f}x faster, "
                            f"pull {res['dvc']['pull'] / o['pull']:.1f}x faster, no-op push {o['noop_push']:.2f} s "
                            f"(dvc {res['dvc']['noop_push']:.2f} s)")
            rows.append(f"{tag}: ours vs raw s3fs  push {res['s3fs']['push'] / o['push']:.0%} of its speed, "
                        f"pull {res['s3fs']['pull'] / o['pull']:.0%} ({mb / o['push']:.0f} MB/s up, "
                        f"{mb / o['pull']:.0f} MB/s down)")
    finally:
        server.stop()
    print("\n" + "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
