#!/usr/bin/env bash
# Every test: set-up, native tests (cargo), the wasm build, and the wasm tests in node.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

stage() { printf '\n=== %s (%ss since start)\n' "$1" "$SECONDS" >&2; }

stage "set-up"
scripts/setup.sh

data="${EDGEREC_DATA_DIR:-$root/../shared/data/movielens-small}"
if [ ! -f "$data/items.jsonl" ]; then
  echo "error: the evaluation data is not at $data (set EDGEREC_DATA_DIR)" >&2
  exit 1
fi
export EDGEREC_DATA_DIR="$data"

stage "native tests"
cargo test --all-targets

stage "catalog for the wasm tests (edgerec index on $data)"
mkdir -p target/test-data
target/debug/edgerec index --items "$data/items.jsonl" --boards "$data/boards.jsonl" \
  --out target/test-data/movielens.bin

stage "wasm build"
scripts/build-wasm.sh

stage "wasm tests (node)"
node --test --test-reporter=spec tests/wasm/

stage "all tests passed"
