#!/usr/bin/env bash
# The main job on embedded defaults: sets up, generates a county, and runs a full month
# through Airflow (dag.test on SQLite) with email caught by a local SMTP server.
# Outputs land in ./output (PDFs, push lists, call sheets, Data Docs, mail/*.eml).
# Extra arguments go to scripts/run_month.py (e.g. --period 2026-10 --households 3000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python scripts/run_month.py "$@"
