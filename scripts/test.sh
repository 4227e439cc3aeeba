#!/usr/bin/env bash
# Sets up and builds like demo.sh, then runs every test: formatting and lints, Rust unit
# tests, the end-to-end suite under pyopt-python, and CPython's own regression tests
# under python3 and pyopt-python (compared module by module).
#   --no-regrtest   skip the CPython regression tests (the slow part, ~20 min)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
regrtest=1
for arg in "$@"; do
    case "$arg" in
        --no-regrtest) regrtest=0 ;;
        *) die "unknown argument $arg (accepted: --no-regrtest)" ;;
    esac
done

setup
# protoc checks pyopt's traces against Perfetto's schema (tests/trace).
ensure_apt_packages protobuf-compiler
build_and_install
cd "$ROOT"
log "cargo fmt --check"
cargo fmt --all --check
log "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --workspace --all-targets -- -D warnings
log "Rust unit tests"
cargo test --locked --workspace
log "end-to-end tests: pyopt-python -m pytest tests"
"$PYOPT" -m pytest tests
if [ "$regrtest" = 1 ]; then
    log "CPython regression tests under python3 and pyopt-python"
    "$PYOPT" tests/regrtest/compare.py --modules tests/regrtest/ci_modules.txt \
        --json target/regrtest/ci.json
fi
log "all tests passed"
