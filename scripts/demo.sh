#!/usr/bin/env bash
# The main job on the default model: fetch it, build the CLI, index the movielens catalog beside
# the repository (embedding ~9,700 items the first time, cached after), then recommend for two
# boards — one of catalog movies, one of free text — and print the results with their reasons.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
data="${EDGEREC_DATA_DIR:-$root/../shared/data/movielens-small}"
scripts/fetch-model.sh >/dev/null
cargo build --quiet --bin edgerec
bin=target/debug/edgerec

echo "== embedding a few board-like texts"
printf '%s\n' "Cozy reading nook ideas" "Small apartment living room with a reading corner" \
  "Easy weeknight vegetarian pasta" "Creamy tomato and basil penne" | $bin embed --preview

mkdir -p .cache/catalogs
catalog=.cache/catalogs/movielens.bin
if [ ! -f "$catalog" ] || [ "$data/items.jsonl" -nt "$catalog" ]; then
  echo "== indexing $data (first run embeds the catalog, then it is cached)"
  $bin index --items "$data/items.jsonl" --boards "$data/boards.jsonl" --out "$catalog"
fi

echo "== recommendations for the board \"Pixar night\" (catalog pins) with a free-text board beside it"
$bin recommend --catalog "$catalog" --table <<'JSON'
{
  "boards": [
    { "name": "Pixar night", "pins": [ {"id": "1"}, {"id": "3114"}, {"id": "2355"}, {"id": "6377"} ] },
    { "name": "Someday", "pins": [ {"title": "Astronauts stranded on Mars", "tags": ["space", "survival"]} ] }
  ],
  "target_board": "Pixar night",
  "k": 8
}
JSON
echo "== and for the free-text board alone"
$bin recommend --catalog "$catalog" --table <<'JSON'
{ "boards": [ { "name": "Someday", "pins": [ {"title": "Astronauts stranded on Mars", "tags": ["space", "survival"]} ] } ], "k": 5 }
JSON
