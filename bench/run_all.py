"""Run every bench/bench_*.py and print their tables, then one line per script.

    .venv/bin/python bench/run_all.py [--quick] [--only NAME]

--quick is passed on to the scripts that accept it (smaller inputs for a fast look).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="pass --quick to scripts that take it")
    ap.add_argument("--only", action="append", default=[], help="run only bench_NAME.py (repeatable)")
    args = ap.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only or s.stem in args.only]
    summary = []
    for script in scripts:
        cmd = [sys.executable, str(script)]
        if args.quick and "--quick" in script.read_text(encoding="utf-8"):
            cmd.append("--quick")
        print(f"==> {script.name}", flush=True)
        start = time.perf_counter()
        code = subprocess.call(cmd, cwd=HERE.parent)
        summary.append((script.name, code, time.perf_counter() - start))
        print(flush=True)
    width = max((len(n) for n, _, _ in summary), default=10)
    print(f"{'script':{width}}  exit  seconds")
    for name, code, secs in summary:
        print(f"{name:{width}}  {code:4}  {secs:7.1f}")
    return 1 if any(code for _, code, _ in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
