#!/usr/bin/env bash
# Sets up and builds like demo.sh, then runs the benchmark harness (benches/bench.py);
# arguments are passed on, e.g. `scripts/bench.sh startup --repeat 50`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup
build_and_install
exec "$PYOPT" "$ROOT/benches/bench.py" "$@"
