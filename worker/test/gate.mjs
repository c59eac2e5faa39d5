// The tests run on the full build only: the edge model and the bundle (with the package's
// relaxed-simd wasm) are always in dist/ (the build refuses to make one without them). A dist/ that lacks either (stale, or
// edited by hand) fails the tests that need them, saying what to do; nothing is skipped.
// (node --test loads every .mjs under test/: this file defines no tests.)
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { distDir } from "../scripts/miniflare.mjs";

const REBUILD = "run npm --prefix worker run build (add -- --no-rust to reuse pkg/ and .cache/assets/)";

/** dist/assets/manifest.json, checked to be a full build; throws naming what is missing. */
export function fullBuild() {
  const manifest = JSON.parse(readFileSync(join(distDir, "assets", "manifest.json"), "utf8"));
  if (manifest.format !== 2) throw new Error(`worker/dist is from an older build (manifest format ${manifest.format}): ${REBUILD}`);
  if (!manifest.model) throw new Error(`worker/dist has no edge model (.cache/assets/all-MiniLM-L6-v2.edgerec): ${REBUILD}`);
  if (!existsSync(join(distDir, "bundle", "index.js"))) throw new Error(`worker/dist has no bundle (wrangler deploy --dry-run): ${REBUILD}`);
  return manifest;
}
