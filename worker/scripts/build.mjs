// `npm --prefix worker run build`: everything the Worker needs, in worker/dist/ (git-ignored).
//
//   1. bash scripts/build-wasm.sh     (pkg/: the wasm-bindgen --target web package)
//   2. bash scripts/build-assets.sh   (.cache/assets/: the int8 edge model and the catalog bundle)
//   3. dist/edgerec.js + dist/edgerec.wasm (the relaxed-simd build when there is one)
//   4. dist/assets/: the model and the catalog cut into ≤ 24 MiB shards, and manifest.json
//      (names, sizes, SHA-256 of every file and shard). At load the Worker reads the manifest
//      and checks every shard's size; the SHA-256s are for the build's own test and for people
//      (the Worker does not hash): corruption of the right size is caught by the bundles' own
//      XXH3 checksums when the wasm parses them.
//
// EDGEREC_WORKER_DEV=1 skips steps 1–2 (use pkg/ and .cache/ as they are), accepts the simd128
// build, the catalog in .cache/catalogs/ and a missing model (the Worker then serves catalog
// pins only). EDGEREC_WORKER_MODEL / EDGEREC_WORKER_CATALOG point at other files.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { MAX_SHARD_BYTES, MIB, sha256File, shardFile } from "./shard.mjs";

const workerDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const root = join(workerDir, "..");
const dist = join(workerDir, "dist");
const dev = process.env.EDGEREC_WORKER_DEV === "1";
const say = (msg) => process.stderr.write(`[worker build] ${msg}\n`);

function fail(msg) {
  say(`error: ${msg}`);
  process.exit(1);
}

function runScript(name) {
  const path = join(root, "scripts", name);
  if (!existsSync(path)) fail(`scripts/${name} does not exist (set EDGEREC_WORKER_DEV=1 to use pkg/ and .cache/ as they are)`);
  say(`bash scripts/${name}`);
  execFileSync("bash", [path], { cwd: root, stdio: "inherit" });
}

function firstExisting(paths) {
  return paths.find((p) => p && existsSync(p));
}

if (dev) {
  say("EDGEREC_WORKER_DEV=1: not running scripts/build-wasm.sh or scripts/build-assets.sh");
} else {
  runScript("build-wasm.sh");
  runScript("build-assets.sh");
}

// --- wasm + glue -------------------------------------------------------------------------------
const pkg = join(root, "pkg");
const glue = join(pkg, "edgerec.js");
if (!existsSync(glue)) fail("pkg/edgerec.js is missing: run bash scripts/build-wasm.sh");
const relaxed = join(pkg, "edgerec_relaxed_bg.wasm");
const simd128 = join(pkg, "edgerec_bg.wasm");
let wasmSrc, variant;
if (existsSync(relaxed)) {
  [wasmSrc, variant] = [relaxed, "relaxed-simd"];
} else if (existsSync(simd128) && dev) {
  say("warning: pkg/edgerec_relaxed_bg.wasm is missing; using the simd128 build");
  [wasmSrc, variant] = [simd128, "simd128"];
} else {
  fail("pkg/edgerec_relaxed_bg.wasm is missing (scripts/build-wasm.sh makes it)");
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "assets"), { recursive: true });
copyFileSync(glue, join(dist, "edgerec.js"));
copyFileSync(wasmSrc, join(dist, "edgerec.wasm"));
const wasmBytes = readFileSync(wasmSrc);
const wasmGzip = gzipSync(wasmBytes, { level: 9 }).length;

// --- assets ------------------------------------------------------------------------------------
const assetsDir = join(root, ".cache", "assets");
const catalogSrc = firstExisting([
  process.env.EDGEREC_WORKER_CATALOG,
  join(assetsDir, "movielens.bin"),
  dev ? join(root, ".cache", "catalogs", "movielens.bin") : undefined,
]);
if (!catalogSrc) fail(`no catalog bundle at ${relative(root, join(assetsDir, "movielens.bin"))} (scripts/build-assets.sh makes it)`);
const modelSrc = firstExisting([process.env.EDGEREC_WORKER_MODEL, join(assetsDir, "all-MiniLM-L6-v2.edgerec")]);
if (!modelSrc && !dev) fail(`no edge model at ${relative(root, join(assetsDir, "all-MiniLM-L6-v2.edgerec"))} (scripts/build-assets.sh makes it)`);
if (!modelSrc) say("warning: no edge model: the Worker will answer /v1/embed and text pins with model_unavailable");

const outAssets = join(dist, "assets");
const catalog = shardFile(catalogSrc, { outDir: outAssets, prefix: "catalog", stem: "catalog", name: basename(catalogSrc) });
const model = modelSrc
  ? shardFile(modelSrc, { outDir: outAssets, prefix: "model", stem: "model", name: basename(modelSrc) })
  : null;

const workerPkg = JSON.parse(readFileSync(join(workerDir, "package.json"), "utf8"));
const manifest = {
  format: 1,
  worker_version: workerPkg.version ?? "0.0.0",
  built_at: new Date().toISOString(),
  shard_max_bytes: MAX_SHARD_BYTES,
  wasm: { file: "edgerec.wasm", variant, size: wasmBytes.length, gzip_size: wasmGzip, sha256: sha256File(wasmSrc) },
  catalog,
  model,
};
writeFileSync(join(outAssets, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");

// --- summary -----------------------------------------------------------------------------------
const mib = (n) => `${(n / MIB).toFixed(2)} MiB`;
say(`dist/edgerec.wasm  ${variant}, ${mib(wasmBytes.length)} (${mib(wasmGzip)} gzip -9)`);
for (const entry of [catalog, model].filter(Boolean)) {
  say(`dist/assets: ${entry.name} ${mib(entry.size)} in ${entry.shards.length} shard(s): ${entry.shards.map((s) => s.path).join(", ")}`);
}
const biggest = Math.max(...[catalog, model].filter(Boolean).flatMap((e) => e.shards.map((s) => s.size)));
if (biggest > MAX_SHARD_BYTES) fail(`a shard is ${biggest} bytes`);
say(`done (${statSync(join(outAssets, "manifest.json")).size} byte manifest)`);

function basename(p) {
  return p.split("/").pop();
}
