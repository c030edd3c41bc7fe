"""The `lora` kind: train a LoRA on a dataset target, built in or through an external trainer.

This module stays light: torch, diffusers and peft are imported only by the build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...core.artifact import Artifact, ArtifactView
from ...core.kind import BuildContext, FileInput, Ref, Tolerance
from ...models import check_model, model_file_inputs, model_identity, resolve_model
from .. import MediaKind
from .config import LoraConfig


class LoraKind(MediaKind):
    name = "lora"
    section = "loras"
    version = "3"  # 3: text-encoder keys with text_model, sshs hashes; 2: canonical safetensors headers
    Config = LoraConfig
    resources = {"gpu": 1}
    key_includes_name = True  # the weights file is NAME.safetensors
    settings_in_key = ("threads",)  # CPU training arithmetic depends on torch's thread count
    default_only = {"backend_commands": dict[str, str | list[str]]}  # trainer command per backend

    def resources_for(self, config: LoraConfig) -> dict[str, int]:
        if config.backend is not None and config.backend.dry_run:
            return {"cpu": 1}  # writes files only
        return self.resources

    def needs(self, config: LoraConfig) -> list[tuple[str, str, str]]:
        if config.backend is not None:
            return [("safetensors", "ml", "a LoRA target"), ("tomli_w", "ml", "an external trainer's config")]
        return [(m, "ml", "LoRA training") for m in ("torch", "diffusers", "transformers", "peft", "safetensors")]

    def refs(self, config: LoraConfig) -> list[Ref]:
        return [Ref(config.dataset, ("dataset",))]

    def settings_files(self, config: LoraConfig, settings: dict[str, Any]) -> list[FileInput]:
        return model_file_inputs(config.model, settings)

    def key_extras(self, config: LoraConfig, settings: dict[str, Any]) -> dict[str, Any]:
        try:
            spec = resolve_model(config.model, settings)
        except Exception:
            return {}
        return {"model": model_identity(spec, Path(settings["root"]))}

    def check(self, config: LoraConfig, settings: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
        problems: list[tuple[tuple[Any, ...], str]] = []
        msg = check_model(config.model, settings)
        if msg:
            problems.append((("model",), msg))
        if config.steps is not None and config.epochs is not None:
            problems.append((("steps",), "give steps or epochs, not both"))
        if config.sample_every and not config.sample_prompts:
            problems.append((("sample_every",), "sample_every needs sample_prompts"))
        if config.train_text_encoder is False and config.text_encoder_lr:
            problems.append((("text_encoder_lr",), "text_encoder_lr needs train_text_encoder: true"))
        if config.backend is not None:
            problems += self._backend_problems(config, settings)
        return problems

    def _backend_problems(self, config: LoraConfig, settings: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
        """Settings the external trainer would drop or misread (backend_configs.refusals)."""
        from .backend_configs import refusals

        be = config.backend
        try:
            model_arch = resolve_model(config.model, settings).arch
        except Exception:
            model_arch = None  # reported above
        problems: list[tuple[tuple[Any, ...], str]] = []
        if be.kind == "kohya" and be.arch is not None and be.arch != model_arch:
            problems.append((("backend", "arch"), f"sd-scripts trains the model's own arch ({model_arch}); "
                             "backend.arch chooses ai-toolkit's model family"))
        arch = (be.arch or model_arch) if be.kind == "ai-toolkit" else model_arch
        given = config.model_dump(exclude_unset=True)
        problems += [((field,), why) for field, why in refusals(be.kind, arch, given)]
        return problems

    def nondeterminism(self, config: LoraConfig, settings: dict[str, Any]) -> str | None:
        if config.backend is not None:
            return None if config.backend.dry_run else f"an external trainer ({config.backend.kind})"
        from ...models.loading import device_nondeterminism

        return device_nondeterminism(resolve_model(config.model, settings), "training")

    def tolerance(self, config: LoraConfig, settings: dict[str, Any]) -> Tolerance | None:
        if config.backend is not None and not config.backend.dry_run:
            return None  # verify would rerun someone else's trainer and learn nothing
        return Tolerance(rtol=0.05, atol=1e-3)  # GPU training: same run, small kernel drift

    def build(self, ctx: BuildContext) -> Artifact:
        if ctx.config.backend is not None:
            from .external import build_external

            return build_external(ctx)
        from .build import build_builtin

        return build_builtin(ctx)

    def preview(self, ctx: BuildContext) -> Artifact | None:
        """--dry-run with an external backend writes its config and dataset layout."""
        if ctx.config.backend is None:
            return None
        import dataclasses

        from .external import build_external

        be = ctx.config.backend.model_copy(update={"dry_run": True})
        return build_external(dataclasses.replace(ctx, config=ctx.config.model_copy(update={"backend": be})))

    def describe(self, view: ArtifactView, limit: int | None = 50) -> str:
        from ...textfmt import lines_cut, num, pairs

        lora = view.meta.get("lora")
        if not lora:
            return (f"backend dry run: {pairs(view.meta.get('backend'))}\nfiles:\n"
                    + "\n".join(lines_cut([f"  {f}" for f in sorted(view.files)], limit)))
        lines = [f"{lora.get('file')}  ({lora.get('arch')}, rank {lora.get('rank')}, alpha {num(lora.get('alpha'))})",
                 f"kohya copy: {lora.get('kohya_file')}",
                 f"steps {lora.get('steps')}, final loss {num(lora.get('final_loss'))} (mean of the last 10 steps)",
                 f"base model: {pairs(lora.get('base_model'))}"]
        lines += lines_cut([f"  sample step {s['step']} seed {s['seed']}: {s['file']}  “{s['prompt'][:60]}”"
                            for s in lora.get("samples", [])], limit)
        if "backend" in view.meta:
            lines.append(f"backend: {pairs(view.meta['backend'])}")
        return "\n".join(lines)
