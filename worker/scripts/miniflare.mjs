// Starts the built Worker in workerd through Miniflare's API, configured as wrangler.toml says
// (test/build.test.mjs checks that the two agree), offline, on 127.0.0.1.
import { Log, LogLevel, Miniflare } from "miniflare";
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleWorker } from "./bundle.mjs";
import { OFFLINE_ENV } from "./offline.mjs";

export const workerDir = join(dirname(fileURLToPath(import.meta.url)), "..");
export const distDir = join(workerDir, "dist");
export const COMPATIBILITY_DATE = "2026-04-01";
/**
 * The shards' entrypoint (Workers RPC) that a sharded front's service bindings name:
 * edgerec/cloudflare's EdgerecShard, which src/index.js exports.
 */
export const SHARD_ENTRYPOINT = "EdgerecShard";
export const DEFAULT_VARS = Object.freeze({ EDGEREC_MODEL: "on", LOAD_WAIT_MS: "5000", CORS_ORIGINS: "*" });

// Keeps wrangler and Miniflare from reaching the network (and wrangler from printing its banner).
export { OFFLINE_ENV };
Object.assign(process.env, OFFLINE_ENV);

/**
 * For tests that do not test the load wait itself: a LOAD_WAIT_MS no machine reaches, so a cold
 * first request on a slow or busy CI host is never answered 503 `loading`.
 */
export const PATIENT = Object.freeze({ LOAD_WAIT_MS: "600000" });

export function requireDist() {
  for (const f of ["bundle/index.js", "assets/manifest.json"]) {
    if (!existsSync(join(distDir, f))) {
      throw new Error(`worker/dist/${f} is missing: run npm --prefix worker run build`);
    }
  }
  // A bundle built before the last wasm build runs the old wasm: every number measured with it
  // would be the old build's (it happened: a memory run reported the previous build's 110 MB).
  const packaged = join(workerDir, "node_modules", "edgerec", "edgerec_relaxed_bg.wasm");
  const bundled = readdirSync(join(distDir, "bundle")).find((f) => f.endsWith("edgerec_relaxed_bg.wasm"));
  if (existsSync(packaged) && bundled && !readFileSync(packaged).equals(readFileSync(join(distDir, "bundle", bundled)))) {
    throw new Error("worker/dist/bundle holds another wasm than the edgerec package: run npm --prefix worker run build");
  }
}

/** Miniflare's module options for the Worker bundled in `bundleDir` (its index.js and wasm). */
function workerCode(bundleDir) {
  return {
    modules: true,
    scriptPath: join(bundleDir, "index.js"),
    modulesRoot: bundleDir,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
  };
}

/**
 * A Miniflare instance running the built Worker (dist/bundle: src/index.js as wrangler bundles
 * it) with the assets in `assetsDir` (default dist/assets). `port` 0 picks a free one. Returns
 * { mf, url }.
 *
 * Tests only: `glue` (module source) stands in for the package's wasm glue: it can import the
 * real one as "edgerec/wasm"; a Worker entry handing it to `createHandler({ wasm: { glue } })`
 * is bundled with it. `output(text)` receives workerd's stdout and stderr (the Worker's console)
 * instead of this process's.
 */
export async function startWorker({ assetsDir = join(distDir, "assets"), vars = {}, port = 0, log = false, glue = null, output = null } = {}) {
  requireDist();
  let bundleDir = join(distDir, "bundle");
  let cleanup = () => {};
  if (glue != null) {
    // Inside worker/, so that "edgerec/..." resolves to worker/node_modules/edgerec.
    const dir = mkdtempSync(join(workerDir, ".test-entry-"));
    cleanup = () => rmSync(dir, { recursive: true, force: true });
    writeFileSync(join(dir, "glue.js"), glue);
    writeFileSync(
      join(dir, "index.js"),
      'import { createHandler } from "edgerec/cloudflare";\nimport * as glue from "./glue.js";\nexport default createHandler({ wasm: { glue } });\n',
    );
    try {
      bundleDir = dirname(bundleWorker({ entry: join(dir, "index.js"), outDir: join(dir, "bundle") }).script);
    } catch (e) {
      cleanup();
      throw e;
    }
  }
  const code = workerCode(bundleDir);
  const mf = new Miniflare({
    name: "edgerec",
    ...code,
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
  let url;
  try {
    url = await mf.ready;
  } finally {
    cleanup(); // workerd has read the bundle
  }
  if (url.hostname !== "127.0.0.1") throw new Error(`Miniflare listens on ${url.hostname}, not 127.0.0.1`);
  return { mf, url: new URL(url.origin) };
}

/**
 * A module to put between a front and a shard (`startSharded`'s `proxy`): it forwards the
 * shard's RPC steps, until a fetch of "/chaos/down" makes every step fail, "/chaos/hang" never
 * answer, and "/chaos/up" forward again.
 */
export const CHAOS_PROXY = `
import { WorkerEntrypoint } from "cloudflare:workers";
let mode = "up";
async function pass(env, step, args) {
  if (mode === "down") throw new Error("shard down");
  if (mode === "hang") return new Promise(() => {});
  // Copies go on, both ways, and this call's result is disposed: forwarding the front's
  // Uint8Array itself piled up memory in workerd until it stalled (~500 requests of the 1M
  // set, shard 0's isolate near its limit), and an undisposed result holds its call open.
  const result = await env.SHARD[step](...args.map((a) => (a instanceof Uint8Array ? a.slice() : a)));
  try {
    return result instanceof Uint8Array ? result.slice() : structuredClone(result);
  } finally {
    result?.[Symbol.dispose]?.();
  }
}
export class ${SHARD_ENTRYPOINT} extends WorkerEntrypoint {
  describe() { return pass(this.env, "describe", []); }
  lookup(m) { return pass(this.env, "lookup", [m]); }
  candidates(m) { return pass(this.env, "candidates", [m]); }
  more(m) { return pass(this.env, "more", [m]); }
}
export default {
  async fetch(request) {
    const { pathname } = new URL(request.url);
    if (!pathname.startsWith("/chaos/")) return new Response("not found", { status: 404 });
    mode = pathname.slice(7);
    return new Response(mode);
  },
};`;

/**
 * A sharded catalog's Workers in one workerd (Miniflare's `workers`, with service bindings):
 * the front and every shard of `dir` (what build-sharded.mjs wrote), each the built Worker with
 * its own assets; the front's bindings reach the shards' EdgerecShard entrypoint, as the
 * generated wrangler.toml says. `proxy(i)`: a module (source) to put between the front and
 * shard i, bound to that shard's entrypoint as SHARD and exporting one of its own
 * (`CHAOS_PROXY`: tests make a shard fail or hang through it); such a proxy is the Worker
 * `proxy-<i>` (`mf.getWorker`). Returns { mf, url } (the front's URL).
 */
export async function startSharded({ dir, vars = {}, port = 0, proxy = null, output = null } = {}) {
  requireDist();
  const bundleDir = join(distDir, "bundle");
  const code = workerCode(bundleDir);
  const assets = (directory) => ({
    directory,
    binding: "ASSETS",
    routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true },
  });
  const front = JSON.parse(readFileSync(join(dir, "front", "assets", "manifest.json"), "utf8"));
  const shardNames = front.shards.map((s) => `shard-${s.index}`);
  const roleDirs = ["front", ...front.shards.map((s) => `shard-${String(s.index).padStart(3, "0")}`)];
  // Miniflare (4.20260426) serves every Worker's Static Assets from one storage service: all
  // roles share one folder here (hard links to each role's files), each reading its own
  // manifest (EDGEREC_MANIFEST). Deployed, each Worker has its own assets.
  const shared = join(dir, ".miniflare-assets");
  rmSync(shared, { recursive: true, force: true });
  for (const role of roleDirs) linkTree(join(dir, role, "assets"), join(shared, role));
  const workers = [
    {
      name: "front",
      ...code,
      compatibilityDate: COMPATIBILITY_DATE,
      bindings: { ...DEFAULT_VARS, ...vars, EDGEREC_MANIFEST: "front/manifest.json" },
      assets: assets(shared),
      serviceBindings: Object.fromEntries(
        front.shards.map((s, i) => [s.binding, { name: proxy?.(i) ? `proxy-${i}` : shardNames[i], entrypoint: SHARD_ENTRYPOINT }]),
      ),
    },
    ...front.shards.map((s, i) => ({
      name: shardNames[i],
      ...code,
      compatibilityDate: COMPATIBILITY_DATE,
      bindings: { ...DEFAULT_VARS, ...PATIENT, EDGEREC_MANIFEST: `${roleDirs[i + 1]}/manifest.json` },
      assets: assets(shared),
    })),
    ...front.shards.flatMap((_, i) =>
      proxy?.(i)
        ? [
            {
              name: `proxy-${i}`,
              modules: true,
              script: proxy(i),
              compatibilityDate: COMPATIBILITY_DATE,
              serviceBindings: { SHARD: { name: shardNames[i], entrypoint: SHARD_ENTRYPOINT } },
            },
          ]
        : [],
    ),
  ];
  const mf = new Miniflare({
    workers,
    cf: false,
    host: "127.0.0.1",
    port,
    verbose: false,
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

/** Hard links of every file under `from` at the same place under `to`. */
function linkTree(from, to) {
  mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from, { withFileTypes: true })) {
    if (e.isDirectory()) linkTree(join(from, e.name), join(to, e.name));
    else linkSync(join(from, e.name), join(to, e.name));
  }
}
