#!/usr/bin/env bash
# The main job: set up, build, install, then run the demo under pyopt-python.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup
build_and_install
log "running examples/demo.py under pyopt-python"
exec "$PYOPT" "$ROOT/examples/demo.py" "$@"
