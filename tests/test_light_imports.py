"""`imagineer status` must never import the heavy libraries: they load only inside kinds' builds."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "diffusers", "transformers", "peft", "accelerate", "playwright", "anthropic", "cv2",
         "httpx", "skimage", "scipy")

PROBE = """
import atexit, sys
heavy = {heavy!r}
atexit.register(lambda: print("HEAVY:" + ",".join(m for m in heavy if m in sys.modules)))
sys.argv = ["imagineer", *{args!r}]
from imagineer_build.cli import main
main()
"""


def run_probe(root, *args):
    code = PROBE.format(heavy=HEAVY, args=list(args))
    p = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    line = [x for x in p.stdout.splitlines() if x.startswith("HEAVY:")]
    assert line, p.stdout + p.stderr
    return p, line[-1][len("HEAVY:"):]


def test_status_graph_and_schema_import_no_heavy_library(project, shapes):
    project.spec("""
        sources:
          shapes: {dir: data/shapes}
    """)
    for args in (["status"], ["graph"], ["schema"], ["explain", "shapes"]):
        p, heavy = run_probe(project.root, *args)
        assert p.returncode == 0, p.stderr
        assert heavy == "", f"imagineer {' '.join(args)} imported {heavy}"
