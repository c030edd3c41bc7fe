"""Test-only kinds for the engine tests, registered with IMAGINEER_KINDS (see ENV).

`fakes` targets write one text file whose bytes come from their config, the files they name
and their upstream outputs; they can sleep, fail, work item by item through the real memo, and
append start/end lines to a journal so tests can see what overlapped. `gpufakes` is the same
kind asking for one GPU slot; `strictfakes` has a required field; `envfakes` declares an
environment allowlist; `probefakes` key on whether a project path exists (as a model name that
may be a local folder does). They receive the real BuildContext from the real engine.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import Field

from imagineer_build.core.artifact import Artifact
from imagineer_build.core.kind import BuildContext, FileInput, Kind, KindConfig, Ref

TESTS = Path(__file__).resolve().parent
ENV = {
    "IMAGINEER_KINDS": ",".join(f"engine_kinds:{k}" for k in ("FakeKind", "GpuFakeKind", "TpuFakeKind",
                                                                  "StrictFakeKind", "EnvFakeKind",
                                                                  "ProbeFakeKind")),
    "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH", "")])),
}


class FakeConfig(KindConfig):
    output: str | None = Field(None, description="fixed output text (else derived from inputs)")
    uses: list[str] = Field(default_factory=list, description="upstream targets")
    file: str | None = Field(None, description="a project file or folder read into the output")
    sleep: float = Field(0.0, ge=0, description="seconds to sleep before producing output")
    fail: bool = False
    items: int = Field(0, ge=0, description="items to make one by one through ctx.memo")
    item_sleep: float = Field(0.0, ge=0, description="seconds per item not found in the memo")
    journal: str | None = Field(None, description="project file to append 'start/end NAME t' to")
    gate: str | None = Field(None, description="wait (up to 60 s) until this project file exists")
    crash_once: str | None = Field(None, description="project file: if absent, create it and kill this process")


class FakeKind(Kind):
    name = "fake"
    section = "fakes"
    version = "1"
    Config = FakeConfig
    resources = {"cpu": 1}

    def refs(self, config: FakeConfig) -> list[Ref]:
        return [Ref(u, ("uses", i)) for i, u in enumerate(config.uses)]

    def files(self, config: FakeConfig) -> list[FileInput]:
        return [FileInput(config.file, ("file",))] if config.file else []

    def build(self, ctx: BuildContext) -> Artifact:
        cfg: FakeConfig = ctx.config
        _journal(ctx, "start")
        try:
            if cfg.sleep:
                time.sleep(cfg.sleep)
            deadline = time.monotonic() + 60
            while cfg.gate and not (ctx.project_root / cfg.gate).exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            if cfg.fail:
                raise RuntimeError(f"{ctx.target} was told to fail")
            if cfg.crash_once and not (ctx.project_root / cfg.crash_once).exists():
                (ctx.project_root / cfg.crash_once).write_text(str(os.getpid()))
                os._exit(3)  # the worker process dies mid-target
            files = {}
            parts = [cfg.output] if cfg.output is not None else self._derived(ctx)
            memo = ctx.memo("fake.items")
            for i in range(cfg.items):
                key = memo.key(cfg.output, i)
                hit = memo.get(key)
                if hit is None:
                    time.sleep(cfg.item_sleep)
                    blob = memo.put_bytes(key, f"{cfg.output} item {i}\n".encode(), {"i": i})
                else:
                    blob = hit[1]
                files[f"items/{i:04d}.txt"] = blob
                ctx.progress(i + 1, cfg.items)
            files["out.txt"] = ctx.put_bytes("\n".join(parts).encode())
            return Artifact(files=files, meta={"parts": len(parts)}, facts={"items": cfg.items})
        finally:
            _journal(ctx, "end")

    @staticmethod
    def _derived(ctx: BuildContext) -> list[str]:
        parts = []  # a kind's output is a function of its key, so never of the target's name
        for name, view in sorted(ctx.upstream.items()):
            text = view.read("out.txt").decode() if "out.txt" in view.files else view.digest
            parts.append(f"{name}: {text}")
        for listing in ctx.inputs.values():
            for rel in sorted(listing.entries):
                parts.append(listing.abspath(rel).read_text())
        return parts


class GpuFakeKind(FakeKind):
    name = "gpufake"
    section = "gpufakes"
    resources = {"gpu": 1}


class TpuFakeKind(FakeKind):
    """Asks for a resource no executor here has."""

    name = "tpufake"
    section = "tpufakes"
    resources = {"tpu": 1}


def _journal(ctx: BuildContext, what: str) -> None:
    if ctx.config.journal:
        with open(ctx.project_root / ctx.config.journal, "a") as f:
            f.write(f"{what} {ctx.target} {time.monotonic():.6f}\n")


class StrictConfig(KindConfig):
    value: int = Field(description="required, so a spec can forget it")
    uses: list[str] = Field(default_factory=list)


class StrictFakeKind(FakeKind):
    name = "strictfake"
    section = "strictfakes"
    Config = StrictConfig

    def files(self, config) -> list[FileInput]:
        return []

    def build(self, ctx: BuildContext) -> Artifact:
        return Artifact(files={"out.txt": ctx.put_bytes(str(ctx.config.value).encode())})


class EnvFakeKind(FakeKind):
    name = "envfake"
    section = "envfakes"
    env_allowlist = ("FAKE_FLAVOUR",)

    def build(self, ctx: BuildContext) -> Artifact:
        flavour = os.environ.get("FAKE_FLAVOUR", "plain")
        return Artifact(files={"out.txt": ctx.put_bytes(flavour.encode())})


class ProbeFakeKind(FakeKind):
    """Its key records whether `probe-<output>` exists in the project, asked the way kinds must
    ask it (core.probes), like a model name that is a local folder or a hub id."""

    name = "probefake"
    section = "probefakes"

    def key_extras(self, config: FakeConfig, settings: dict) -> dict:
        from imagineer_build.core.probes import path_exists

        return {"local": path_exists(Path(settings["root"]) / f"probe-{config.output}")}
