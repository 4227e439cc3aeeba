# Shared by pyopt's entry-point scripts (setup.sh, demo.sh, test.sh, bench.sh).
# Everything here is idempotent: a second run finds everything in place and does nothing.
# Note: pyopt-python rejects unknown PYOPT_* variables, so these scripts read none.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${BIN_DIR:-$HOME/.cargo/bin}"          # where pyopt-python is installed
PIP_REQUIREMENTS="$ROOT/scripts/requirements.txt"
# LLVM 22 for the JIT back end (Debian's bookworm-security suite carries it).
# Open MPI (with clang for rsmpi's bindings) for the MPI ranks of python_optimizer.distributed.
APT_PACKAGES=(llvm-22-dev zlib1g-dev libzstd-dev libopenmpi-dev openmpi-bin libclang-dev clang pkg-config)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The CPython 3.11 that pyopt embeds: a shared-library build (libpython3.11.so).
find_python() {
    local candidate exe
    for candidate in ${PYTHON:-} python3.11 python3; do
        command -v "$candidate" >/dev/null 2>&1 || continue
        exe="$("$candidate" -c 'import sys, sysconfig
if sys.version_info[:2] == (3, 11) and sysconfig.get_config_var("Py_ENABLE_SHARED"):
    print(sys.executable)' 2>/dev/null || true)"
        if [ -n "$exe" ]; then
            echo "$exe"
            return 0
        fi
    done
    die "no CPython 3.11 built with --enable-shared found (tried \$PYTHON, python3.11, python3)"
}

# ensure_apt_packages PACKAGE...: installs those not installed yet.
ensure_apt_packages() {
    local missing=() package
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing apt packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

# ensure_pip_packages PYTHON REQUIREMENTS_FILE: installs what the file lists and is missing.
ensure_pip_packages() {
    local python="$1" requirements="$2"
    if "$python" "$ROOT/scripts/check_requirements.py" "$requirements" 2>/dev/null; then
        return 0
    fi
    log "installing Python packages from ${requirements#"$ROOT/"}"
    "$python" -m pip install -q --disable-pip-version-check -r "$requirements"
}

command -v cargo >/dev/null 2>&1 || die "cargo not found: pyopt needs a Rust toolchain (1.95 or newer)"

PYTHON_EXE="$(find_python)"
export PYO3_PYTHON="$PYTHON_EXE"                   # pin the interpreter pyo3 builds against
PYOPT="$BIN_DIR/pyopt-python"

setup() {
    ensure_apt_packages "${APT_PACKAGES[@]}"
    ensure_pip_packages "$PYTHON_EXE" "$PIP_REQUIREMENTS"
}

build_and_install() {
    log "building pyopt-python (release)"
    (cd "$ROOT" && cargo build --release --locked -p pyopt-runtime --bin pyopt-python)
    mkdir -p "$BIN_DIR"
    if ! cmp -s "$ROOT/target/release/pyopt-python" "$PYOPT"; then
        cp "$ROOT/target/release/pyopt-python" "$PYOPT.tmp.$$"
        mv -f "$PYOPT.tmp.$$" "$PYOPT"
    fi
    case ":$PATH:" in
        *":$BIN_DIR:"*) ;;
        *) log "note: $BIN_DIR is not on PATH; add it to run pyopt-python by name" ;;
    esac
    log "installed $PYOPT"
}
