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

stage "style: cargo fmt --check, cargo clippy -D warnings, rustdoc -D warnings"
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
# The public API's docs build without a broken or private intra-doc link.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --lib --quiet

# Before the native tests: tests/lite.rs checks the CLI's lite bundle (and bundles the pair).
stage "assets: the int8 edge model, the lite model and the movielens catalogs (scripts/build-assets.sh)"
scripts/build-assets.sh

stage "native tests"
cargo test --all-targets

stage "wasm build"
scripts/build-wasm.sh

stage "wasm tests (node 22: both wasm builds, simd128 and relaxed-simd)"
node_modules/.bin/node --test --test-reporter=spec tests/wasm/*.test.mjs

stage "browser: harness, demo and Web Worker in headless Chromium (www/)"
node www/build.mjs --no-rust
npm --prefix www test

stage "Cloudflare Worker in workerd (worker/)"
npm --prefix worker run build -- --no-rust
npm --prefix worker test

stage "npm package: the tarball in a fresh Vite app (Chromium) and a fresh wrangler project, and its types (tests/package/)"
node --test --test-reporter=spec tests/package/*.test.mjs

# Last: its verify build shares target/ and leaves target/debug/edgerec built from the packaged
# copy (the next `cargo build` rebuilds it from the checkout).
stage "the crate packages offline (cargo package: its metadata, include list, and a build of what it ships)"
cargo package --offline --allow-dirty --quiet

stage "all tests passed"
