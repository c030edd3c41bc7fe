"""Image and text vectors through the item memo: only what this scorer never embedded runs.

One memo entry per (image digest, scorer) and per (text, scorer), holding the raw vectors
(float32 little-endian), so changing thresholds, options or selections recomputes no
embedding: the scores are arithmetic on memoised vectors. The compute functions depend only on
(model, item inputs), so they can later be sharded over workers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...core.kind import BuildContext, Memo

EMBED_VERSION = "2"  # bump when the same model and inputs would give other vectors (2: one item per call on a CPU)
IMAGE_MEMO = "scores.image"
TEXT_MEMO = "scores.text"


@dataclass
class Vectors:
    images: dict[str, Any] = field(default_factory=dict)  # image digest → raw vector (d,)
    image_errors: dict[str, str] = field(default_factory=dict)  # image digest → why it was not scored
    texts: dict[str, Any] = field(default_factory=dict)  # text → raw vectors (chunks, d)
    logit_scale: float | None = None
    computed_images: int = 0
    computed_texts: int = 0


def embed_all(ctx: BuildContext, spec: Any, ident: dict[str, Any], images: list[tuple[str, Path]],
              texts: list[str], batch_size: int) -> Vectors:
    """Vectors for every (digest, path) and text: memo hits read back, the rest computed in
    batches and memoised batch by batch (a cancelled build resumes where it stopped)."""
    imemo, tmemo = ctx.memo(IMAGE_MEMO), ctx.memo(TEXT_MEMO)
    ikey = {d: Memo.key(EMBED_VERSION, ident, "image", d) for d, _ in images}
    tkey = {t: Memo.key(EMBED_VERSION, ident, "text", t) for t in texts}
    v = Vectors()
    ifound, tfound = imemo.get_many(ikey.values()), tmemo.get_many(tkey.values())
    for d, _ in images:
        value, blob = ifound.get(ikey[d], (None, None))
        if value and "error" in value:
            v.image_errors[d] = value["error"]
        elif (vec := _read(ctx, value, blob)) is not None:
            v.images[d] = vec[0]
    for t in texts:
        value, blob = tfound.get(tkey[t], (None, None))
        if (vec := _read(ctx, value, blob)) is not None:
            v.texts[t] = vec
            v.logit_scale = value["logit_scale"]
    todo_images = [(d, p) for d, p in images if d not in v.images and d not in v.image_errors]
    todo_texts = [t for t in texts if t not in v.texts]
    total = len(todo_images)
    ctx.progress(0, total, "images embedded")
    if not todo_images and not todo_texts:
        return v
    from ...models import clip
    from ...models.loading import apply_threads

    apply_threads(ctx.settings)
    loads = clip.loads
    with clip.lease(spec, ctx.project_root, ctx.models_dir) as scorer:
        if clip.loads > loads:  # else the warm scorer of an earlier target in this process
            ctx.log(f"loaded CLIP {spec.base} on {scorer.device}")
        v.logit_scale = scorer.logit_scale
        from ...models import item_batch

        batch_size = item_batch(batch_size, scorer.device)
        for start in range(0, len(todo_texts), batch_size):
            ctx.check_cancelled()
            chunk = todo_texts[start:start + batch_size]
            for t, vecs in zip(chunk, text_vectors(scorer, chunk), strict=True):
                tmemo.put_bytes(tkey[t], _bytes(vecs), {"dim": vecs.shape[1], "logit_scale": v.logit_scale})
                v.texts[t] = vecs
            v.computed_texts += len(chunk)
        with ThreadPoolExecutor(max_workers=max(1, ctx.jobs)) as pool:
            for batch, results in image_batches(scorer, todo_images, batch_size, pool):
                ctx.check_cancelled()
                for (d, _), res in zip(batch, results, strict=True):
                    if isinstance(res, Failed):
                        v.image_errors[d] = res.reason
                        ctx.log(f"image {d[:12]} not scored: {res.reason}", "warning")
                        if res.about_bytes:
                            imemo.put(ikey[d], {"error": res.reason})
                        continue
                    imemo.put_bytes(ikey[d], _bytes(res[None, :]), {"dim": int(res.shape[0])})
                    v.images[d] = res
                v.computed_images += len(batch)
                ctx.progress(v.computed_images, total, "images embedded")
    return v


@dataclass
class Failed:
    reason: str
    about_bytes: bool  # a verdict on the image's bytes (memoised), not a passing problem


def text_vectors(scorer: Any, texts: list[str]) -> list[Any]:
    """Each text's vectors, one row per piece CLIP can read whole (see Scorer.split)."""
    pieces = [scorer.split(t) for t in texts]
    flat = scorer.embed_texts([p for ps in pieces for p in ps])
    out, at = [], 0
    for ps in pieces:
        out.append(flat[at:at + len(ps)])
        at += len(ps)
    return out


def image_batches(scorer: Any, items: list[tuple[str, Path]], batch_size: int, pool: ThreadPoolExecutor):
    """Yield (batch, [vector | Failed]) per batch; the next batch decodes in the pool while
    this one runs through the model, and at most two batches of pixels are held."""
    batches = [items[i:i + batch_size] for i in range(0, len(items), batch_size)]

    def submit(batch):
        return [pool.submit(pixels_of, scorer, path) for _, path in batch]

    pending = submit(batches[0]) if batches else []
    for i, batch in enumerate(batches):
        current, pending = pending, (submit(batches[i + 1]) if i + 1 < len(batches) else [])
        results: list[Any] = [f.result() for f in current]
        ok = [k for k, r in enumerate(results) if not isinstance(r, Failed)]
        if ok:
            vecs = scorer.embed_pixels([results[k] for k in ok])
            for k, vec in zip(ok, vecs, strict=True):
                results[k] = vec
        yield batch, results


def pixels_of(scorer: Any, path: Path) -> Any:
    """Decode and preprocess one image; a broken one becomes a Failed with the reason."""
    from PIL import Image, UnidentifiedImageError

    def why(e: Exception) -> str:  # never the store path: reasons end up in the artifact
        return f"cannot decode: {type(e).__name__}: {str(e).replace(str(path), 'the image')}"

    try:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
    except UnidentifiedImageError:
        return Failed("cannot decode: not an image Pillow can read", about_bytes=True)
    except (Image.DecompressionBombError, SyntaxError, ValueError, EOFError) as e:
        return Failed(why(e), about_bytes=True)
    except OSError as e:
        return Failed(why(e), about_bytes=not isinstance(e, (FileNotFoundError, PermissionError)))
    return scorer.pixels(rgb)


def _read(ctx: BuildContext, value: Any, blob: str | None) -> Any:
    """Memoised vectors (rows, d), or None when absent, damaged or collected (then recomputed)."""
    import numpy as np

    if not value or not blob or not ctx.has_blob(blob):
        return None
    data = ctx.blob_path(blob).read_bytes()
    return np.frombuffer(data, dtype="<f4").reshape(-1, int(value["dim"]))


def _bytes(vecs: Any) -> bytes:
    import numpy as np

    return np.ascontiguousarray(vecs, dtype="<f4").tobytes()
