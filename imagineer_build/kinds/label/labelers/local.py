"""The item loop every local-model step shares (vlm captions, tagger scores, vlm reviews):
plan items → memo lookup → compute the missing ones in batches → memo put after each batch.

The compute function depends only on (model, item inputs), so it can later be sharded over
workers; the model is loaded only when something is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ....core.kind import BuildContext, Memo
from ..images import open_rgb


@dataclass
class Item:
    digest: str
    path: Path  # the image bytes (a store blob)
    key: str  # memo key
    text: str | None = None  # per-item input besides the image (the caption a reviewer reads)


Compute = Callable[[list[Any], list[Item]], list[Any]]  # (RGB images, items) → one JSON value each


def run_items(ctx: BuildContext, memo: Memo, items: list[Item], batch_size: int,
              start: Callable[[], Compute], message: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(digest → memoised value, digest → why it failed). `start()` loads the model and
    answers (compute, the device it runs on)."""
    found = {} if ctx.refresh else memo.get_many(it.key for it in items)
    values = {it.digest: found[it.key][0] for it in items if it.key in found}
    todo = [it for it in items if it.key not in found]
    failed: dict[str, str] = {}
    ctx.progress(len(values), len(items), message)
    if not todo:
        return values, failed
    from ....models import item_batch

    compute, device = start()
    batch_size = item_batch(batch_size, device)
    done = len(values)
    for i in range(0, len(todo), batch_size):
        chunk = todo[i:i + batch_size]
        images, ok = [], []
        for it in chunk:
            try:
                images.append(open_rgb(it.path))
                ok.append(it)
            except Exception as e:  # a broken image fails alone
                failed[it.digest] = f"could not read the image: {e}"[:300]
        for it, value in _compute(ctx, compute, images, ok, failed):
            memo.put(it.key, value)
            values[it.digest] = value
        done += len(chunk)
        ctx.progress(done, len(items), message)
        ctx.check_cancelled()
    return values, failed


def _compute(ctx: BuildContext, compute: Compute, images: list[Any], items: list[Item],
             failed: dict[str, str]) -> list[tuple[Item, Any]]:
    """One batch; when it fails as a whole, each image alone, so one bad input fails alone."""
    if not items:
        return []
    try:
        return list(zip(items, compute(images, items), strict=True))
    except Exception as e:
        if len(items) == 1:
            failed[items[0].digest] = f"{type(e).__name__}: {e}"[:300]
            return []
        ctx.log(f"a batch of {len(items)} failed ({type(e).__name__}: {str(e)[:200]}); trying one by one", "warning")
    out = []
    for im, it in zip(images, items, strict=True):
        out += _compute(ctx, compute, [im], [it], failed)
    return out
