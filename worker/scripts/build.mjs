// `npm --prefix worker run build`: everything the Worker needs, in worker/dist/ (git-ignored).
//
//   1. bash scripts/build-wasm.sh     (pkg/, then the npm package packages/edgerec/ completed from it)
//   2. bash scripts/build-assets.sh   (.cache/assets/: the int8 edge model and the catalog bundle,
//                                      the lite model and the catalog it embedded)
//   3. dist/assets/: the model and the catalog cut into ≤ 24 MiB shards, and manifest.json in the
//      schema of scripts/assets.mjs (what `edgerec bundle` writes too). At load the Worker reads
//      the manifest and checks every shard's size; the SHA-256s are for the build's own test and
//      for people (the Worker does not hash): corruption of the right size is caught by the
//      bundles' own XXH3 checksums when the wasm parses them.
//   4. dist/bundle/: what `wrangler deploy` uploads (`wrangler deploy --dry-run --outdir`): src/index.js
//      with the package `edgerec` (a dependency, like any user's) bundled, and its wasm module.
//
// `-- --no-rust` (or EDGEREC_NO_RUST=1) skips steps 1–2; EDGEREC_CATALOG / EDGEREC_EDGE_MODEL
// point at other inputs (see scripts/assets.mjs).
import { mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { BuildError, MAX_SHARD_BYTES, MIB, buildOptions, locateInputs, manifestEntries, runRustBuilds, shardFile, shardLite, writeManifest } from "../../scripts/assets.mjs";
import { buildPackage, packageDir } from "../../scripts/build-package.mjs";
import { bundleWorker } from "./bundle.mjs";

const workerDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(workerDir, "dist");
const say = (msg) => process.stderr.write(`[worker build] ${msg}\n`);

function build() {
  const options = buildOptions();
  runRustBuilds(options, say);
  const inputs = locateInputs();

  buildPackage(); // also after --no-rust: the package's sources may have changed since
  rmSync(dist, { recursive: true, force: true });
  const assets = join(dist, "assets");
  mkdirSync(assets, { recursive: true });
  const workerPkg = JSON.parse(readFileSync(join(workerDir, "package.json"), "utf8"));
  // No wasm entry: the Worker's wasm is the package's, bundled with it.
  const manifest = writeManifest(assets, {
    worker_version: workerPkg.version ?? "0.0.0",
    catalog: shardFile(inputs.catalog, { outDir: assets, prefix: "catalog", stem: "catalog" }),
    model: shardFile(inputs.model, { outDir: assets, prefix: "model", stem: "model" }),
    lite: shardLite(inputs.lite, assets),
  });
  const bundle = bundleWorker({ outDir: join(dist, "bundle") });
  const wasmBytes = readFileSync(bundle.wasm);
  const wasmGzip = gzipSync(wasmBytes, { level: 9 }).length;

  const mib = (n) => `${(n / MIB).toFixed(2)} MiB`;
  say(`dist/bundle: ${bundle.script} + ${bundle.wasm.slice(dist.length + 1)} (relaxed-simd, ${mib(wasmBytes.length)}, ${mib(wasmGzip)} gzip -9), from ${packageDir}`);
  const entries = manifestEntries(manifest).map(([, e]) => e);
  for (const entry of entries) {
    say(`dist/assets: ${entry.name} ${mib(entry.bytes)} in ${entry.shards.length} shard(s): ${entry.shards.map((s) => s.url).join(", ")}`);
  }
  const biggest = Math.max(...entries.flatMap((e) => e.shards.map((s) => s.bytes)));
  if (biggest > MAX_SHARD_BYTES) throw new BuildError(`a shard is ${biggest} bytes`);
  say(`done (${statSync(join(assets, "manifest.json")).size} byte manifest)`);
}

try {
  build();
} catch (e) {
  if (!(e instanceof BuildError)) throw e;
  say(`error: ${e.message}`);
  process.exit(1);
}
