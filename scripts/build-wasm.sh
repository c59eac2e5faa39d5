#!/usr/bin/env bash
# Builds pkg/: cargo (wasm32, release + LTO, +simd128 from .cargo/config.toml) → wasm-bindgen
# (--target web) → wasm-opt. Prints the .wasm size raw and gzipped.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

cargo build --release --target wasm32-unknown-unknown --lib
rm -rf pkg && mkdir -p pkg
wasm-bindgen --target web --out-dir pkg --out-name edgerec \
  target/wasm32-unknown-unknown/release/edgerec.wasm
# The feature flags name what rustc's wasm32 target emits by default, plus simd128.
node_modules/.bin/wasm-opt -O3 \
  --enable-simd --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
  --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
  pkg/edgerec_bg.wasm -o pkg/edgerec_bg.wasm
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
cat > pkg/package.json <<JSON
{
  "name": "edgerec",
  "version": "$version",
  "type": "module",
  "main": "./edgerec.js",
  "types": "./edgerec.d.ts",
  "exports": {
    ".": { "types": "./edgerec.d.ts", "default": "./edgerec.js" },
    "./edgerec_bg.wasm": "./edgerec_bg.wasm",
    "./package.json": "./package.json"
  },
  "files": ["edgerec.js", "edgerec.d.ts", "edgerec_bg.wasm", "edgerec_bg.wasm.d.ts"],
  "sideEffects": false
}
JSON
raw=$(stat -c %s pkg/edgerec_bg.wasm)
gz=$(gzip -9 -c pkg/edgerec_bg.wasm | wc -c)
echo "pkg/edgerec_bg.wasm: $raw bytes raw, $gz bytes gzip -9" >&2
