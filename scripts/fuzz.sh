#!/usr/bin/env bash
# Sets up and builds like demo.sh, then runs the JIT fuzzer (tests/fuzz/fuzzgen.py) for
# a long time: `scripts/fuzz.sh [MINUTES] [FIRST_SEED]` (default 60 minutes, a seed from
# the clock). Functions on which python3 and pyopt-python differ are appended to
# tests/jit/cases/fuzz_found.py, which the test suite then runs for good.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
minutes="${1:-60}"
seed="${2:-$(date +%s)}"
setup
build_and_install
cd "$ROOT"
TEST_PYOPT_PYTHON="$PYOPT" exec "$PYTHON_EXE" tests/fuzz/fuzzgen.py --minutes "$minutes" \
    --seed "$seed" --functions 150 --save
