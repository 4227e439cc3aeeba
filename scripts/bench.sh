#!/usr/bin/env bash
# Sets up and builds like demo.sh, then runs the benchmark harness (benches/bench.py);
# arguments are passed on, e.g. `scripts/bench.sh startup --repeat 50`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup
# The reference JITs the kernels are compared with: PyPy (Debian) and Numba (PyPI).
# Only the benchmarks need them, so only this script installs them.
ensure_apt_packages pypy3 valgrind
ensure_pip_packages "$PYTHON_EXE" "$ROOT/scripts/bench-requirements.txt"
build_and_install
exec "$PYOPT" "$ROOT/benches/bench.py" "$@"
