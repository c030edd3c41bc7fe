"""`review:` — a second opinion on every caption: the reviewer sees the image and its caption and
answers ok, or fix with a proposed caption and a reason.

Proposals only go into the artifact (`meta.review`); `imagineer labels review TARGET` puts them
in the project's review file, and only the ones a person approves become overrides. One memo
entry per (image, caption, reviewer, rubric, style): a rebuild asks only about images whose
image or caption changed. Captions a person wrote (overrides) are not reviewed.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ...core.hashing import digest_json
from ...core.kind import BuildContext, Memo
from ...media.album import AlbumImage
from ...media.labelset import Label
from .config import LabelsConfig, ReviewConfig
from .labelers.local import Item

MEMO_NS = "labels.review"
VERSION = "2"  # 2: one image per call on a CPU
TOOL = "record_caption_review"
STYLES = {"terse": "a short single-line caption of comma-separated phrases, most important first",
          "descriptive": "one or two plain sentences describing what is visible"}


def instructions(r: ReviewConfig) -> str:
    rubric = (r.rubric or "A good caption says what is visible (subject, colours, shapes, setting, "
              "style) and nothing that is not; it names no one it cannot see named.").strip()
    return ("You review captions of a training dataset for an image model. Look at the image and its "
            f"current caption and judge it against this rubric: {rubric}\nIf the caption is accurate and "
            "follows the rubric, answer ok. Otherwise answer fix, with a better caption written as "
            f"{STYLES[r.style]}, and the reason in a few words.")


def reviewer_name(cfg: LabelsConfig) -> str:
    return f"claude ({cfg.model})" if cfg.review.by == "claude" else cfg.review.by


def review_labels(ctx: BuildContext, cfg: LabelsConfig, labels: dict[str, Label],
                  images: list[AlbumImage]) -> dict[str, Any]:
    """meta.review: the reviewer, and per image {caption, verdict ok|fix, proposal, reason} or an error."""
    r = cfg.review
    text = instructions(r)
    if r.by == "claude":
        ident: Any = {"claude": cfg.model, "max_side": cfg.max_side}
    else:
        from ...models import memo_model_identity, resolve_model

        ident = memo_model_identity(resolve_model(r.by, ctx.settings), ctx.project_root, ctx.inputs)
    memo = ctx.memo(MEMO_NS)
    view = ctx.upstream[cfg.of]
    items = []
    for im in images:
        lab = labels.get(im.digest)
        if lab is None or not lab.caption or lab.error or lab.labeler == "manual":
            continue  # nothing to review, or a person wrote it
        key = Memo.key(im.digest, lab.caption, "review", VERSION, ident, text, r.max_new_tokens)
        items.append(Item(im.digest, ctx.file(view, im.path), key, lab.caption))
    if r.by == "claude":
        values, failed = _by_claude(ctx, cfg, text, memo, items)
    else:
        values, failed = _by_vlm(ctx, cfg, text, memo, items)
    results: dict[str, dict[str, Any]] = {}
    for it in items:
        if it.digest in values:
            results[it.digest] = {"caption": it.text, **values[it.digest]}
        else:
            results[it.digest] = {"caption": it.text, "error": failed.get(it.digest, "no answer")}
    return {"by": reviewer_name(cfg), "style": r.style, "file": r.file,
            "instructions": digest_json([VERSION, text])[:12],
            "results": dict(sorted(results.items()))}


def summary(review: dict[str, Any]) -> dict[str, int]:
    res = review["results"].values()
    return {"reviewed": sum(1 for x in res if "verdict" in x), "ok": sum(1 for x in res if x.get("verdict") == "ok"),
            "fix": sum(1 for x in res if x.get("verdict") == "fix"), "failed": sum(1 for x in res if "error" in x)}


def verdict(answer: str, proposal: str | None, reason: str | None, caption: str) -> dict[str, Any]:
    """The memoised value; a fix that proposes the same caption is an ok."""
    proposal = " ".join((proposal or "").split())
    if answer == "fix" and proposal and proposal != caption:
        return {"verdict": "fix", "proposal": proposal, "reason": " ".join((reason or "").split()) or None}
    return {"verdict": "ok", "proposal": None, "reason": None}


# ---- a vision-language model -------------------------------------------------------------

def vlm_prompt(text: str, caption: str) -> str:
    return (f"{text}\n\nCurrent caption: {caption}\n\nIf it is good, answer only: OK. "
            "Otherwise answer only with the better caption.")


def parse_vlm(answer: str, caption: str) -> dict[str, Any]:
    said = " ".join(answer.split())
    if not said:
        raise ValueError("the reviewer gave an empty answer")
    if said.strip(" .!").lower() == "ok" or said == caption:
        return verdict("ok", None, None, caption)
    return verdict("fix", said, "rewritten by the reviewer model", caption)


def _by_vlm(ctx: BuildContext, cfg: LabelsConfig, text: str, memo: Memo, items):
    from ...models import resolve_model
    from .labelers.local import run_items
    from .labelers.vlm import warm_captioner

    r = cfg.review
    spec = resolve_model(r.by, ctx.settings)

    def start():
        captioner = warm_captioner(ctx, spec)
        if not captioner.chat:
            raise ValueError(f"review by {r.by}: a {captioner.model_type} model takes no instructions; review "
                             "with an instruction-following model (LLaVA family, e.g. JoyCaption) or claude")

        def compute(ims, its):
            answers = captioner.generate(ims, [vlm_prompt(text, it.text) for it in its], r.max_new_tokens)
            out = []
            for a, it in zip(answers, its, strict=True):
                try:
                    out.append(parse_vlm(a, it.text))
                except ValueError as e:
                    out.append({"error": str(e)})
            return out

        return compute, captioner.device

    values, failed = run_items(ctx, memo, items, r.batch_size, start, "captions reviewed")
    for d in [d for d, v in values.items() if "error" in v]:  # an empty answer: reported each build
        failed[d] = values.pop(d)["error"]
    return values, failed


# ---- Claude ------------------------------------------------------------------------------

def review_tool() -> dict[str, Any]:
    return {
        "name": TOOL,
        "description": "Record the review of the image's caption.",
        "input_schema": {"type": "object", "additionalProperties": False, "required": ["verdict"],
                         "properties": {
                             "verdict": {"type": "string", "enum": ["ok", "fix"]},
                             "caption": {"type": "string", "description": "fix: the proposed caption"},
                             "reason": {"type": "string", "description": "fix: why, in a few words"}}},
    }


def parse_claude(msg: dict[str, Any], caption: str) -> dict[str, Any]:
    from .answer import AnswerError

    calls = [b for b in msg.get("content") or [] if b.get("type") == "tool_use" and b.get("name") == TOOL]
    if not calls:
        raise AnswerError(f"the answer has no {TOOL} call (stop_reason {msg.get('stop_reason')})")
    data = calls[0].get("input")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    if not isinstance(data, dict) or data.get("verdict") not in ("ok", "fix"):
        raise AnswerError(f"the {TOOL} arguments need verdict ok or fix")
    if data["verdict"] == "fix" and not (isinstance(data.get("caption"), str) and data["caption"].strip()):
        raise AnswerError("a fix without a proposed caption")
    return verdict(data["verdict"], data.get("caption"), data.get("reason") if isinstance(data.get("reason"), str)
                   else None, caption)


def _by_claude(ctx: BuildContext, cfg: LabelsConfig, text: str, memo: Memo, items):
    from .claude_api import LabelsError, describe_error, make_client
    from .images import image_block

    found = {} if ctx.refresh else memo.get_many(it.key for it in items)
    values = {it.digest: found[it.key][0] for it in items if it.key in found}
    todo = [it for it in items if it.key not in found]
    failed: dict[str, str] = {}
    ctx.progress(len(values), len(items), "captions reviewed")
    if not todo:
        return values, failed
    client = make_client(cfg)

    def ask(it):
        block = image_block(it.path, cfg.max_side)
        msg = client.messages.create(
            model=cfg.model, max_tokens=cfg.max_tokens, system=text, tools=[review_tool()],
            tool_choice={"type": "tool", "name": TOOL},
            messages=[{"role": "user", "content": [block, {"type": "text", "text": f"Current caption: {it.text}"}]}])
        return parse_claude(msg.model_dump(), it.text)

    fatal = None
    try:
        with ThreadPoolExecutor(max_workers=cfg.concurrency, thread_name_prefix="review") as pool:
            futures = {it.digest: (it, pool.submit(ask, it)) for it in todo}
            for it, fut in futures.values():
                try:
                    value = fut.result()
                except Exception as e:  # one image's failure is that image's, unless the key is bad
                    msg, stop = describe_error(e)
                    fatal = fatal or (msg if stop else None)
                    failed[it.digest] = msg
                else:
                    memo.put(it.key, value)
                    values[it.digest] = value
                ctx.progress(len(values) + len(failed), len(items), "captions reviewed")
                if ctx.cancelled.is_set():
                    pool.shutdown(wait=False, cancel_futures=True)
                    break
    finally:
        client.close()
    ctx.check_cancelled()
    if fatal:
        raise LabelsError(f"review by claude stopped: {fatal}")
    return values, failed


def default_file(target: str) -> str:
    return str(Path("reviews") / f"{target}.yaml")
