// Starts the built Worker in workerd through Miniflare's API, configured as wrangler.toml says
// (test/build.test.mjs checks that the two agree), offline, on 127.0.0.1.
import { Log, LogLevel, Miniflare } from "miniflare";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const workerDir = join(dirname(fileURLToPath(import.meta.url)), "..");
export const distDir = join(workerDir, "dist");
export const COMPATIBILITY_DATE = "2026-04-01";
export const DEFAULT_VARS = Object.freeze({ EDGEREC_MODEL: "on", LOAD_WAIT_MS: "5000", CORS_ORIGINS: "*" });

/** Keeps wrangler and Miniflare from reaching the network (and wrangler from printing its banner). */
export const OFFLINE_ENV = Object.freeze({
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
  WRANGLER_HIDE_BANNER: "true",
});
Object.assign(process.env, OFFLINE_ENV);

/**
 * For tests that do not test the load wait itself: a LOAD_WAIT_MS no machine reaches, so a cold
 * first request on a slow or busy CI host is never answered 503 `loading`.
 */
export const PATIENT = Object.freeze({ LOAD_WAIT_MS: "600000" });

export function requireDist() {
  for (const f of ["edgerec.js", "edgerec.wasm", "assets/manifest.json"]) {
    if (!existsSync(join(distDir, f))) {
      throw new Error(`worker/dist/${f} is missing: run npm --prefix worker run build`);
    }
  }
}

// The Worker's own modules (every .js under src/), src/index.js first.
function sourceModules() {
  const src = join(workerDir, "src");
  const all = readdirSync(src, { recursive: true }).filter((f) => f.endsWith(".js")).map((f) => join(src, f));
  const entry = join(src, "index.js");
  return [entry, ...all.filter((p) => p !== entry).sort()];
}

/**
 * A Miniflare instance running src/index.js with the assets in `assetsDir` (default
 * dist/assets). `port` 0 picks a free one. Returns { mf, url }.
 *
 * Tests only: `glue` (module source) stands in for dist/edgerec.js, with the real glue importable
 * beside it as `./edgerec_real.js`; `output(text)` receives workerd's stdout and stderr (the
 * Worker's console) instead of this process's.
 */
export async function startWorker({ assetsDir = join(distDir, "assets"), vars = {}, port = 0, log = false, glue = null, output = null } = {}) {
  requireDist();
  const code = glue == null
    ? {
        modules: true,
        scriptPath: join(workerDir, "src", "index.js"),
        modulesRules: [
          { type: "ESModule", include: ["**/*.js"] },
          { type: "CompiledWasm", include: ["**/*.wasm"] },
        ],
      }
    : {
        modules: [
          // index.js first: Miniflare takes the first module as the entry point.
          ...sourceModules().map((path) => ({ type: "ESModule", path })),
          { type: "ESModule", path: join(distDir, "edgerec.js"), contents: glue },
          { type: "ESModule", path: join(distDir, "edgerec_real.js"), contents: readFileSync(join(distDir, "edgerec.js"), "utf8") },
          { type: "CompiledWasm", path: join(distDir, "edgerec.wasm") },
        ],
      };
  const mf = new Miniflare({
    name: "edgerec",
    ...code,
    modulesRoot: workerDir,
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
    ...(output
      ? {
          handleRuntimeStdio(stdout, stderr) {
            stdout.on("data", (d) => output(String(d)));
            stderr.on("data", (d) => output(String(d)));
          },
        }
      : {}),
  });
  const url = await mf.ready;
  if (url.hostname !== "127.0.0.1") throw new Error(`Miniflare listens on ${url.hostname}, not 127.0.0.1`);
  return { mf, url: new URL(url.origin) };
}
