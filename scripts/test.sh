#!/usr/bin/env bash
# Sets up (with the test tools) and runs the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
exec .venv/bin/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider -q "$@"
