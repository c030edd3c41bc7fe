"""Same spec + lock → same bytes: the demo in two folders and two stores, `imagineer verify`,
early cutoff after a retrain, and model creation that is safe to race."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, Project, Run

DEMO_FILES = ("imagineer.yaml", "specs", "examples")


def demo_copy(root: Path) -> Project:
    """The repository's example project, copied without its lock, store or outputs."""
    root.mkdir(parents=True)
    for name in DEMO_FILES:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    shutil.rmtree(root / "examples" / "shapes" / "images", ignore_errors=True)
    subprocess.run([sys.executable, str(root / "examples" / "make_images.py")], cwd=root, check=True,
                   capture_output=True)
    return Project(root)


def locked(p: Project) -> dict[str, dict]:
    return yaml.safe_load((p.root / "imagineer.lock").read_text())["targets"]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # four demo builds and a verify: ~3 min on an idle 2-core machine
def test_demo_rebuilds_to_the_same_bytes_anywhere_and_verify_says_so(tmp_path):
    a = demo_copy(tmp_path / "a")
    b = demo_copy(tmp_path / "elsewhere" / "deeper" / "b")
    # other folders, other stores, another hash seed (set and dict order inside libraries)
    ra = a.build(env={"PYTHONHASHSEED": "1"})
    rb = b.build(env={"PYTHONHASHSEED": "4242"})
    assert ra.code == 0 and rb.code == 0, ra.err + rb.err
    la, lb = locked(a), locked(b)
    assert sorted(la) == ["shapes", "shapes-deck", "shapes-ds", "shapes-labels", "shapes-style"]
    assert {t: e["artifact"] for t, e in la.items()} == {t: e["artifact"] for t, e in lb.items()}
    assert (a.root / "imagineer.lock").read_text() == (b.root / "imagineer.lock").read_text()
    assert all("nondeterministic" not in e for e in la.values())  # CPU + builtin models
    # no timings or paths in the LoRA's own record of itself
    info = (a.root / "out" / "shapes-style" / "training.json").read_text()
    for word in ("started", "seconds", str(tmp_path), "versions"):
        assert word not in info
    # they went to the action record, which `show` prints
    show = a.run("show", "shapes-style")
    assert show.code == 0 and "seconds" in show.out and "torch" in show.out, show.out

    v = a.run("verify")
    assert v.code == 0, v.out + v.err
    lines = {ln.split()[0]: ln for ln in v.out.splitlines() if ln and not ln.startswith(" ")}
    assert set(lines) == set(la)
    assert all(ln.split()[1] == "identical" for ln in lines.values()), v.out

    # Early cutoff: a setting that changes when checkpoints are written retrains the LoRA to the
    # same bytes, so the 54 cards that use it are not looked at again.
    r = a.build("--set", "shapes-style:save_every=7", "shapes-deck")
    st = r.statuses()
    assert st["shapes-style"] == "built" and st["shapes-deck"] == "cached", r.out
    style = next(e for e in r.events() if e.get("event") == "target" and e["target"] == "shapes-style")
    assert style["artifact"] == la["shapes-style"]["artifact"]
    assert not any(e.get("event") == "start" and e["target"] == "shapes-deck" for e in r.events())

    # A retrain from nothing (the cache entry forgotten) gives the same artifact too.
    assert a.run("clean", "shapes-style").code == 0
    r = a.build()
    assert r.statuses()["shapes-style"] == "built" and r.statuses()["shapes-deck"] == "cached"
    assert locked(a) == la

    # verify on a lock that names other bytes: which files differ, and a failing exit code
    lock = yaml.safe_load((a.root / "imagineer.lock").read_text())
    lock["targets"]["shapes-ds"]["artifact"] = la["shapes-labels"]["artifact"]
    (a.root / "imagineer.lock").write_text(yaml.safe_dump(lock))
    v = a.run("verify", "shapes-ds")
    assert v.code == 1 and "shapes-ds  different" in v.out, v.out
    assert "metadata.json" in v.out and "only in the rebuild" in v.out


def test_verify_refuses_targets_never_built_and_unknown_ones(project, shapes):
    project.spec("""
        sources:
          photos: {dir: data/shapes}
    """)
    v = project.run("verify")
    assert v.code == 1 and "photos  not built" in v.out and "imagineer build photos" in v.out
    v = project.run("verify", "nope")
    assert v.code == 2 and "unknown target 'nope'" in v.err and "photos" in v.err
    assert project.build().code == 0
    v = project.run("verify", "photos")
    assert v.code == 0 and "photos  identical" in v.out


def _photos_and_deck(project: Project, settings: str = "") -> None:
    """A folder source and a one-step generation on the builtin model; `settings` adds lines."""
    project.write("imagineer.yaml", f"cache: cache\nout: out\n{settings}models:\n  tiny: {{base: 'builtin:tiny-sd'}}\n")
    project.spec("""
        sources:
          photos: {dir: data/shapes}
        generations:
          deck: {prompt: "a red star", model: tiny, size: [64, 64], steps: 1}
    """)


def test_thread_count_is_in_the_keys_of_model_targets_only(project, shapes):
    _photos_and_deck(project, "threads: 1\n")
    before = {r["target"]: r["key"] for r in _status(project)}
    _photos_and_deck(project, "threads: 3\n")
    after = {r["target"]: r["key"] for r in _status(project)}
    assert before["photos"] == after["photos"]
    assert before["deck"] != after["deck"]
    assert "threads" in project.run("explain", "deck").out


def _status(project: Project) -> list[dict]:
    import json

    r = project.run("status", "--json")
    assert r.code == 0, r.err
    return [json.loads(line) for line in r.out.splitlines()]


@pytest.mark.slow
def test_two_loras_start_together_on_an_empty_store(tmp_path):
    """Both build the builtin model's folder and import diffusers at the same moment."""
    from lora_helpers import ENV, make_project

    root = make_project(tmp_path / "p", images=4)
    (root / "imagineer.yaml").write_text("cache: cache\nout: out\nthreads: 1\nexecutor: {gpu: 2}\n")
    (root / "specs" / "main.yaml").write_text(
        "testdatasets:\n  ds: {dir: data/shapes}\n"
        "loras:\n"
        "  one: {dataset: ds, model: 'builtin:tiny-sd', steps: 2, rank: 2}\n"
        "  two: {dataset: ds, model: 'builtin:tiny-sd', steps: 2, rank: 4}\n")
    r = Project(root).build(env=ENV)
    assert r.code == 0, r.err
    assert r.statuses() == {"ds": "built", "one": "built", "two": "built"}
    models = sorted(p.name for p in (root / "cache" / "models").iterdir() if not p.name.startswith("."))
    assert models == ["builtin-tiny-sd-v1"]


def test_a_missing_extra_is_named_with_the_pip_command(project):
    project.spec("""
        sources:
          web: {scrape: {url: "http://127.0.0.1:9/"}}
    """)
    hide = Path(__file__).parent / "hide_modules"
    env = {"PYTHONPATH": os.pathsep.join([str(hide), os.environ.get("PYTHONPATH", "")]),
           "IMAGINEER_TEST_HIDE": "httpx"}
    r = project.build(env=env)
    assert r.code == 1
    failed = next(e for e in r.events() if e.get("event") == "target")
    assert failed["status"] == "failed"
    assert "scrape needs the 'web' extra" in failed["error"]
    assert "pip install 'imagineer-build[web]'" in failed["error"]
    assert "Traceback" not in r.err


@pytest.mark.parametrize("text, expect", [
    ("<<<<<<< HEAD\nversion: 1\n=======\nversion: 1\n>>>>>>> other\n", "imagineer.lock:1:1: git conflict markers"),
    ("[1, 2, 3]\n", "expected a mapping with `version` and `targets`"),
    ("version: 7\ntargets: {}\n", "lock format version 7"),
    ("version: 1\ntargets: [a, b]\n", "`targets` must be a mapping"),
    ("version: 1\ntargets:\n  photos: {key: nope, artifact: x}\n", "imagineer.lock:3:17: entry 'photos': `key`"),
    ("version: 1\ntargets: {a: [\n", "imagineer.lock:3:1"),
])
def test_a_damaged_lock_is_named_never_a_traceback(project, shapes, text, expect):
    project.spec("""
        sources:
          photos: {dir: data/shapes}
    """)
    (project.root / "imagineer.lock").write_text(text)
    for args in (("build",), ("show", "photos"), ("verify",)):
        r: Run = project.run(*args)
        assert r.code == 2, (args, r.err)
        assert expect in r.err and "regenerate it with `imagineer build`" in r.err, (args, r.err)
        assert "Traceback" not in r.err


def test_a_binary_lock_is_named(project, shapes):
    project.spec("sources: {photos: {dir: data/shapes}}\n")
    (project.root / "imagineer.lock").write_bytes(b"\x00\xff\xfe garbage \x89PNG")
    r = project.run("build")
    assert r.code == 2 and "imagineer.lock: not UTF-8 text" in r.err, r.err


KERNEL_PROBE = """
import hashlib
import imagineer_build  # noqa: F401  (pins the CPU kernels unless IMAGINEER_CPU_ISA=native)
import torch
from imagineer_build.kernels import cpu_kernels
torch.set_num_threads(1)
g = torch.Generator().manual_seed(0)
x, w = torch.randn(2, 8, 33, 33, generator=g), torch.randn(16, 8, 3, 3, generator=g)
a, b = torch.randn(257, 513, generator=g), torch.randn(513, 129, generator=g)
out = [torch.nn.functional.conv2d(x, w), a @ b, torch.softmax(a, -1), torch.nn.functional.gelu(a), a.exp()]
print(cpu_kernels(), torch.backends.cpu.get_cpu_capability(),
      hashlib.sha256(b"".join(t.numpy().tobytes() for t in out)).hexdigest())
"""


def _kernel_probe(isa: str, capability: str) -> list[str]:
    env = {**os.environ, "IMAGINEER_CPU_ISA": isa, "ATEN_CPU_CAPABILITY": capability}
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    env.pop("MKL_CBWR", None)
    p = subprocess.run([sys.executable, "-c", KERNEL_PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout.split()


def test_cpu_kernels_are_pinned_so_every_x86_machine_computes_the_same_bits():
    """The kernels a CPU picks for itself round differently (AVX-512 vs AVX2 vs none): a LoRA
    trained on a server had other bytes than one trained on a laptop. Whatever the machine (here:
    whatever kernels the environment asks torch for), a pinned process computes the same bits."""
    pinned = {cap: _kernel_probe("avx2", cap) for cap in ("default", "avx512")}
    assert pinned["default"] == pinned["avx512"]
    assert pinned["default"][:2] == ["avx2", "AVX2"]
    native = {cap: _kernel_probe("native", cap) for cap in ("default", "avx2")}
    assert native["default"][:2] == ["native", "DEFAULT"]
    assert native["default"][2] != native["avx2"][2], "unpinned kernels should differ, or this test proves nothing"
    assert native["default"][2] != pinned["default"][2]


def test_a_build_on_unpinned_kernels_declares_itself(project, shapes):
    """IMAGINEER_CPU_ISA=native: faster kernels, bytes not comparable across machines; the lock says so."""
    _photos_and_deck(project)
    r = project.run("build", "--no-workers", env={"IMAGINEER_CPU_ISA": "native"})
    assert r.code == 0, r.err
    assert "not bit-exact across machines" in locked(project)["deck"]["nondeterministic"]
    assert "nondeterministic" not in locked(project)["photos"]
    native = locked(project)["deck"]["key"]
    r = project.run("build", "--no-workers")  # pinned again: another key, never the native result
    assert r.code == 0, r.err
    assert re.search(r"^deck\s+built\b", r.out + r.err, re.M), r.out + r.err
    assert locked(project)["deck"]["key"] != native
    assert "nondeterministic" not in locked(project)["deck"]
