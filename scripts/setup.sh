#!/usr/bin/env bash
# Sets up a fresh machine for fangpin: Debian fonts for the PDFs, a Python 3.11 virtual
# environment in .venv with the pinned packages, and the fangpin package itself.
# Usage: scripts/setup.sh [--dev]     (--dev adds the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(fonts-noto-cjk libharfbuzz-subset0 fontconfig poppler-utils)
# --dev: headless Chromium for the offline Data Docs test (tests/test_offline_docs.py)
[ "${1:-}" = "--dev" ] && DEBS+=(chromium)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
fc-list :lang=zh family | grep -q "CJK SC" || { echo "setup: no CJK font after install (fonts-noto-cjk)" >&2; exit 1; }

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { echo "setup: Python 3.11 is required" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv

req=requirements.txt; [ "${1:-}" = "--dev" ] && req=requirements-dev.txt
stamp=.venv/.installed-$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)-$(basename $req .txt)
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages from $req (a few minutes the first time)"
  # (this machine's pip configuration may warn about absent local mirrors: filtered out)
  { .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -r "$req"
    .venv/bin/pip install -q --no-deps -e .
  } 2>&1 | { grep -v "^WARNING: Location .* is ignored" || true; }
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "setup: pip install failed" >&2; exit 1; }
  touch "$stamp"
fi
echo "setup: ready (.venv, $(.venv/bin/python -c 'from importlib.metadata import version as v; print("airflow", v("apache-airflow"), "great-expectations", v("great-expectations"))'))"
