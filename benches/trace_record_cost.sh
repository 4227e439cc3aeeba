#!/usr/bin/env bash
# What recording one trace event costs (issue 7 item 1: at most 50 ns): builds and runs
# trace/examples/record_cost.rs; pass a file to also write the markdown table there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
table=$(cargo run --quiet --release --locked -p pyopt-trace --example record_cost)
echo "$table"
if [[ $# -gt 0 ]]; then
    printf '%s\n' "$table" > "$1"
fi
