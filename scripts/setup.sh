#!/usr/bin/env bash
# Set up everything the demo and the tests need on a fresh machine (Linux x86_64, Python 3.11).
#
# Installs exactly the versions in requirements.lock (every extra, sha256-checked), so a fresh
# machine gets what CI tested. torch is the CPU build (torch==2.13.0+cpu), found through pip's
# find-links (PIP_FIND_LINKS: this machine has it in /opt/wheels; elsewhere point it at
# https://download.pytorch.org/whl/cpu/torch/). Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
start=$SECONDS
step() { printf '[setup %3ds] %s\n' "$((SECONDS - start))" "$*"; }

if [ ! -x .venv/bin/python ]; then
  step "creating .venv with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ requirements.lock -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  n=$(grep -c '^[A-Za-z0-9_.-]*==' requirements.lock)
  step "installing $n pinned packages from requirements.lock (hash-checked; ~2-3 min on a fresh machine, seconds when cached)"
  .venv/bin/python -m pip install -q --upgrade "pip>=24" 2>&1 | grep -v "^WARNING: Location" || true
  # one line per package, so a long install shows where it is
  set +o pipefail
  .venv/bin/python -m pip install --require-hashes --no-deps --progress-bar off -r requirements.lock 2>&1 \
    | tee .venv/install.log | grep --line-buffered -E "^Collecting" | sed -u -E 's/^Collecting ([^ ]+).*/  \1/'
  status=${PIPESTATUS[0]}
  set -o pipefail
  if [ "$status" != 0 ]; then grep -v "^  " .venv/install.log | tail -20; exit "$status"; fi
  .venv/bin/python -m pip check >/dev/null || { .venv/bin/python -m pip check; exit 1; }
  step "installing imagineer-build itself (editable)"
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . >.venv/install.log 2>&1 \
    || { cat .venv/install.log; exit 1; }
  # a build leftover: run from this folder, Python would read its (possibly stale) entry points
  # instead of the installed ones, and miss kinds added since
  rm -rf imagineer_build.egg-info
  touch "$stamp"
fi
# Bytecode for our own modules: where PYTHONDONTWRITEBYTECODE is set (CI images often set it),
# every command would otherwise compile ~65 modules from source (0.13 s of a 0.5 s no-op build).
.venv/bin/python -m compileall -q imagineer_build >/dev/null || true
# Real Chromium for the `render: js` scrapes and the web app's browser tests: Debian's package
# (Playwright cannot download browsers here).
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/lib/chromium/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "installing Debian's chromium (~1 min)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: Chromium is missing; install Debian's 'chromium' package for render: js scrapes" >&2
  fi
fi
step "ready"
