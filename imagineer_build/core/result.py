"""What a build or a status check says about one target (events, the CLI, the library)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Result:
    target: str
    status: str  # built | cached | failed | skipped | stale (dry run)
    seconds: float = 0.0
    key: str | None = None
    artifact: str | None = None
    size: int = 0
    facts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    reason: list[str] = field(default_factory=list)
    memo: dict[str, dict[str, int]] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)  # the action record's run facts

    def event(self) -> dict[str, Any]:
        ev = {"event": "target", "target": self.target, "status": self.status, "seconds": round(self.seconds, 3),
              "size": self.size, "facts": self.facts}
        for k in ("key", "artifact", "error"):
            if getattr(self, k):
                ev[k] = getattr(self, k)
        if self.reason:
            ev["reason"] = self.reason
        if self.memo:
            ev["memo"] = self.memo
        if self.run:
            ev["run"] = self.run
        return ev


def built_at(created: float) -> str:
    """A fresh target's reason in `status`: when its cache entry was made (local time)."""
    return f"built {time.strftime('%Y-%m-%d %H:%M', time.localtime(created))}"


def summary_event(results: dict[str, Result]) -> dict[str, Any]:
    """The last event of a build."""
    by = {s: [t for t, r in results.items() if r.status == s] for s in ("failed", "skipped", "built", "cached")}
    return {"event": "summary", "targets": len(results), "ok": len(by["built"]) + len(by["cached"]), **by}
