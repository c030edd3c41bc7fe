"""Test-only upstream for the lora tests: a `testdatasets` kind registered through IMAGINEER_KINDS.

It turns a project folder of images + .txt captions into an artifact shaped exactly like a
`dataset` target's (media/datasetfmt.py), so the lora kind is tested against the contract
without depending on the dataset kind. It runs in the real engine with the real store.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import sys
from pathlib import Path

from pydantic import Field

from imagineer_build.core.artifact import Artifact
from imagineer_build.core.kind import BuildContext, FileInput, Kind, KindConfig
from imagineer_build.media.datasetfmt import DatasetEntry, DatasetInfo

TESTS = Path(__file__).resolve().parent
ENV = {
    "IMAGINEER_KINDS": "lora_helpers:TestDatasetKind",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH", "")])),
}
SETTINGS = "cache: cache\nout: out\nthreads: 1\n"


class TestDatasetConfig(KindConfig):
    dir: str
    resolution: int = 64
    trigger: str | None = None
    buckets: list[list[int]] = Field(default_factory=list, description="bucket per image, cycled")
    caption_dropout: float = 0.0
    recommended: dict[str, int] = Field(default_factory=dict)


class TestDatasetKind(Kind):
    name = "testdataset"
    section = "testdatasets"
    version = "1"
    Config = TestDatasetConfig

    def files(self, config):
        return [FileInput(config.dir, ("dir",))]

    def build(self, ctx: BuildContext) -> Artifact:
        from PIL import Image

        cfg = ctx.config
        listing = ctx.inputs[cfg.dir]
        files, entries = {}, []
        images = sorted(r for r in listing.entries if r.lower().endswith((".png", ".jpg")))
        for n, rel in enumerate(images):
            digest = ctx.put_file(listing.abspath(rel), listing.entries[rel][0])
            cap_rel = posixpath.splitext(rel)[0] + ".txt"
            caption = listing.abspath(cap_rel).read_text().strip() if cap_rel in listing.entries else ""
            if cfg.trigger:
                caption = f"{cfg.trigger}, {caption}"
            try:  # an unreadable file is passed on as it is: the trainer must cope with it
                with Image.open(listing.abspath(rel)) as im:
                    w, h = im.size
            except OSError:
                w, h = 0, 0
            bucket = cfg.buckets[n % len(cfg.buckets)] if cfg.buckets else [cfg.resolution, cfg.resolution]
            files[f"img/{rel}"] = digest
            files[f"img/{posixpath.splitext(rel)[0]}.txt"] = ctx.put_bytes(caption.encode())
            entries.append(DatasetEntry(digest=digest, image=f"img/{rel}", caption=caption, width=w, height=h,
                                        bucket=list(bucket)))
        info = DatasetInfo(layout="flat", trigger=cfg.trigger, resolution=cfg.resolution, entries=entries,
                           buckets=[list(b) for b in sorted({tuple(e.bucket) for e in entries})],
                           caption_dropout=cfg.caption_dropout, recommended=dict(cfg.recommended))
        return Artifact(files=files, meta=info.to_meta(), facts={"images": len(entries)})


def make_project(root: Path, images: int = 8) -> Path:
    """A project folder with imagineer.yaml (threads: 1) and data/shapes (procedural images)."""
    sys.path.insert(0, str(TESTS.parent / "examples"))
    from make_images import make

    (root / "specs").mkdir(parents=True, exist_ok=True)
    (root / "imagineer.yaml").write_text(SETTINGS)
    make(root / "data" / "shapes", images, size=96)
    return root


def copy_project(src: Path, dst: Path) -> Path:
    """The same project (settings, specs, data) in another folder, without cache or out views."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("cache", "out", "imagineer.lock"))
    return dst


def lora_spec(name: str = "style", dataset_extra: str = "", **lora) -> str:
    """specs/main.yaml text: a testdataset `ds` from data/shapes and one lora."""
    fields = {"dataset": "ds", "model": "builtin:tiny-sd", "rank": 4, "steps": 12, "lr": 1e-3,
              "batch_size": 2, "gradient_accumulation": 1, "save_every": 1000, **lora}
    import yaml

    body = yaml.safe_dump({"loras": {name: fields}}, sort_keys=False)
    return f"testdatasets:\n  ds:\n    dir: data/shapes\n{dataset_extra}\n{body}"


def read_lora(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def fixed_batch_loss(pipe, images: list[Path], captions: list[str], size: int = 64, seed: int = 0) -> float:
    """Noise-prediction MSE on one fixed batch (fixed noise and timesteps), computed independently
    of the trainer: the number a LoRA that learnt the dataset should lower."""
    import numpy as np
    import torch
    from PIL import Image

    g = torch.Generator().manual_seed(seed)
    px = []
    for p in images:
        with Image.open(p) as im:
            arr = np.asarray(im.convert("RGB").resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)
        px.append(torch.from_numpy(arr / 127.5 - 1.0).permute(2, 0, 1))
    with torch.no_grad():
        lat = pipe.vae.encode(torch.stack(px)).latent_dist.mean * pipe.vae.config.scaling_factor
        ids = pipe.tokenizer(captions, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        hidden = pipe.text_encoder(ids)[0]
        noise = torch.randn(lat.shape, generator=g)
        t = torch.linspace(50, 950, len(images)).long()
        from diffusers import DDPMScheduler

        ns = DDPMScheduler.from_config(pipe.scheduler.config)
        pred = pipe.unet(ns.add_noise(lat, noise, t), t, hidden).sample
        return float(torch.nn.functional.mse_loss(pred, noise))


def fake_trainer(argv: list[str]) -> int:
    """A stand-in for sd-scripts / ai-toolkit: reads the config we wrote, checks the dataset it
    names, prints tqdm-style progress, and writes a kohya-layout .safetensors where the real tool would."""
    import tomllib

    import numpy as np
    import yaml
    from safetensors.numpy import save_file

    kind, rest = argv[0], argv[1:]
    if kind == "kohya":
        cfg_path = Path(rest[rest.index("--config_file") + 1])
        args = tomllib.loads(cfg_path.read_text())
        ds = tomllib.loads(Path(args["dataset_config"]).read_text())
        image_dirs = [Path(s["image_dir"]) for d in ds["datasets"] for s in d["subsets"]]
        out = Path(args["output_dir"]) / f"{args['output_name']}.safetensors"
        steps, rank, alpha = args["max_train_steps"], args["network_dim"], args["network_alpha"]
    else:
        job = yaml.safe_load(Path(rest[0]).read_text())
        proc = job["config"]["process"][0]
        image_dirs = [Path(d["folder_path"]) for d in proc["datasets"]]
        name = job["config"]["name"]
        out = Path(proc["training_folder"]) / name / f"{name}.safetensors"
        steps, rank, alpha = proc["train"]["steps"], proc["network"]["linear"], proc["network"]["linear_alpha"]
    images = [p for d in image_dirs for p in d.iterdir() if p.suffix == ".png"]
    assert images and all(p.with_suffix(".txt").is_file() for p in images), "dataset not laid out"
    print(f"fake trainer: {len(images)} images, {steps} steps", flush=True)
    for s in range(1, steps + 1):
        sys.stdout.write(f"\rsteps: {100 * s // steps}%| | {s}/{steps} [00:01<00:01, avr_loss={1.0 / s:.4f}]")
        sys.stdout.flush()
    print("\nsaving", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    mod = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    save_file({f"{mod}.lora_down.weight": np.ones((rank, 32), np.float32),
               f"{mod}.lora_up.weight": np.zeros((32, rank), np.float32),
               f"{mod}.alpha": np.array(float(alpha), np.float32)}, str(out))
    return int(os.environ.get("FAKE_TRAINER_EXIT", "0"))


if __name__ == "__main__":
    if sys.argv[1] == "fake-trainer":
        sys.exit(fake_trainer(sys.argv[2:]))


def build_in_process(root: Path, monkeypatch) -> tuple[dict, list[dict]]:
    """The real engine in this process ({target: Result}, events): torch is imported once for
    many builds, which keeps the suite quick. The CLI path has its own tests."""
    from imagineer_build.core.engine import BuildOptions, Engine
    from imagineer_build.core.project import Project
    from imagineer_build.core.registry import load_kinds

    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    load_kinds.cache_clear()
    events: list[dict] = []
    try:
        results = Engine(Project.load(root), events.append).build(BuildOptions(no_workers=True))
    finally:
        load_kinds.cache_clear()
    return results, events
