// Starts the built Worker in workerd through Miniflare's API, configured as wrangler.toml says
// (test/config.test.mjs checks that the two agree), offline, on 127.0.0.1.
import { Log, LogLevel, Miniflare } from "miniflare";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const workerDir = join(dirname(fileURLToPath(import.meta.url)), "..");
export const distDir = join(workerDir, "dist");
export const COMPATIBILITY_DATE = "2026-04-01";
export const DEFAULT_VARS = Object.freeze({ EDGEREC_MODEL: "on", LOAD_WAIT_MS: "5000" });

// Keep wrangler and Miniflare from reaching the network.
process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
process.env.WRANGLER_SEND_METRICS = "false";
process.env.WRANGLER_SEND_ERROR_REPORTS = "false";

export function requireDist() {
  for (const f of ["edgerec.js", "edgerec.wasm", "assets/manifest.json"]) {
    if (!existsSync(join(distDir, f))) {
      throw new Error(`worker/dist/${f} is missing: run npm --prefix worker run build`);
    }
  }
}

/**
 * A Miniflare instance running src/index.js with the assets in `assetsDir` (default
 * dist/assets). `port` 0 picks a free one. Returns { mf, url }.
 */
export async function startWorker({ assetsDir = join(distDir, "assets"), vars = {}, port = 0, log = false } = {}) {
  requireDist();
  const mf = new Miniflare({
    name: "edgerec",
    modules: true,
    scriptPath: join(workerDir, "src", "index.js"),
    modulesRoot: workerDir,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: { ...DEFAULT_VARS, ...vars },
    assets: {
      directory: assetsDir,
      binding: "ASSETS",
      routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true },
    },
    cf: false,
    host: "127.0.0.1",
    port,
    verbose: false,
    ...(log ? { log: new Log(LogLevel.DEBUG) } : {}),
  });
  const url = await mf.ready;
  if (url.hostname !== "127.0.0.1") throw new Error(`Miniflare listens on ${url.hostname}, not 127.0.0.1`);
  return { mf, url: new URL(url.origin) };
}
