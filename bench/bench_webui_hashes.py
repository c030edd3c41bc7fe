"""What the web-UI hashes in a generation's PNGs cost, against the hashing a build already does.

A generation reads each LoRA's hash (media/webui_hashes.lora_hash) and, for a single-file
checkpoint, its sha256; both are memoised by the file's digest (kinds/generation/webui.py), so
this is paid once per file, not per build. The baseline is the engine's own file digest (xxh3)
of the same bytes, which a build pays for a new input file anyway.

- lora, sshs: our kohya file, whose metadata carries the hash: a header read
- lora, plain: a LoRA file without it: sha256 of its tensor bytes
- checkpoint: sha256 of the whole file

    .venv/bin/python bench/bench_webui_hashes.py [--mb 256] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=256, help="size of the LoRA / checkpoint files")
    ap.add_argument("--quick", action="store_true", help="32 MB files")
    args = ap.parse_args()
    mb = 32 if args.quick else args.mb

    import numpy as np
    from safetensors.numpy import save_file

    from imagineer_build.core.hashing import digest_file
    from imagineer_build.media.webui_hashes import file_sha256, lora_hash, sshs_metadata

    with tempfile.TemporaryDirectory() as tmp:
        rows = mb * (1 << 20) // (4 * 1024)
        tensors = {"lora_unet_x.lora_down.weight": np.random.default_rng(0).random((rows, 1024), dtype=np.float32)}
        plain = Path(tmp) / "plain.safetensors"
        save_file(tensors, str(plain))
        import torch

        t_tensors = {k: torch.from_numpy(v) for k, v in tensors.items()}
        ours = Path(tmp) / "ours.safetensors"
        save_file(tensors, str(ours), metadata=sshs_metadata(t_tensors, {"ss_network_dim": "4"}))
        base = best(lambda: digest_file(plain))
        cases = [("lora, sshs metadata", lambda: lora_hash(ours)), ("lora, plain", lambda: lora_hash(plain)),
                 ("checkpoint sha256", lambda: file_sha256(plain))]
        print(f"{mb} MB files; baseline: the engine's file digest (xxh3) {base * 1000:.1f} ms")
        print(f"{'case':22}  {'ms':>8}  {'x digest':>8}")
        for name, fn in cases:
            t = best(fn)
            print(f"{name:22}  {t * 1000:8.1f}  {t / base:8.2f}")


if __name__ == "__main__":
    main()
