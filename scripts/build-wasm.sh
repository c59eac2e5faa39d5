#!/usr/bin/env bash
# Builds pkg/: cargo (wasm32, release + LTO, +simd128 from .cargo/config.toml) → wasm-bindgen
# (--target web) → wasm-opt, twice: pkg/edgerec_bg.wasm (simd128, runs everywhere) and
# pkg/edgerec_relaxed_bg.wasm (the int8 kernels on relaxed-simd: Chrome ≥ 114, Node ≥ 22, workerd).
# Both take the same JS glue (pkg/edgerec.js), checked below. Prints sizes raw and gzipped. Then
# scripts/build-package.mjs completes the npm package (packages/edgerec/) from pkg/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# Cargo's output folder, wherever CARGO_TARGET_DIR (or a config) puts it: a fixed target/ path
# would hand wasm-bindgen a stale module from an earlier build.
target_dir=$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
# Nothing to do when pkg/ was built from exactly these inputs (sources, manifests, toolchain):
# the two variants differ in cargo features, so cargo itself would recompile the crate for each.
inputs_hash=$( { find src -type f | LC_ALL=C sort | xargs sha256sum; sha256sum Cargo.toml Cargo.lock .cargo/config.toml scripts/build-wasm.sh;
  rustc -V; wasm-bindgen --version; node_modules/.bin/wasm-opt --version; } | sha256sum | cut -d' ' -f1)
stamp=pkg/.inputs-sha256
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs_hash" ] \
  && [ -f pkg/edgerec.js ] && [ -f pkg/edgerec_bg.wasm ] && [ -f pkg/edgerec_relaxed_bg.wasm ] && [ -f pkg/package.json ]; then
  echo "pkg/: up to date (built from these sources and toolchain), nothing to build" >&2
  node scripts/build-package.mjs
  exit 0
fi
rm -f "$stamp"
flags=(--enable-simd --enable-bulk-memory --enable-sign-ext --enable-mutable-globals
  --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue)
out=target/wasm-bindgen
mkdir -p pkg "$out"
declare -A pkg_file=([simd128]=edgerec_bg.wasm [relaxed]=edgerec_relaxed_bg.wasm)
declare -A unchanged=()
for variant in simd128 relaxed; do
  features=()
  [ "$variant" = relaxed ] && features=(--features relaxed-simd)
  cargo build --release --target wasm32-unknown-unknown --lib "${features[@]}"
  rm -rf "$out/$variant.new"
  wasm-bindgen --target web --out-dir "$out/$variant.new" --out-name edgerec \
    "$target_dir/wasm32-unknown-unknown/release/edgerec.wasm"
  # wasm-opt takes minutes: skip it when the module is what pkg/ was built from last time.
  if [ -f "pkg/${pkg_file[$variant]}" ] && cmp -s "$out/$variant.new/edgerec_bg.wasm" "$out/$variant/edgerec_bg.wasm"; then
    unchanged[$variant]=1
  fi
  rm -rf "$out/$variant" && mv "$out/$variant.new" "$out/$variant"
done
# Two different modules: the relaxed build really uses relaxed-simd, the simd128 one never does
# (an engine without relaxed-simd must be able to compile it: checked in tests/wasm/builds.test.mjs).
if cmp -s "$out/simd128/edgerec_bg.wasm" "$out/relaxed/edgerec_bg.wasm"; then
  echo "error: the simd128 and relaxed-simd modules are identical (a stale build?)" >&2
  exit 1
fi
# One glue for both modules: the exports and imports must be the same.
if ! cmp -s "$out/simd128/edgerec.js" "$out/relaxed/edgerec.js"; then
  echo "error: the simd128 and relaxed-simd builds need different JS glue" >&2
  diff "$out/simd128/edgerec.js" "$out/relaxed/edgerec.js" | head -20 >&2
  exit 1
fi
cp "$out/simd128/edgerec.js" "$out/simd128/edgerec.d.ts" "$out/simd128/edgerec_bg.wasm.d.ts" pkg/
for variant in simd128 relaxed; do
  if [ -n "${unchanged[$variant]:-}" ]; then
    echo "pkg/${pkg_file[$variant]}: unchanged, wasm-opt skipped" >&2
    continue
  fi
  extra=()
  [ "$variant" = relaxed ] && extra=(--enable-relaxed-simd)
  node_modules/.bin/wasm-opt -O3 "${flags[@]}" "${extra[@]}" "$out/$variant/edgerec_bg.wasm" \
    -o "pkg/${pkg_file[$variant]}"
done
# pkg/ is the build's output, not a package of its own (the npm package is packages/edgerec/,
# completed from it below): this only makes node read its .js files as ES modules.
echo '{ "name": "edgerec-wasm-build", "private": true, "type": "module" }' > pkg/package.json
for f in pkg/edgerec_bg.wasm pkg/edgerec_relaxed_bg.wasm; do
  echo "$f: $(stat -c %s "$f") bytes raw, $(gzip -9 -c "$f" | wc -c) bytes gzip -9" >&2
done
echo "$inputs_hash" > "$stamp"
node scripts/build-package.mjs
