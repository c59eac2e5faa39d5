// What the model-dependent tests do when dist/ has no edge model: with EDGEREC_WORKER_DEV=1
// (a development build, before the model exists) they are reported as skipped, naming why;
// otherwise they run and fail, so a full build without the model can never look green.
// (node --test loads every .mjs under test/: this file defines no tests.)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { distDir } from "../scripts/miniflare.mjs";

export function modelGate() {
  const manifest = JSON.parse(readFileSync(join(distDir, "assets", "manifest.json"), "utf8"));
  const dev = process.env.EDGEREC_WORKER_DEV === "1";
  const hasModel = Boolean(manifest.model);
  return {
    hasModel,
    dev,
    /** The skip reason for a test that needs the edge model, or false (run it). */
    needsModel: !hasModel && dev ? "EDGEREC_WORKER_DEV=1 and dist/ has no edge model (.cache/assets/all-MiniLM-L6-v2.edgerec)" : false,
    /** The skip reason for a check that only a full (non-dev) build must pass. */
    devReason: (what) => (dev ? `EDGEREC_WORKER_DEV=1 build: ${what} is not required` : false),
  };
}
