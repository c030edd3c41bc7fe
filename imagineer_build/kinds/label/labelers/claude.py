"""The `claude` labeler: vision input, a forced tool call for structured output, one memo entry per image.

Requests run on a thread pool bounded by `concurrency`; the SDK retries 429/5xx itself. Every
answer is written to the memo as it arrives, so a killed run resumes where it stopped. An
unusable answer fails that image only; a rejected key or unknown model stops the target.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from ....core.kind import BuildContext, Memo
from ....media.album import AlbumImage
from ....media.labelset import Label
from ..answer import AnswerError, parse_answer, to_label
from ..claude_api import Job, LabelsError, Plan, describe_error, make_client, make_plan, memo_key
from ..config import LabelsConfig
from ..images import image_block

MEMO_NS = "labels.claude"


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
