#!/usr/bin/env bash
# The main job on embedded defaults: sets up, then runs three consecutive months (2026-07 to
# 2026-09) of a living synthetic county through Airflow (dag.test on SQLite, one monitoring
# database): weekly township feedback, monthly deliveries, bulletins and the quarter's
# materials, in calendar order, with email caught by a local SMTP server.
# Outputs land in ./output (PDFs, push lists, call sheets, Data Docs, mail/*.eml); the generated
# deliveries in ./incoming (<month>/ and weekly/<YYYY-Www>/).
# Extra arguments go to scripts/run_month.py (e.g. --period 2026-07 --months 5 --households 3000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python scripts/run_month.py "$@"
