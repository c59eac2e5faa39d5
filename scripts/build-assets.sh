#!/usr/bin/env bash
# Builds the files the browser demo, the Worker and the wasm tests load, into .cache/assets/:
#   all-MiniLM-L6-v2.edgerec  the default model as an int8 edge bundle (edgerec quantize)
#   movielens.bin             the movielens catalog bundle (edgerec index; vectors cached)
#   all-MiniLM-L6-v2.lite.edgerec  the lite model (edgerec distill)
#   movielens.lite.bin        the movielens catalog embedded by the lite model
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
# cargo's own progress shows: on a fresh machine this build takes several minutes.
echo "building the edgerec CLI (cargo; a fresh machine compiles its dependencies once)" >&2
cargo build --bin edgerec
bin=target/debug/edgerec
mkdir -p .cache/assets

# Each file is rebuilt only when its inputs changed (the CLI binary, the model, the data): the
# fit alone takes a minute, and a second demo run with nothing changed should not pay it again.
fresh() { # fresh OUT INPUT...: whether OUT was built from exactly these inputs (then say so)
  local out=$1; shift
  local hash; hash=$(sha256sum "$@" | sha256sum | cut -d' ' -f1)
  if [ -f "$out" ] && [ "$(cat "$out.inputs-sha256" 2>/dev/null)" = "$hash" ]; then
    echo "$out: up to date" >&2
    return 0
  fi
  rm -f "$out.inputs-sha256"
  echo "$hash" > "$out.inputs-sha256.next"
  return 1
}
built() { mv "$1.inputs-sha256.next" "$1.inputs-sha256"; }

mapfile -t model_files < <(find .cache/models/all-MiniLM-L6-v2 -type f | LC_ALL=C sort)
edge=.cache/assets/all-MiniLM-L6-v2.edgerec
if ! fresh "$edge" "$bin" "${model_files[@]}"; then
  $bin quantize .cache/models/all-MiniLM-L6-v2 "$edge"
  built "$edge"
fi
catalog=.cache/assets/movielens.bin
if ! fresh "$catalog" "$bin" "${model_files[@]}" "$data/items.jsonl" "$data/boards.jsonl"; then
  echo "indexing movielens (embedding its items the first time, cached after; fitting the ranker: about a minute)" >&2
  $bin index --items "$data/items.jsonl" --boards "$data/boards.jsonl" --out "$catalog"
  built "$catalog"
fi
lite=.cache/assets/all-MiniLM-L6-v2.lite.edgerec
if ! fresh "$lite" "$bin" "${model_files[@]}"; then
  echo "distilling the lite model (the teacher runs once per vocabulary token: about a minute)" >&2
  $bin distill .cache/models/all-MiniLM-L6-v2 "$lite"
  built "$lite"
fi
lite_catalog=.cache/assets/movielens.lite.bin
if ! fresh "$lite_catalog" "$bin" "$lite" "$data/items.jsonl" "$data/boards.jsonl"; then
  echo "indexing movielens with the lite model (fitting the ranker: about a minute)" >&2
  $bin index --items "$data/items.jsonl" --boards "$data/boards.jsonl" --model "$lite" --out "$lite_catalog"
  built "$lite_catalog"
fi
