#!/usr/bin/env node
// Builds www/dist/: the npm package edgerec (the harness and the wasm, in dist/pkg/ as a page
// without a bundler serves it; the demo imports it by name through an import map), the demo, the
// benchmark page, and the assets
// (model + catalog, in ≤ 24 MiB shards) with manifest.json: the contract of scripts/assets.mjs,
// which the Worker's build writes too.
//
//   node build.mjs             runs scripts/build-wasm.sh and scripts/build-assets.sh first
//   node build.mjs --no-rust   (or EDGEREC_NO_RUST=1) packages what pkg/ and .cache/assets/ hold
//
// Inputs: EDGEREC_CATALOG, EDGEREC_EDGE_MODEL, EDGEREC_LITE_CATALOG, EDGEREC_LITE_MODEL (see scripts/assets.mjs); EDGEREC_DATA_DIR
// (movielens-small, for the demo's title search).

import { existsSync, promises as fs, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { displayTitle } from "./demo/titles.js";
import { BuildError, WASM_FILES, buildOptions, describeFile, locateInputs, runRustBuilds, shardFile, shardLite, writeManifest } from "../scripts/assets.mjs";
import { buildPackage, packageDir } from "../scripts/build-package.mjs";

const www = dirname(fileURLToPath(import.meta.url));
const repo = resolve(www, "..");
const dist = join(www, "dist");
const say = (msg) => console.error(`build: ${msg}`);

async function copyDir(from, to, filter = () => true) {
  await fs.mkdir(to, { recursive: true });
  for (const e of await fs.readdir(from, { withFileTypes: true })) {
    if (e.isDirectory()) await copyDir(join(from, e.name), join(to, e.name), filter);
    else if (filter(e.name)) await fs.copyFile(join(from, e.name), join(to, e.name));
  }
}

async function build() {
  const options = buildOptions();
  runRustBuilds(options, say);
  const inputs = locateInputs();
  const dataDir = process.env.EDGEREC_DATA_DIR || resolve(repo, "..", "shared", "data", "movielens-small");
  const itemsJsonl = join(dataDir, "items.jsonl");
  if (!existsSync(itemsJsonl)) throw new BuildError(`${itemsJsonl} is missing (set EDGEREC_DATA_DIR): the demo's search needs the movie titles`);

  // dist/: the package, demo, bench.
  buildPackage(); // also after --no-rust: the package's sources may have changed since
  await fs.rm(dist, { recursive: true, force: true });
  await copyDir(packageDir, join(dist, "pkg"), (name) => /\.(js|d\.ts|wasm|json)$/.test(name));
  await fs.copyFile(join(www, "demo", "index.html"), join(dist, "index.html"));
  await copyDir(join(www, "demo"), join(dist, "demo"), (name) => name !== "index.html");
  await copyDir(join(www, "bench", "page"), join(dist, "bench"));

  // The demo's title search: [[id, title as people write it, "tag, tag, tag", catalog title],
  // ...] from the catalog's items.jsonl (the catalog's form is searched too, and named in reasons).
  const assets = join(dist, "assets");
  await fs.mkdir(assets, { recursive: true });
  const titles = [];
  for (const line of readFileSync(itemsJsonl, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const it = JSON.parse(line);
    const title = String(it.title);
    titles.push([String(it.id), displayTitle(title), (it.tags ?? []).slice(0, 4).join(", "), title]);
  }
  await fs.writeFile(join(assets, "titles.json"), JSON.stringify(titles));

  // The wasm builds are served from dist/pkg/ as they are (the harness compiles one while it
  // streams); the catalog and the model are sharded into dist/assets/.
  const manifest = writeManifest(assets, {
    wasm: Object.fromEntries(
      Object.entries(WASM_FILES).map(([variant, file]) => [variant, describeFile(join(dist, "pkg", file), `../pkg/${file}`)]),
    ),
    catalog: shardFile(inputs.catalog, { outDir: assets, prefix: "catalog", stem: "catalog" }),
    model: shardFile(inputs.model, { outDir: assets, prefix: "model", stem: "model" }),
    lite: shardLite(inputs.lite, assets),
    titles: describeFile(join(assets, "titles.json"), "titles.json"),
  });

  const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
  const line = (e, from) => `${mb(e.bytes)} in ${e.shards.length} shard(s)  sha256 ${e.sha256.slice(0, 16)}…  (${from})`;
  console.log(`build: www/dist ready${options.noRust ? " (--no-rust: packaged the existing pkg/ and assets)" : ""}`);
  console.log(`  wasm     simd128 ${mb(manifest.wasm.simd128.bytes)}, relaxed ${mb(manifest.wasm.relaxed.bytes)}`);
  console.log(`  catalog  ${line(manifest.catalog, inputs.catalog)}`);
  console.log(`  model    ${line(manifest.model, inputs.model)}`);
  console.log(`  lite     model ${line(manifest.lite.model, inputs.lite.model)}; catalog ${line(manifest.lite.catalog, inputs.lite.catalog)}`);
  console.log(`  titles   ${titles.length} movies`);
  // scripts/demo.sh serves it right after, on its own port: it says so itself.
  if (!process.env.EDGEREC_DEMO_SERVES) console.log("serve it:  node www/serve.mjs   (or npm --prefix www run serve)");
}

try {
  await build();
} catch (e) {
  if (!(e instanceof BuildError)) throw e;
  say(e.message);
  process.exit(1);
}
