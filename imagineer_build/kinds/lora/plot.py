"""loss.png: the loss curve drawn with Pillow (no plotting library needed)."""

from __future__ import annotations

import io
import math


def smooth(values: list[float], beta: float = 0.9) -> list[float]:
    """Bias-corrected exponential moving average: the trend under the per-step noise."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta**i))
    return out


def loss_png(losses: list[float], title: str, size: tuple[int, int] = (640, 360)) -> bytes:
    from PIL import Image, ImageDraw

    w, h = size
    left, right, top, bottom = 56, 16, 28, 32
    im = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(im)
    d.text((left, 8), title, fill="black")
    finite = [v for v in losses if math.isfinite(v)]
    pw, ph = w - left - right, h - top - bottom
    d.rectangle([left, top, left + pw, top + ph], outline=(160, 160, 160))
    if not finite:
        d.text((left + 8, top + 8), "no loss values", fill="black")
        return _png(im)
    lo, hi = min(finite), max(finite)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    n = len(losses)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (pw * i / max(1, n - 1))
        return x, top + ph * (1 - (v - lo) / (hi - lo))

    for k in range(5):  # y ticks
        v = lo + (hi - lo) * k / 4
        _, y = xy(0, v)
        d.line([left - 4, y, left, y], fill="black")
        d.text((4, y - 6), f"{v:.3g}", fill="black")
    for k in range(5):  # x ticks: steps
        i = round((n - 1) * k / 4)
        x, _ = xy(i, lo)
        d.line([x, top + ph, x, top + ph + 4], fill="black")
        d.text((x - 8, top + ph + 8), str(i + 1), fill="black")
    raw = [xy(i, v) for i, v in enumerate(losses) if math.isfinite(v)]
    if len(raw) > 1:
        d.line(raw, fill=(170, 200, 240), width=1)
        d.line([xy(i, v) for i, v in enumerate(smooth(finite))], fill=(20, 70, 180), width=2)
    else:
        x, y = raw[0]
        d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=(20, 70, 180))
    d.text((left + pw - 150, h - 16), "step · loss (smoothed)", fill=(80, 80, 80))
    return _png(im)


def _png(im) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()
