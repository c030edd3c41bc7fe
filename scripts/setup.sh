#!/usr/bin/env bash
# Set up everything the demo and the tests need on a fresh machine (Python 3.11 + pip).
# Idempotent: a second run only checks. The CPU build of torch is pinned on purpose:
# an unpinned torch pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q torch==2.13.0
  .venv/bin/pip install -q -e ".[web,claude,vision,ml,local-labels,test]"
  touch "$stamp"
fi
# Real Chromium for the `render: js` scrapes: Debian's package (Playwright cannot download browsers here).
if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/lib/chromium/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: Chromium is missing; install Debian's 'chromium' package for render: js scrapes" >&2
  fi
fi
