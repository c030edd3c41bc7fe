"""The `generation` kind: an album of images from a CSV template, variations and a LoRA stack.

This module stays light: torch and diffusers are imported only when images are generated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...core.artifact import Artifact, ArtifactView
from ...core.kind import BuildContext, FileInput, Ref, Tolerance
from .. import MediaKind
from .config import GenerationConfig


def _model_name(config: GenerationConfig, settings: dict[str, Any]) -> str | None:
    return config.model or (settings.get("defaults") or {}).get("generations", {}).get("model")


class GenerationKind(MediaKind):
    name = "generation"
    section = "generations"
    version = "3"  # 3: album.jsonl beside the images; 2: PNG infotext with the hashes the web UIs resolve
    Config = GenerationConfig
    key_includes_name = True  # its outputs name the target (folders, origins)
    settings_in_key = ("threads",)  # CPU pixels depend on torch's thread count
    resources = {"gpu": 1}

    def shardable(self, config: GenerationConfig) -> bool:
        return True  # every image is its own memo entry, made with its own seeded generator

    def needs(self, config: GenerationConfig) -> list[tuple[str, str, str]]:
        return [(m, "ml", "generation") for m in ("torch", "diffusers", "transformers", "peft", "safetensors")]

    def refs(self, config: GenerationConfig) -> list[Ref]:
        return [Ref(lo.use, ("loras", i, "use")) for i, lo in enumerate(config.loras) if lo.use is not None]

    def files(self, config: GenerationConfig) -> list[FileInput]:
        out = []
        if config.template is not None:
            out.append(FileInput(config.template, ("template",), want="file"))
        for i, lo in enumerate(config.loras):
            if lo.path is not None:
                out.append(FileInput(lo.path, ("loras", i, "path"), want="file"))
        for name, spec in config.variations.values.items():
            if isinstance(spec, str):
                out.append(FileInput(spec, ("variations", name), want="file"))
        return out

    def settings_files(self, config: GenerationConfig, settings: dict[str, Any]) -> list[FileInput]:
        from ...models import model_file_inputs

        return model_file_inputs(_model_name(config, settings), settings)

    def key_extras(self, config: GenerationConfig, settings: dict[str, Any]) -> dict[str, Any]:
        from ...models import model_identity, resolve_model

        name = _model_name(config, settings)
        if not name:
            return {}
        return {"model": model_identity(resolve_model(name, settings), Path(settings["root"]))}

    def check(self, config: GenerationConfig, settings: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
        from ...core.files import is_regular
        from ...models import check_model
        from .expand import check_placeholders
        from .template import TemplateError, read_columns
        from .variations import VariationError, load_values

        errors: list[tuple[tuple[Any, ...], str]] = []
        name = _model_name(config, settings)
        if not name:
            errors.append(((), "a generation needs `model:` (or defaults: {generations: {model: ...}} in imagineer.yaml)"))
        else:
            problem = check_model(name, settings)
            if problem:
                errors.append((("model",) if config.model else (), problem))
        for i, lo in enumerate(config.loras):
            if (lo.use is None) == (lo.path is None):
                errors.append((("loras", i), "a LoRA needs exactly one of `use: TARGET` or `path: FILE`"))
        if config.variations.mode == "random" and config.variations.limit is None:
            errors.append((("variations",), "mode: random needs a `limit` (combinations drawn per row)"))
        root = Path(settings.get("root", "."))
        for vname, spec in config.variations.values.items():
            if isinstance(spec, str) and is_regular(root / spec):
                try:
                    load_values(vname, spec, root)
                except VariationError as e:
                    errors.append((("variations", vname), str(e)))
        columns: list[str] = []
        if config.template is not None:
            path = root / config.template
            if not is_regular(path):
                return errors  # the loader reports the missing file
            try:
                columns = read_columns(path)
            except TemplateError as e:
                return [*errors, (("template",), str(e))]
        return errors + check_placeholders(config, columns)

    def nondeterminism(self, config: GenerationConfig, settings: dict[str, Any]) -> str | None:
        from ...models import resolve_model
        from ...models.loading import device_nondeterminism

        return device_nondeterminism(resolve_model(_model_name(config, settings), settings), "sampling")

    def tolerance(self, config: GenerationConfig, settings: dict[str, Any]) -> Tolerance | None:
        return Tolerance(pixel=8)  # GPU sampling: the same picture within a few levels per channel

    def build(self, ctx: BuildContext) -> Artifact:
        from ...models import compute_threads, memo_model_identity, resolve_model
        from ...textfmt import plural
        from .album_out import build_artifact, shared_params
        from .expand import expand
        from .lora_stack import resolve_stack
        from .patch import carry_memo, kept_images, last_jsonl
        from .render import Settings, render
        from .webui import checkpoint_sha256

        cfg: GenerationConfig = ctx.config
        name = _model_name(cfg, ctx.settings)
        spec = resolve_model(name, ctx.settings)
        jobs = expand(cfg, ctx.project_root)
        s = Settings(model_name=name, model_spec=spec, model_identity={**memo_model_identity(spec, ctx.project_root, ctx.inputs),
                                                                       "threads": compute_threads(ctx.settings)},
                     width=cfg.size[0], height=cfg.size[1], steps=cfg.steps, guidance=cfg.guidance,
                     scheduler=cfg.scheduler, batch_size=cfg.batch_size, stack=resolve_stack(ctx, cfg.loras))
        kept = kept_images(ctx, jobs, s)
        rendered = render(ctx, [job for job in jobs if job.stem not in kept], s)
        if ctx.shard is not None:
            return None  # this share of the images is in the memo; the unsharded build assembles
        shared = shared_params(s, checkpoint_sha256(ctx, spec))
        if rendered.generated:
            ctx.log(f"generated {plural(rendered.generated, 'image')}, {len(jobs) - rendered.generated} made before")
        carry_memo(ctx, jobs, kept, s, shared)
        artifact = build_artifact(ctx, jobs, s, shared, rendered, kept, last_jsonl(ctx, kept))
        if kept:
            artifact.run = {"patched": {"from": ctx.previous.view.digest, "kept images": len(kept)}}
        return artifact

    def describe(self, view: ArtifactView, limit: int | None = 50) -> str:
        from ...media.album import Album
        from ...textfmt import lines_cut, num, plural

        album = Album.from_meta(view.meta)
        gen = view.meta.get("generation", {})
        lines = [f"{plural(len(album.images), 'image')}, model {gen.get('model')}, {plural(gen.get('steps', 0), 'step')}, "
                 f"{gen.get('scheduler')}, CFG {num(gen.get('guidance'))}"]
        for lo in gen.get("loras", []):
            lines.append(f"  LoRA {lo['source']} × {num(lo['weight'])}")
        lines += lines_cut([f"  {im.path}  seed {im.extra.get('seed')}  “{(im.caption or '')[:70]}”"
                            for im in album.images], limit)
        lines += lines_cut([f"  FAILED {f['path']}: {f['reason']}" for f in album.report.get("failed", [])], limit)
        return "\n".join(lines)
