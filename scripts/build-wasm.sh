#!/usr/bin/env bash
# Builds pkg/: cargo (wasm32, release + LTO, +simd128 from .cargo/config.toml) → wasm-bindgen
# (--target web) → wasm-opt, twice: pkg/edgerec_bg.wasm (simd128, runs everywhere) and
# pkg/edgerec_relaxed_bg.wasm (the int8 kernels on relaxed-simd: Chrome ≥ 114, Node ≥ 22, workerd).
# Both take the same JS glue (pkg/edgerec.js), checked below. Prints sizes raw and gzipped.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

flags=(--enable-simd --enable-bulk-memory --enable-sign-ext --enable-mutable-globals
  --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue)
out=target/wasm-bindgen
rm -rf pkg "$out" && mkdir -p pkg "$out"
for variant in simd128 relaxed; do
  features=()
  [ "$variant" = relaxed ] && features=(--features relaxed-simd)
  cargo build --release --target wasm32-unknown-unknown --lib "${features[@]}"
  wasm-bindgen --target web --out-dir "$out/$variant" --out-name edgerec \
    target/wasm32-unknown-unknown/release/edgerec.wasm
done
# One glue for both modules: the exports and imports must be the same.
if ! cmp -s "$out/simd128/edgerec.js" "$out/relaxed/edgerec.js"; then
  echo "error: the simd128 and relaxed-simd builds need different JS glue" >&2
  diff "$out/simd128/edgerec.js" "$out/relaxed/edgerec.js" | head -20 >&2
  exit 1
fi
cp "$out/simd128/edgerec.js" "$out/simd128/edgerec.d.ts" "$out/simd128/edgerec_bg.wasm.d.ts" pkg/
node_modules/.bin/wasm-opt -O3 "${flags[@]}" "$out/simd128/edgerec_bg.wasm" -o pkg/edgerec_bg.wasm
node_modules/.bin/wasm-opt -O3 "${flags[@]}" --enable-relaxed-simd "$out/relaxed/edgerec_bg.wasm" \
  -o pkg/edgerec_relaxed_bg.wasm
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
    "./edgerec_relaxed_bg.wasm": "./edgerec_relaxed_bg.wasm",
    "./package.json": "./package.json"
  },
  "files": ["edgerec.js", "edgerec.d.ts", "edgerec_bg.wasm", "edgerec_relaxed_bg.wasm", "edgerec_bg.wasm.d.ts"],
  "sideEffects": false
}
JSON
for f in pkg/edgerec_bg.wasm pkg/edgerec_relaxed_bg.wasm; do
  echo "$f: $(stat -c %s "$f") bytes raw, $(gzip -9 -c "$f" | wc -c) bytes gzip -9" >&2
done
