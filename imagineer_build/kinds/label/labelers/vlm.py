"""The `vlm` labeler: captions from a local vision-language model (BLIP, Florence-2, JoyCaption...).

Greedy decoding by default, so a model gives the same caption every time; one memo entry per
(image, model, prompt, max_new_tokens, num_beams). The model's raw text is memoised, so an empty
answer is reported on every build instead of being asked again or kept as a blank caption.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ....core.hashing import digest_json
from ....core.kind import BuildContext, Memo
from ....media.album import AlbumImage
from ....media.labelset import Label
from ..config import LabelsConfig, VlmConfig
from .local import Item, run_items

MEMO_NS = "labels.vlm"
VERSION = "2"  # bump when the text handling below changes what a caption is (2: one image per call on a CPU)
INSTRUCTIONS = {
    "descriptive": "Describe this image in one paragraph: the main subject, its colours and shapes, the "
                   "setting, the composition and the style or medium. Say only what is visible.",
    "sd-prompt": "Write a text-to-image prompt for this image: short comma-separated phrases, the most "
                 "important first, naming the subject, style, medium, lighting and framing.",
    "tags": "List tags for this image in the style of an image board: lowercase, comma-separated, the "
            "most important first, no sentences.",
}
# Florence-2 is steered by task tokens rather than instructions.
FLORENCE_TASKS = {"descriptive": "<MORE_DETAILED_CAPTION>", "sd-prompt": "<DETAILED_CAPTION>", "tags": "<CAPTION>"}


def instruction(v: VlmConfig) -> str:
    return (v.custom_prompt or "").strip() if v.prompt == "custom" else INSTRUCTIONS[v.prompt]


def model_text(captioner, v: VlmConfig) -> str | None:
    """What this model is given: an instruction (chat models), a task token (Florence-2), or a
    caption prefix (custom prompt on BLIP / GIT), else nothing."""
    if captioner.chat:
        return instruction(v)
    if v.prompt == "custom":
        return instruction(v)
    if captioner.model_type == "florence2":
        return FLORENCE_TASKS[v.prompt]
    return None


def prompt_version(v: VlmConfig) -> str:
    return f"{v.prompt}@{digest_json([VERSION, instruction(v)])[:8]}"


def memo_key(digest: str, ident: dict[str, Any], v: VlmConfig) -> str:
    return Memo.key(digest, "vlm", VERSION, ident, v.prompt, instruction(v), v.max_new_tokens, v.num_beams)


def split_tags(text: str) -> list[str]:
    return list(dict.fromkeys(t.strip().strip(".").strip() for t in text.split(",") if t.strip().strip(".")))


def to_label(text: str, v: VlmConfig) -> Label:
    base = {"labeler": "vlm", "model": v.model, "prompt_version": prompt_version(v)}
    if not text.strip():
        return Label(**base, error=f"model {v.model} gave an empty caption")
    if v.prompt == "tags":
        tags = split_tags(text)
        return Label(caption=", ".join(tags), tags=tags, origin="vlm", **base)
    return Label(caption=text.strip(), origin="vlm", **base)


def label_vlm(ctx: BuildContext, cfg: LabelsConfig, images: list[AlbumImage]) -> dict[str, Label]:
    from ....models import memo_model_identity, resolve_model

    v = cfg.vlm
    spec = resolve_model(v.model, ctx.settings)
    ident = memo_model_identity(spec, ctx.project_root, ctx.inputs)
    view = ctx.upstream[cfg.of]
    memo = ctx.memo(MEMO_NS)
    items = [Item(im.digest, ctx.file(view, im.path), memo_key(im.digest, ident, v)) for im in images]

    def start():
        captioner = warm_captioner(ctx, spec)
        text = model_text(captioner, v)
        ctx.log(f"vlm: {v.model} ({captioner.model_type}) on {captioner.device}, {captioner.dtype}, "
                f"prompt {v.prompt}, batch {v.batch_size}")
        return (lambda ims, its: [{"text": t} for t in captioner.generate(ims, [text] * len(ims), v.max_new_tokens,
                                                                          v.num_beams)], captioner.device)

    values, failed = run_items(ctx, memo, items, v.batch_size, start, "images captioned")
    out = {d: to_label(val.get("text") or "", v) for d, val in values.items()}
    out.update({d: Label(labeler="vlm", model=v.model, error=msg) for d, msg in failed.items()})
    return out


def warm_captioner(ctx: BuildContext, spec):
    from ....models.captioner import warm
    from ....models.loading import apply_threads

    apply_threads(ctx.settings)
    return warm(spec, ctx.project_root, Path(ctx.models_dir))
