#!/usr/bin/env bash
# The main job on the default model: fetch it, build the CLI, embed a few board-like texts and
# print each vector's head, its norm, and which texts are closest to each other.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/fetch-model.sh >/dev/null
cargo build --quiet --bin edgerec
texts='Cozy reading nook ideas
Small apartment living room with a reading corner
Easy weeknight vegetarian pasta
Creamy tomato and basil penne
Trail running shoes for rocky terrain
Beginner guide to mountain running'
printf '%s\n' "$texts" | target/debug/edgerec embed --preview
