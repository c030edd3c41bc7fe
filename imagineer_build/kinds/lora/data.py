"""The dataset artifact as a trainer sees it: images, captions, buckets, and the batch order.

The batch order is a pure function of (seed, epoch), so a resumed run replays exactly the
batches an uninterrupted run would have seen, without saving any data-loader state.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from ...core.artifact import ArtifactView
from ...media.datasetfmt import DatasetInfo


class DatasetError(Exception):
    pass


@dataclass(frozen=True)
class TrainItem:
    digest: str  # image blob digest
    path: Path  # where its bytes live (read-only)
    caption: str
    bucket: tuple[int, int]  # (w, h) at the training resolution
    repeats: int = 1
    name: str = ""  # the image's path inside the dataset artifact, for messages


def load_dataset(view: ArtifactView, name: str) -> DatasetInfo:
    try:
        return DatasetInfo.from_meta(view.meta)
    except (ValueError, TypeError, KeyError) as e:
        raise DatasetError(f"{name} is not a dataset target ({e}); `dataset:` must name a target "
                           "under `datasets:`") from e


def scale_bucket(bucket: list[int] | tuple[int, int], from_res: int, to_res: int) -> tuple[int, int]:
    """A bucket planned for one resolution, at another (sides stay multiples of 8, at least 8)."""
    w, h = int(bucket[0]), int(bucket[1])
    if from_res == to_res or not from_res:
        return w - w % 8 or 8, h - h % 8 or 8
    f = to_res / from_res
    return max(8, round(w * f / 8) * 8), max(8, round(h * f / 8) * 8)


def train_items(ctx, view: ArtifactView, info: DatasetInfo, resolution: int) -> list[TrainItem]:
    items = []
    for e in info.entries:
        if e.image not in view.files:
            raise DatasetError(f"dataset entry {e.image} is not a file of the dataset artifact")
        bucket = e.bucket or [info.resolution, info.resolution]
        items.append(TrainItem(e.digest, ctx.file(view, e.image), e.caption,
                               scale_bucket(bucket, info.resolution, resolution), max(1, e.repeats), e.image))
    if not items:
        raise DatasetError("the dataset has no images")
    return items


def epoch_batches(items: list[TrainItem], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """One epoch's micro-batches (indices into items); each batch holds one bucket size."""
    rng = random.Random(f"{seed}:{epoch}")
    by_bucket: dict[tuple[int, int], list[int]] = {}
    for i, it in enumerate(items):
        by_bucket.setdefault(it.bucket, []).extend([i] * it.repeats)
    batches: list[list[int]] = []
    for bucket in sorted(by_bucket):
        idx = by_bucket[bucket]
        rng.shuffle(idx)
        batches += [idx[k:k + batch_size] for k in range(0, len(idx), batch_size)]
    rng.shuffle(batches)
    return batches


def count_batches(items: list[TrainItem], batch_size: int) -> int:
    return len(epoch_batches(items, batch_size, 0, 0))


class BatchPlan:
    """Micro-batch number → indices, across epochs; every epoch has the same count."""

    def __init__(self, items: list[TrainItem], batch_size: int, seed: int):
        self.items, self.batch_size, self.seed = items, batch_size, seed
        self.per_epoch = count_batches(items, batch_size)
        self._cache: dict[int, list[list[int]]] = {}

    def batch(self, n: int) -> list[int]:
        epoch, k = divmod(n, self.per_epoch)
        if epoch not in self._cache:
            self._cache = {epoch: epoch_batches(self.items, self.batch_size, self.seed, epoch)}
        return self._cache[epoch][k]
