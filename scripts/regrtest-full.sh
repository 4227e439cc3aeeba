#!/usr/bin/env bash
# Runs CPython's whole regression-test suite under python3 and pyopt-python and records
# the per-module comparison in tests/regrtest/full-suite.md (and .json). About an hour
# on 2 cores; hung modules are stopped after --timeout seconds (default here: 900).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup
build_and_install
cd "$ROOT"
exec "$PYOPT" tests/regrtest/compare.py --all --timeout 900 \
    --json tests/regrtest/full-suite.json --markdown tests/regrtest/full-suite.md "$@"
