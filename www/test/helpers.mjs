// Shared by the browser tests and the benchmark: the built site (www/dist), the static server
// with a request log, and headless Chromium (Debian's, driven by playwright-core).

import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BUILT_FILES, packageDir } from "../../scripts/build-package.mjs";
import { chromium } from "playwright-core";
import { startServer } from "../serve.mjs";

export const www = join(dirname(fileURLToPath(import.meta.url)), "..");
export const dist = join(www, "dist");
export const output = join(www, "test-output");
export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

// The flags from the project's field notes, plus precise performance.memory for the benchmark.
export const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--enable-precise-memory-info",
];

/** Throws unless www/dist is built and its harness and demo match the package and www/demo. */
export function checkDist() {
  const hint = "run `npm --prefix www run build` (or `node www/build.mjs --no-rust`) first";
  if (!existsSync(join(dist, "assets", "manifest.json"))) throw new Error(`www/dist is not built: ${hint}`);
  const pairs = [
    ...readdirSync(join(packageDir, "browser")).map((f) => [join(packageDir, "browser", f), join(dist, "pkg", "browser", f)]),
    ...BUILT_FILES.map((f) => [join(packageDir, f), join(dist, "pkg", f)]),
    [join(www, "demo", "index.html"), join(dist, "index.html")],
    [join(www, "demo", "app.js"), join(dist, "demo", "app.js")],
    [join(www, "demo", "style.css"), join(dist, "demo", "style.css")],
    ...readdirSync(join(www, "bench", "page")).map((f) => [join(www, "bench", "page", f), join(dist, "bench", f)]),
  ];
  for (const [src, built] of pairs) {
    if (!existsSync(built) || !readFileSync(src).equals(readFileSync(built))) {
      throw new Error(`www/dist is stale (${built.slice(www.length + 1)} differs from its source): ${hint}`);
    }
  }
}

export function manifest() {
  return JSON.parse(readFileSync(join(dist, "assets", "manifest.json"), "utf8"));
}

/**
 * Starts the static server on `port` (default 0: a free one; `url` says which) with a log of
 * every request it answers: `log` is an array of { method, path, status }. `delivery`: see
 * startServer (send some files slowly, or without a content-length).
 */
export async function serve(port = 0, { delivery } = {}) {
  const log = [];
  const srv = await startServer({ root: dist, port, delivery, onRequest: (method, path, status) => log.push({ method, path, status }) });
  return { ...srv, log };
}

/**
 * A `delivery` for serve(): requests with `?slow` come in 256 KiB pieces 40 ms apart (download
 * progress can be seen), with `?nolength` without a content-length (the size only the body
 * tells); both may be combined.
 */
export function queryDelivery(req) {
  const q = new URL(req.url, "http://x").searchParams;
  if (!q.has("slow") && !q.has("nolength")) return null;
  return { chunkBytes: 256 * 1024, delayMs: q.has("slow") ? 40 : 0, noLength: q.has("nolength") };
}

/** A fresh Chromium profile (empty HTTP cache and Cache API) as a persistent context. */
export async function launch(options = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get update && apt-get install -y chromium`);
  const profile = mkdtempSync(join(tmpdir(), "edgerec-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    ...options,
  });
  // Every request the browser makes, pages and workers alike, as Chromium reports them.
  const requests = [];
  context.on("request", (r) => requests.push(r.url()));
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, requests, close };
}

/** Console errors and page errors, to assert a page ran clean. */
export function watchErrors(page) {
  const errors = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
  return errors;
}

export function outputDir() {
  mkdirSync(output, { recursive: true });
  return output;
}

/** Paths of the model's and the catalog's shards, in a server log or a list of URLs. */
export function assetPaths() {
  const m = manifest();
  return [m.catalog, m.model].flatMap((e) => e.shards.map((s) => `/assets/${s.url}`));
}
