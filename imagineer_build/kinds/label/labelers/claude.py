"""The `claude` labeler: vision input, a forced tool call for structured output, one memo entry per image.

Requests run on a thread pool bounded by `concurrency`; the SDK retries 429/5xx itself. Every
answer is written to the memo as it arrives, so a killed run resumes where it stopped. An
unusable answer fails that image only; a rejected key or unknown model stops the target.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ....core.kind import BuildContext, Memo
from ....media.album import AlbumImage
from ....media.labelset import Label
from ..answer import AnswerError, parse_answer, to_label
from ..config import LabelsConfig
from ..images import image_block
from ..prompts import SCHEMA_VERSION, TOOL_NAME, instructions, prompt_version, tool

MEMO_NS = "labels.claude"
KEY_ENV = "ANTHROPIC_API_KEY"


class LabelsError(RuntimeError):
    """A problem that stops the whole target (missing key, rejected key, unknown model)."""


@dataclass
class Job:
    digest: str
    path: Path  # the image bytes (a store blob)
    memo_key: str


@dataclass
class Plan:
    """What every request of this target shares."""

    cfg: LabelsConfig
    preset: str
    system: str
    version: str

    def params(self, image: dict[str, Any]) -> dict[str, Any]:
        return {
            "model": self.cfg.model,
            "max_tokens": self.cfg.max_tokens,
            "system": self.system,
            "tools": [tool(self.preset)],
            "tool_choice": {"type": "tool", "name": TOOL_NAME},
            "messages": [{"role": "user", "content": [image, {"type": "text", "text": "Label this image."}]}],
        }


def make_plan(cfg: LabelsConfig) -> Plan:
    preset = cfg.prompt or "default"
    system = instructions(preset, cfg.custom_prompt, cfg.context)
    return Plan(cfg, preset, system, prompt_version(preset, cfg.custom_prompt, system))


def memo_key(plan: Plan, digest: str) -> str:
    c = plan.cfg
    return Memo.key(digest, "claude", c.model, plan.system, plan.preset, SCHEMA_VERSION, c.max_side)


def make_client(cfg: LabelsConfig):
    """An SDK client with the key and base URL given explicitly (no profiles, no surprises)."""
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise LabelsError(f"labeler claude needs an API key: set {KEY_ENV} in the environment "
                          "(it is read at build time and never stored)")
    import anthropic

    base_url = cfg.base_url or os.environ.get("ANTHROPIC_BASE_URL") or None
    return anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=cfg.max_retries,
                               timeout=cfg.timeout)


def describe_error(e: Exception) -> tuple[str, bool]:
    """(message for the report, whether it stops the target)."""
    import anthropic

    if isinstance(e, AnswerError):
        return str(e), False
    if isinstance(e, (anthropic.AuthenticationError, anthropic.PermissionDeniedError)):
        return f"the API rejected the key ({e.status_code}): {_api_message(e)}", True
    if isinstance(e, anthropic.NotFoundError):
        return f"not found ({e.status_code}; is the model id right?): {_api_message(e)}", True
    if isinstance(e, anthropic.APITimeoutError):
        return "the request timed out (after the SDK's retries)", False
    if isinstance(e, anthropic.APIConnectionError):
        return f"could not reach the API: {e.__cause__ or e}"[:300], False
    if isinstance(e, anthropic.APIStatusError):
        return f"API error {e.status_code}: {_api_message(e)}", False
    return f"{type(e).__name__}: {e}"[:300], False


def _api_message(e) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
    return str(getattr(e, "message", e))[:300]


def label_one(client, plan: Plan, job: Job) -> Label:
    try:
        block = image_block(job.path, plan.cfg.max_side)
    except Exception as e:  # an unreadable image fails alone
        raise AnswerError(f"could not prepare the image: {e}") from None
    msg = client.messages.create(**plan.params(block))
    return to_label(parse_answer(msg.model_dump(), plan.preset), plan.cfg.model, plan.version)


def label_claude(ctx: BuildContext, cfg: LabelsConfig, images: list[AlbumImage]) -> dict[str, Label]:
    plan = make_plan(cfg)
    view = ctx.upstream[cfg.of]
    memo = ctx.memo(MEMO_NS)
    jobs = [Job(im.digest, ctx.file(view, im.path), memo_key(plan, im.digest)) for im in images]
    found = {} if ctx.refresh else memo.get_many(j.memo_key for j in jobs)
    out: dict[str, Label] = {j.digest: Label(**found[j.memo_key][0]) for j in jobs if j.memo_key in found}
    todo = [j for j in jobs if j.memo_key not in found]
    ctx.log(f"claude: {len(out)} labels from the memo, {len(todo)} to ask for ({cfg.model}, {plan.version})")
    ctx.progress(len(out), len(jobs), "images labelled")
    if not todo:
        return out
    client = make_client(cfg)
    try:
        if cfg.batch:
            from ..batch import run_batches

            got = run_batches(ctx, client, plan, todo, memo, len(out), len(jobs))
        else:
            got = run_concurrent(ctx, client, plan, todo, memo, len(out), len(jobs))
    finally:
        client.close()
    out.update(got)
    return out


def run_concurrent(ctx: BuildContext, client, plan: Plan, todo: list[Job], memo: Memo,
                   done: int, total: int) -> dict[str, Label]:
    out: dict[str, Label] = {}
    fatal: str | None = None
    pool = ThreadPoolExecutor(max_workers=plan.cfg.concurrency, thread_name_prefix="claude")
    try:
        queue = list(reversed(todo))
        running: dict[Future, Job] = {}
        while queue or running:
            while queue and len(running) < plan.cfg.concurrency * 2 and fatal is None and not ctx.cancelled.is_set():
                job = queue.pop()
                running[pool.submit(label_one, client, plan, job)] = job
            if not running:
                break
            finished, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                job = running.pop(fut)
                try:
                    lab = fut.result()
                except Exception as e:  # one image's failure is that image's, unless the key is bad
                    msg, stop = describe_error(e)
                    if stop:
                        fatal = fatal or msg
                    out[job.digest] = Label(labeler="claude", model=plan.cfg.model,
                                            prompt_version=plan.version, error=msg)
                else:
                    memo.put(job.memo_key, lab.to_dict())
                    out[job.digest] = lab
                done += 1
                ctx.progress(done, total, "images labelled")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    ctx.check_cancelled()
    if fatal:
        raise LabelsError(f"labeler claude stopped: {fatal}")
    return out
