"""`backend: kohya | ai-toolkit`: the same spec written as another trainer's config and run.

The dataset is laid out the way the trainer reads it (kohya `{repeats}_{name}` folders, or
one flat folder for ai-toolkit), the config is written (backend_configs.py: TOML for
sd-scripts, a job YAML for ai-toolkit), the configured command runs as a subprocess with its
output streamed into the build's progress and log, and the `.safetensors` it writes is taken
into the store.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ...core.artifact import Artifact
from ...core.kind import BuildContext
from ...models import ModelSpec, model_identity
from .backend_configs import ai_toolkit_config, kohya_configs, refusals
from .build import _tail_mean, plan_settings
from .config import BackendConfig
from .data import TrainItem, train_items

PROGRESS_RE = re.compile(r"(\d+)/(\d+)\s*\[")
LOSS_RE = re.compile(r"(?:avr_loss|loss)[=:]\s*([0-9.]+(?:e[-+]?\d+)?)", re.I)


class BackendError(Exception):
    pass


# ---- dataset layout ---------------------------------------------------------------------------

def layout_dataset(items: list[TrainItem], root: Path, kind: str, trigger: str | None) -> dict[int, Path]:
    """Copy images + .txt captions: kohya gets one `{repeats}_{name}` folder per repeat count."""
    folders: dict[int, Path] = {}
    for n, it in enumerate(items):
        if kind == "kohya":
            folder = folders.setdefault(it.repeats, root / f"{it.repeats}_{trigger or 'data'}")
        else:
            folder = folders.setdefault(1, root)
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"image_{n + 1:04d}"
        shutil.copyfile(it.path, folder / f"{stem}{_suffix(it.path)}")
        (folder / f"{stem}.txt").write_text(it.caption + "\n", encoding="utf-8")
    return folders


def _suffix(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(12)
    if head.startswith(b"\x89PNG"):
        return ".png"
    if head[:3] == b"\xff\xd8\xff":
        return ".jpg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return ".png"


def model_path(spec: ModelSpec, ctx: BuildContext) -> str:
    if spec.builtin:
        from ...models.builtin import ensure_builtin

        return str(ensure_builtin(ctx.models_dir, spec.builtin))
    local = spec.local_path(ctx.project_root)
    return str(local) if local is not None else spec.base


def _portable(base: str, ctx: BuildContext) -> str:
    """The base model as the artifact names it: a path inside the project relative to it, a
    builtin by name, anything else (an HF id, an outside file) as given."""
    path = Path(base)
    if not path.is_absolute():
        return base
    if path.is_relative_to(ctx.models_dir):
        return path.name
    try:
        return str(path.relative_to(ctx.project_root))
    except ValueError:
        return path.name


# ---- running it --------------------------------------------------------------------------------

def resolve_command(be: BackendConfig, defaults: dict[str, Any], subs: dict[str, str]) -> list[str] | None:
    cmd = be.command if be.command is not None else (defaults.get("backend_commands") or {}).get(be.kind)
    if not cmd:
        return None
    parts = shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]
    return [p.format(**subs) for p in parts]


def stream(ctx: BuildContext, cmd: list[str], cwd: Path, total: int) -> list[float]:
    """Run the trainer; its lines (tqdm's \\r updates too) become progress and log events."""
    losses: list[float] = []
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    except OSError as e:
        raise BackendError(f"cannot run {cmd[0]!r}: {e}") from e
    buf = b""
    tail: list[str] = []
    last_done = -1
    try:
        while True:
            chunk = proc.stdout.read1(65536) if hasattr(proc.stdout, "read1") else proc.stdout.read(4096)
            if ctx.cancelled.is_set():
                proc.terminate()
                raise KeyboardInterrupt("build cancelled")
            if not chunk:
                break
            buf += chunk
            *lines, buf = re.split(rb"[\r\n]", buf)
            for raw in lines:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                m = PROGRESS_RE.search(line)
                if m:
                    done = int(m.group(1))
                    lm = LOSS_RE.search(line)
                    if lm and done != last_done:
                        losses.append(float(lm.group(1)))
                    if done != last_done:
                        ctx.progress(done, int(m.group(2)) or total, line[-120:])
                        last_done = done
                else:
                    ctx.log(line)
                tail = (tail + [line])[-20:]
        code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        raise BackendError(f"{cmd[0]} exited with status {code}; last output:\n  " + "\n  ".join(tail))
    return losses


def find_output(out_dir: Path, name: str) -> Path:
    exact = sorted(out_dir.rglob(f"{name}.safetensors"))
    if exact:
        return exact[0]
    found = sorted(out_dir.rglob("*.safetensors"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise BackendError(f"the trainer finished but wrote no .safetensors under {out_dir}")
    return found[-1]


def build_external(ctx: BuildContext) -> Artifact:
    cfg = ctx.config
    be: BackendConfig = cfg.backend
    spec, view, info, ts = plan_settings(ctx)
    refused = refusals(be.kind, be.arch or ts.arch if be.kind == "ai-toolkit" else ts.arch, ts.to_dict(),
                       resolved=True)
    if refused:  # values from imagineer.yaml defaults or the dataset; the spec's own failed check()
        raise BackendError(f"{be.kind} cannot train these settings: "
                           + "; ".join(f"{field}: {why}" for field, why in refused))
    name = ctx.target
    work = ctx.workdir
    items = train_items(ctx, view, info, ts.resolution)
    dataset_dir = work / "dataset"
    folders = layout_dataset(items, dataset_dir, be.kind, info.trigger)
    base = model_path(spec, ctx)
    make = kohya_configs if be.kind == "kohya" else ai_toolkit_config
    where_data = folders if be.kind == "kohya" else dataset_dir
    config_file = "config.toml" if be.kind == "kohya" else "job.yaml"
    # The trainer runs on absolute paths; the artifact keeps paths relative to the config's
    # folder, so its bytes do not depend on where this build's scratch folder was.
    for fname, text in make(ts, be, name, base, where_data, work, str).items():
        (work / fname).write_text(text, encoding="utf-8")
    files: dict[str, str] = {}
    relative = make(ts, be, name, _portable(base, ctx), where_data, work, lambda p: str(p.relative_to(work)))
    for fname, text in relative.items():
        files[f"backend/{fname}"] = ctx.put_bytes(text.encode())
    (work / "output").mkdir(exist_ok=True)
    subs = {"config": str(work / config_file), "output_dir": str(work / "output"),
            "dataset_dir": str(dataset_dir), "name": name, "python": sys.executable, "work": str(work)}
    backend_meta = {"kind": be.kind, "config": f"backend/{config_file}", "arch": be.arch or ts.arch}
    if be.dry_run:
        for p in sorted(dataset_dir.rglob("*")):
            if p.is_file():
                files[f"backend/{p.relative_to(work).as_posix()}"] = ctx.put_file(p)
        ctx.log(f"dry run: wrote {', '.join(relative)} and the dataset under out/{name}/backend/; "
                "run the trainer from that folder")
        return Artifact(files=files, meta={"backend": {**backend_meta, "dry_run": True}},
                        facts={"dry_run": True, "steps": ts.steps})
    cmd = resolve_command(be, dict((ctx.settings.get("defaults") or {}).get("loras") or {}), subs)
    if cmd is None:
        example = ("[accelerate, launch, /path/to/sd-scripts/train_network.py, --config_file, '{config}']"
                   if be.kind == "kohya" else "[python, /path/to/ai-toolkit/run.py, '{config}']")
        raise BackendError(
            f"backend {be.kind} has no command to run. Set `backend: {{kind: {be.kind}, command: ...}}` on the "
            f"target, or in imagineer.yaml `defaults: {{loras: {{backend_commands: {{{be.kind}: {example}}}}}}}` "
            "({config} and {output_dir} are filled in). To only write the config, set backend.dry_run: true "
            f"(e.g. --set {name}:backend.dry_run=true).")
    ctx.log("running " + " ".join(shlex.quote(c) for c in cmd))
    t0 = time.perf_counter()
    losses = stream(ctx, cmd, work, ts.steps)
    seconds = time.perf_counter() - t0
    produced = find_output(work / "output", name)
    lora_file, kohya_file = f"{name}.safetensors", f"{name}.kohya.safetensors"
    digest = ctx.put_file(produced)
    files[lora_file] = digest
    files[kohya_file] = digest  # sd-scripts writes the kohya layout, which load_lora_weights also reads
    from .plot import loss_png

    final = _tail_mean(losses)
    base_ident = model_identity(spec, ctx.project_root)
    # the command as configured, placeholders unfilled: the filled one names this machine's paths
    template = resolve_command(be, dict((ctx.settings.get("defaults") or {}).get("loras") or {}),
                               {k: "{" + k + "}" for k in subs})
    record = {"target": name, "backend": {**backend_meta, "command": template}, "dataset": cfg.dataset,
              "dataset_artifact": view.digest, "model": cfg.model, "base_model": base_ident,
              "settings": ts.to_dict(), "steps": ts.steps, "final_loss": final,
              "output": produced.name, "loss_history": losses}
    files["training.json"] = ctx.put_bytes(json.dumps(record, indent=2, sort_keys=True).encode())
    files["loss.png"] = ctx.put_bytes(loss_png(losses, f"{name}: loss ({be.kind})"))
    meta = {"lora": {"file": lora_file, "kohya_file": kohya_file, "arch": ts.arch, "rank": ts.rank,
                     "alpha": ts.alpha, "base_model": base_ident, "steps": ts.steps, "final_loss": final,
                     "format": be.kind},
            "backend": backend_meta}
    return Artifact(files=files, meta=meta, facts={"steps": ts.steps, "rank": ts.rank, "backend": be.kind},
                    run={"seconds": round(seconds, 3), "command": cmd})
