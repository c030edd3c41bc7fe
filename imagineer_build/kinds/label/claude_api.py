"""What every Claude request of a labels target shares: the plan (system prompt, tool, model),
its memo key, the SDK client and how an API error reads. Used by the per-image labeler, the
Message Batches path and caption review."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.kind import Memo
from .answer import AnswerError
from .config import LabelsConfig
from .prompts import SCHEMA_VERSION, TOOL_NAME, instructions, prompt_version, tool

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
