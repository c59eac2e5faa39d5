#!/usr/bin/env bash
# Builds the files the browser demo, the Worker and the wasm tests load, into .cache/assets/:
#   all-MiniLM-L6-v2.edgerec  the default model as an int8 edge bundle (edgerec quantize)
#   movielens.bin             the movielens catalog bundle (edgerec index; vectors cached)
# Needs the model (scripts/fetch-model.sh) and the dataset (EDGEREC_DATA_DIR or ../shared/data).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
data="${EDGEREC_DATA_DIR:-$root/../shared/data/movielens-small}"
if [ ! -f "$data/items.jsonl" ]; then
  echo "error: the movielens data is not at $data (set EDGEREC_DATA_DIR)" >&2
  exit 1
fi
scripts/fetch-model.sh >/dev/null
cargo build --quiet --bin edgerec
bin=target/debug/edgerec
mkdir -p .cache/assets
$bin quantize .cache/models/all-MiniLM-L6-v2 .cache/assets/all-MiniLM-L6-v2.edgerec
$bin index --items "$data/items.jsonl" --boards "$data/boards.jsonl" --out .cache/assets/movielens.bin
