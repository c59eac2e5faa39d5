#!/usr/bin/env bash
# The main job on the default model: fetch it, quantize it into the int8 edge model, index the
# movielens catalog beside the repository (embedding ~9,700 items the first time, cached after),
# recommend for a board of catalog movies (in a context that also holds a free-text board: other
# boards weigh only what the catalog's ranker learned for them, often nothing) and then for the
# free-text board alone, and print the results with their reasons; then build the wasm package and
# the browser demo and serve it on http://127.0.0.1:8080/ (PORT=... to change; Ctrl-C stops it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
stage() { printf '\n== %s (%ss since start)\n' "$1" "$SECONDS"; }
stage "set-up: toolchain targets, npm tools, the model (scripts/setup.sh)"
scripts/setup.sh
stage "the int8 edge model and the movielens catalog (scripts/build-assets.sh)"
scripts/build-assets.sh
bin=target/debug/edgerec
model=.cache/assets/all-MiniLM-L6-v2.edgerec
catalog=.cache/assets/movielens.bin

stage "embedding a few board-like texts with the int8 edge model ($model)"
printf '%s\n' "Cozy reading nook ideas" "Small apartment living room with a reading corner" \
  "Easy weeknight vegetarian pasta" "Creamy tomato and basil penne" | $bin embed --model "$model" --preview

stage "recommendations for the board \"Pixar night\" (catalog pins; the free-text board beside it weighs what the ranker learned for other boards)"
$bin recommend --catalog "$catalog" --model "$model" --table <<'JSON'
{
  "boards": [
    { "name": "Pixar night", "pins": [ {"id": "1"}, {"id": "3114"}, {"id": "2355"}, {"id": "6377"} ] },
    { "name": "Someday", "pins": [ {"title": "Astronauts stranded on Mars", "tags": ["space", "survival"]} ] }
  ],
  "target_board": "Pixar night",
  "k": 8
}
JSON
stage "and for the free-text board alone"
$bin recommend --catalog "$catalog" --model "$model" --table <<'JSON'
{ "boards": [ { "name": "Someday", "pins": [ {"title": "Astronauts stranded on Mars", "tags": ["space", "survival"]} ] } ], "k": 5 }
JSON

stage "the browser demo: the wasm package (scripts/build-wasm.sh; unchanged sources build nothing), harness and page"
scripts/build-wasm.sh
EDGEREC_DEMO_SERVES=1 node www/build.mjs --no-rust
stage "serving the demo (Ctrl-C stops it)"
exec node www/serve.mjs "${PORT:-8080}"
