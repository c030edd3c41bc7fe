"""Training checkpoints in the store's memo, keyed by the run's training identity.

A checkpoint holds the LoRA weights, optimizer and scheduler state, the global torch RNG
(LoRA dropout draws from it), the loss history and the samples made so far. Per-step noise
comes from generators seeded by (seed, step), so nothing else is needed to resume exactly.
Only the newest checkpoint is kept per identity; a finished run marks its entry done.
"""

from __future__ import annotations

import io
from typing import Any

from ...core.kind import BuildContext

NS = "lora.checkpoint"


def save_checkpoint(ctx: BuildContext, identity: str, state: dict[str, Any]) -> str:
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    return ctx.memo(NS).put_bytes(identity, buf.getvalue(), {"step": state["step"]})


def load_checkpoint(ctx: BuildContext, identity: str) -> dict[str, Any] | None:
    """The newest checkpoint of this training identity, or None (a damaged one counts as none)."""
    import torch

    found = ctx.memo(NS).get(identity)
    if found is None or found[1] is None:
        return None
    try:
        data = ctx.blob_path(found[1]).read_bytes()
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # a checkpoint we cannot read is not worth failing a build over
        ctx.log(f"ignoring an unreadable checkpoint ({type(e).__name__}: {e}); starting over", "warning")
        return None


def finish(ctx: BuildContext, identity: str, steps: int) -> None:
    """Drop the checkpoint's blob from the memo (the artifact now holds the weights)."""
    ctx.memo(NS).put(identity, {"step": steps, "done": True}, None)


def scheduler_state(sched) -> dict[str, Any]:
    """The LR scheduler's counters (its lambdas are code, rebuilt from the settings)."""
    return {k: v for k, v in sched.state_dict().items() if k != "lr_lambdas"}


def restore_scheduler(sched, state: dict[str, Any]) -> None:
    sched.__dict__.update(state)
