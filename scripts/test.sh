#!/usr/bin/env bash
# Every test: set-up, native tests (cargo), the wasm build, and the wasm tests in node.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

stage() { printf '\n=== %s (%ss since start)\n' "$1" "$SECONDS" >&2; }

stage "set-up"
scripts/setup.sh

stage "native tests"
cargo test --all-targets

stage "wasm build"
scripts/build-wasm.sh

stage "wasm tests (node)"
node --test --test-reporter=spec tests/wasm/

stage "all tests passed"
