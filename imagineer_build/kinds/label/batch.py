"""`batch: true`: label through the Message Batches API (half the price, answers within hours).

Requests go in chunks; each chunk's batch id is kept in the memo under the set of requests it
carries, so a build killed while polling picks the same batch up again instead of paying twice.
"""

from __future__ import annotations

from typing import Any

from ...core.kind import BuildContext, Memo
from ...media.labelset import Label
from .answer import AnswerError, parse_answer, to_label
from .claude_api import Job, LabelsError, Plan, describe_error
from .images import image_block

BATCH_NS = "labels.claude.batch"
MAX_REQUESTS = 10_000
MAX_PAYLOAD = 200_000_000  # bytes of base64 per batch (the API allows 256 MB)


def chunks(plan: Plan, todo: list[Job]):
    """(requests, jobs by custom id, failures) per batch, reading images one chunk at a time."""
    reqs: list[dict[str, Any]] = []
    ids: dict[str, Job] = {}
    failed: dict[str, str] = {}
    size = 0
    for job in todo:
        try:
            block = image_block(job.path, plan.cfg.max_side)
        except Exception as e:  # an unreadable image fails alone
            failed[job.digest] = f"could not prepare the image: {e}"
            continue
        n = len(block["source"]["data"])
        if reqs and (len(reqs) >= MAX_REQUESTS or size + n > MAX_PAYLOAD):
            yield reqs, ids, failed
            reqs, ids, failed, size = [], {}, {}, 0
        cid = job.digest[:64]
        reqs.append({"custom_id": cid, "params": plan.params(block)})
        ids[cid] = job
        size += n
    if reqs or failed:
        yield reqs, ids, failed


def run_batches(ctx: BuildContext, client, plan: Plan, todo: list[Job], memo: Memo,
                done: int, total: int) -> dict[str, Label]:
    out: dict[str, Label] = {}
    ids_memo = ctx.memo(BATCH_NS)
    for reqs, ids, failed in chunks(plan, todo):
        for digest, msg in failed.items():
            out[digest] = Label(labeler="claude", model=plan.cfg.model, prompt_version=plan.version, error=msg)
        if not reqs:
            continue
        chunk_key = Memo.key(sorted(j.memo_key for j in ids.values()))
        batch = None if ctx.refresh else _resume(client, ids_memo.get(chunk_key))
        if batch is None:
            try:
                batch = client.messages.batches.create(requests=reqs)
            except Exception as e:
                msg, _ = describe_error(e)
                raise LabelsError(f"labeler claude: could not create a message batch: {msg}") from None
            ids_memo.put(chunk_key, {"id": batch.id})
            ctx.log(f"claude: message batch {batch.id} created with {len(reqs)} requests")
        else:
            ctx.log(f"claude: resuming message batch {batch.id}")
        reqs.clear()  # the chunk generator still holds the list: free the base64 images now
        batch = _wait(ctx, client, batch, done, total, plan.cfg.poll_interval or 10.0)
        try:
            for entry in client.messages.batches.results(batch.id):
                job = ids.get(entry.custom_id)
                if job is not None:
                    out[job.digest] = _result(entry.result.model_dump(), plan, job, memo)
        except Exception as e:  # results gone or unreadable: never resume this batch again
            ids_memo.put(chunk_key, {"id": batch.id, "dead": True})
            msg, _ = describe_error(e)
            raise LabelsError(f"labeler claude: could not read the results of batch {batch.id}: {msg}; "
                              "the answers that arrived are kept, build again to ask for the rest") from None
        for job in ids.values():
            if job.digest not in out:
                out[job.digest] = Label(labeler="claude", model=plan.cfg.model, prompt_version=plan.version,
                                        error=f"message batch {batch.id} returned no result for this image")
        done += len(ids)
        ctx.progress(done, total, "images labelled")
    return out


def _resume(client, hit):
    if hit is None or not isinstance(hit[0], dict) or hit[0].get("dead"):
        return None
    try:
        batch = client.messages.batches.retrieve(hit[0]["id"])
    except Exception:
        return None
    return None if batch.processing_status == "canceling" or batch.archived_at else batch


def _wait(ctx: BuildContext, client, batch, done: int, total: int, poll_interval: float):
    interval = float(poll_interval)
    while batch.processing_status != "ended":
        c = batch.request_counts
        finished = c.succeeded + c.errored + c.canceled + c.expired
        ctx.progress(done + finished, total, f"batch {batch.id}: {batch.processing_status}")
        if ctx.cancelled.wait(interval):
            ctx.check_cancelled()
        batch = client.messages.batches.retrieve(batch.id)
    return batch


def _result(res: dict[str, Any], plan: Plan, job: Job, memo: Memo) -> Label:
    kind = res.get("type")
    if kind == "succeeded":
        try:
            lab = to_label(parse_answer(res.get("message") or {}, plan.preset), plan.cfg.model, plan.version)
        except AnswerError as e:
            return Label(labeler="claude", model=plan.cfg.model, prompt_version=plan.version, error=str(e))
        memo.put(job.memo_key, lab.to_dict())
        return lab
    if kind == "errored":
        err = (res.get("error") or {}).get("error") or res.get("error") or {}
        why = f"{err.get('type', 'error')}: {err.get('message', '')}".strip(": ")
    else:
        why = f"the batch request was {kind}"
    return Label(labeler="claude", model=plan.cfg.model, prompt_version=plan.version, error=why[:300])
