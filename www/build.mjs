#!/usr/bin/env node
// Builds www/dist/: the wasm package, the harness, the demo, the benchmark page and the assets
// (model + catalog) with a manifest of their SHA-256 hashes.
//
//   node build.mjs             runs scripts/build-wasm.sh and scripts/build-assets.sh first
//   node build.mjs --no-rust   (or EDGEREC_NO_RUST=1) only copies what is already built: pkg/,
//                              .cache/assets/ (or .cache/catalogs/movielens.bin); no model is fine
//
// Inputs (env overrides): EDGEREC_CATALOG (catalog bundle), EDGEREC_EDGE_MODEL (int8 edge
// model), EDGEREC_DATA_DIR (movielens-small, for the demo's title search).

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, promises as fs, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const www = dirname(fileURLToPath(import.meta.url));
const repo = resolve(www, "..");
const dist = join(www, "dist");
const args = process.argv.slice(2);
const noRust = args.includes("--no-rust") || ["1", "true", "yes"].includes(String(process.env.EDGEREC_NO_RUST ?? "").toLowerCase());
for (const a of args) if (a !== "--no-rust") fail(`unknown argument ${a} (usage: node build.mjs [--no-rust])`);

function fail(msg) {
  console.error(`build: ${msg}`);
  process.exit(1);
}

function run(script) {
  const path = join(repo, "scripts", script);
  if (!existsSync(path)) fail(`scripts/${script} does not exist yet (use --no-rust to package what is already built)`);
  console.error(`build: bash scripts/${script}`);
  const r = spawnSync("bash", [path], { cwd: repo, stdio: "inherit" });
  if (r.status !== 0) fail(`scripts/${script} failed (exit ${r.status ?? r.signal})`);
}

async function sha256(file) {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk);
  return h.digest("hex");
}

async function copyDir(from, to, filter = () => true) {
  await fs.mkdir(to, { recursive: true });
  for (const e of await fs.readdir(from, { withFileTypes: true })) {
    if (e.isDirectory()) await copyDir(join(from, e.name), join(to, e.name), filter);
    else if (filter(e.name)) await fs.copyFile(join(from, e.name), join(to, e.name));
  }
}

/** Copies a file into dist/ and describes it for the manifest (url relative to the manifest). */
async function asset(src, destRel, urlFromManifest) {
  const dest = join(dist, destRel);
  await fs.mkdir(dirname(dest), { recursive: true });
  await fs.copyFile(src, dest);
  const { size } = await fs.stat(dest);
  return { url: urlFromManifest, sha256: await sha256(dest), bytes: size };
}

const first = (...paths) => paths.find((p) => p && existsSync(p)) ?? null;

// 1. Rust → pkg/ and the assets.
if (!noRust) {
  run("build-wasm.sh");
  run("build-assets.sh");
}

// 2. Inputs.
const pkg = join(repo, "pkg");
for (const f of ["edgerec.js", "edgerec_bg.wasm"]) {
  if (!existsSync(join(pkg, f))) fail(`pkg/${f} is missing: run scripts/build-wasm.sh (or the build without --no-rust)`);
}
const assets = join(repo, ".cache", "assets");
const catalog = first(process.env.EDGEREC_CATALOG, join(assets, "movielens.bin"), noRust && join(repo, ".cache", "catalogs", "movielens.bin"));
if (!catalog) fail("no catalog bundle: .cache/assets/movielens.bin is missing (scripts/build-assets.sh makes it)");
const model = first(process.env.EDGEREC_EDGE_MODEL, join(assets, "all-MiniLM-L6-v2.edgerec"));
if (!model && !noRust) fail("no edge model: .cache/assets/all-MiniLM-L6-v2.edgerec is missing (scripts/build-assets.sh makes it)");
const dataDir = process.env.EDGEREC_DATA_DIR || resolve(repo, "..", "shared", "data", "movielens-small");
const itemsJsonl = join(dataDir, "items.jsonl");
if (!existsSync(itemsJsonl)) fail(`${itemsJsonl} is missing (set EDGEREC_DATA_DIR): the demo's search needs the movie titles`);

// 3. dist/: pkg, harness, demo, bench.
await fs.rm(dist, { recursive: true, force: true });
await copyDir(pkg, join(dist, "pkg"), (name) => /\.(js|d\.ts|wasm|json)$/.test(name));
await copyDir(join(www, "src"), join(dist, "src"));
await fs.copyFile(join(www, "demo", "index.html"), join(dist, "index.html"));
await copyDir(join(www, "demo"), join(dist, "demo"), (name) => name !== "index.html");
await copyDir(join(www, "bench", "page"), join(dist, "bench"));

// 4. Assets and the manifest.
const manifest = { version: 1 };
manifest.catalog = await asset(catalog, "assets/movielens.bin", "movielens.bin");
if (model) manifest.model = await asset(model, `assets/${basename(model)}`, basename(model));
const wasmEntry = async (name) => {
  const p = join(dist, "pkg", name);
  if (!existsSync(p)) return undefined;
  return { url: `../pkg/${name}`, sha256: await sha256(p), bytes: (await fs.stat(p)).size };
};
manifest.wasm = { simd128: await wasmEntry("edgerec_bg.wasm") };
const relaxed = await wasmEntry("edgerec_relaxed_bg.wasm");
if (relaxed) manifest.wasm.relaxed = relaxed;
try {
  manifest.pkgVersion = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")).version;
} catch {
  // pkg/package.json is optional
}

// The demo's title search: [[id, title, "tag, tag, tag"], ...] from the catalog's items.jsonl.
const titles = [];
for (const line of readFileSync(itemsJsonl, "utf8").split("\n")) {
  if (!line.trim()) continue;
  const it = JSON.parse(line);
  titles.push([String(it.id), String(it.title), (it.tags ?? []).slice(0, 4).join(", ")]);
}
await fs.writeFile(join(dist, "assets", "titles.json"), JSON.stringify(titles));
manifest.titles = { url: "titles.json", bytes: (await fs.stat(join(dist, "assets", "titles.json"))).size };
await fs.writeFile(join(dist, "assets", "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");

// 5. Summary.
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
console.log(`build: www/dist ready${noRust ? " (--no-rust: packaged the existing pkg/ and assets)" : ""}`);
console.log(`  wasm     simd128 ${mb(manifest.wasm.simd128.bytes)}${relaxed ? `, relaxed ${mb(relaxed.bytes)}` : " (no relaxed-simd build in pkg/)"}`);
console.log(`  catalog  ${mb(manifest.catalog.bytes)}  sha256 ${manifest.catalog.sha256.slice(0, 16)}…  (${catalog})`);
console.log(model ? `  model    ${mb(manifest.model.bytes)}  sha256 ${manifest.model.sha256.slice(0, 16)}…  (${model})` : "  model    none (catalog pins only; free-text pins disabled)");
console.log(`  titles   ${titles.length} movies`);
console.log("serve it:  node www/serve.mjs   (or npm --prefix www run serve)");
