#!/usr/bin/env bash
# Installs what pyopt needs (apt and pip packages), builds pyopt-python and puts it on PATH.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
setup
build_and_install
