// The one asset and manifest contract of www/ and worker/: both builds (www/build.mjs,
// worker/scripts/build.mjs) find their inputs, shard and hash them, and write manifest.json here,
// and both readers (the npm package's browser/assets.js and cloudflare/load.js) read that one
// schema, which `edgerec bundle` writes too (src/served.rs: the same entries and names).
//
// Inputs: pkg/ (scripts/build-wasm.sh: the glue and both wasm builds), the int8 edge model and
// the catalog bundle, the lite model and the catalog it embedded (scripts/build-assets.sh:
// .cache/assets/). Environment:
//   EDGEREC_CATALOG        another catalog bundle
//   EDGEREC_EDGE_MODEL     another int8 edge model
//   EDGEREC_LITE_CATALOG   another lite pair (both, or neither): a catalog the lite model
//   EDGEREC_LITE_MODEL     embedded, and that lite model (`edgerec distill`)
//   EDGEREC_NO_RUST=1    (or the flag --no-rust) skip the two Rust build scripts: package what
//                        pkg/ and the inputs hold now
//
// manifest.json (format 2), every url relative to the manifest itself:
//   { "format": 2, "built_at": "…", "shard_max_bytes": 25165824, "edgerec_version": "0.1.0",
//     "wasm":    { "simd128": Entry, "relaxed": Entry },   // optional: the builds this target
//                                                          // serves (absent: the package's own)
//     "catalog": Entry,
//     "model":   Entry | null,                             // null: catalog pins only
//     "lite":    { "catalog": Entry, "model": Entry },     // optional: the lite model and the
//                                                          // catalog it embedded
//     …a target's own fields (www: "titles": Entry; worker: "worker_version") }
//   Entry = { "name": "movielens.bin", "bytes": 9597532, "sha256": "<64 hex>",
//             "shards": [{ "url": "catalog/catalog-<sha256 prefix>.000", "bytes": …, "sha256": "…" }] }
// A file is the concatenation of its shards, in order; every shard is at most 24 MiB (Workers
// Static Assets refuse files over 25 MiB).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
export const MIB = 1024 * 1024;
/** The largest shard written: 1 MiB under the 25 MiB Static Assets limit. */
export const MAX_SHARD_BYTES = 24 * MIB;
/** What the readers accept (browser/manifest.js, cloudflare/load.js check the same number). */
export const MANIFEST_FORMAT = 2;

/** The two wasm builds in pkg/ (scripts/build-wasm.sh makes both, with one JS glue). */
export const WASM_FILES = Object.freeze({ simd128: "edgerec_bg.wasm", relaxed: "edgerec_relaxed_bg.wasm" });

// Variables of the builds before the shared contract: refused, so a CI job still setting one
// fails instead of silently building something else.
const RETIRED_ENV = {
  EDGEREC_WORKER_DEV: "EDGEREC_NO_RUST=1 (or --no-rust)",
  EDGEREC_WORKER_CATALOG: "EDGEREC_CATALOG",
  EDGEREC_WORKER_MODEL: "EDGEREC_EDGE_MODEL",
};

export class BuildError extends Error {}

/** `{ noRust }` from the command line and the environment; anything unknown is a BuildError. */
export function buildOptions(argv = process.argv.slice(2), env = process.env) {
  for (const [name, instead] of Object.entries(RETIRED_ENV)) {
    if (env[name] !== undefined) throw new BuildError(`${name} is no longer read: use ${instead}`);
  }
  for (const a of argv) if (a !== "--no-rust") throw new BuildError(`unknown argument ${a} (usage: [--no-rust])`);
  const flag = String(env.EDGEREC_NO_RUST ?? "").toLowerCase();
  if (!["", "0", "1", "true", "false", "yes", "no"].includes(flag)) throw new BuildError(`EDGEREC_NO_RUST=${env.EDGEREC_NO_RUST}: use 1 or 0`);
  return { noRust: argv.includes("--no-rust") || ["1", "true", "yes"].includes(flag) };
}

/** Runs scripts/build-wasm.sh and scripts/build-assets.sh, unless `noRust`. */
export function runRustBuilds({ noRust }, say) {
  if (noRust) {
    say("--no-rust: not running scripts/build-wasm.sh or scripts/build-assets.sh");
    return;
  }
  for (const script of ["build-wasm.sh", "build-assets.sh"]) {
    const path = join(repo, "scripts", script);
    if (!existsSync(path)) throw new BuildError(`scripts/${script} does not exist (use --no-rust to package what is already built)`);
    say(`bash scripts/${script}`);
    try {
      execFileSync("bash", [path], { cwd: repo, stdio: "inherit" });
    } catch (e) {
      throw new BuildError(`scripts/${script} failed (exit ${e.status ?? e.signal})`);
    }
  }
}

/**
 * The built inputs, every one required: `{ pkg, glue, wasm: { simd128, relaxed }, catalog, model,
 * lite: { catalog, model } }` (absolute paths). EDGEREC_CATALOG / EDGEREC_EDGE_MODEL replace the
 * default catalog and model, EDGEREC_LITE_CATALOG / EDGEREC_LITE_MODEL the lite pair.
 */
export function locateInputs(env = process.env) {
  const rel = (p) => relative(repo, p) || p;
  const need = (path, hint) => {
    if (!existsSync(path)) throw new BuildError(`${rel(path)} is missing: ${hint}`);
    return path;
  };
  const pkg = join(repo, "pkg");
  const wasmHint = "scripts/build-wasm.sh makes it (or build without --no-rust)";
  const assets = join(repo, ".cache", "assets");
  const assetsHint = (v) => `scripts/build-assets.sh makes it (or set ${v})`;
  return {
    pkg,
    glue: need(join(pkg, "edgerec.js"), wasmHint),
    wasm: {
      simd128: need(join(pkg, WASM_FILES.simd128), wasmHint),
      relaxed: need(join(pkg, WASM_FILES.relaxed), wasmHint),
    },
    catalog: need(env.EDGEREC_CATALOG || join(assets, "movielens.bin"), assetsHint("EDGEREC_CATALOG")),
    model: need(env.EDGEREC_EDGE_MODEL || join(assets, "all-MiniLM-L6-v2.edgerec"), assetsHint("EDGEREC_EDGE_MODEL")),
    lite: liteInputs(env, need, assets, assetsHint),
  };
}

/** The lite pair: both variables or neither (a catalog is queried by the model that embedded it). */
function liteInputs(env, need, assets, hint) {
  if (Boolean(env.EDGEREC_LITE_CATALOG) !== Boolean(env.EDGEREC_LITE_MODEL)) {
    throw new BuildError("set EDGEREC_LITE_CATALOG and EDGEREC_LITE_MODEL together: the lite model and the catalog it embedded");
  }
  return {
    catalog: need(env.EDGEREC_LITE_CATALOG || join(assets, "movielens.lite.bin"), hint("EDGEREC_LITE_CATALOG")),
    model: need(env.EDGEREC_LITE_MODEL || join(assets, "all-MiniLM-L6-v2.lite.edgerec"), hint("EDGEREC_LITE_MODEL")),
  };
}

/** The manifest's `lite` entry: the lite pair sharded into `outDir`. */
export function shardLite(lite, outDir) {
  return {
    catalog: shardFile(lite.catalog, { outDir, prefix: "lite-catalog", stem: "lite-catalog" }),
    model: shardFile(lite.model, { outDir, prefix: "lite-model", stem: "lite-model" }),
  };
}

/** The npm package's version (the crate's: scripts/build-package.mjs checks), or null. */
export function pkgVersion(dir = join(repo, "packages", "edgerec")) {
  try {
    return JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version ?? null;
  } catch {
    return null; // informative only
  }
}

/** SHA-256 of a file, streamed. */
export function sha256File(path) {
  const hash = createHash("sha256");
  const fd = openSync(path, "r");
  const buf = Buffer.allocUnsafe(4 * MIB);
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/**
 * Writes `src` as shards of at most `maxBytes` into `outDir/prefix/`, named
 * `<stem>-<sha256 prefix>.<index>` (content-addressed: a shard of another build can never be
 * taken for one of this build, by a CDN or a browser cache either). Returns its manifest entry,
 * shard urls relative to `outDir` (where the manifest goes).
 */
export function shardFile(src, { outDir, prefix, stem, name = basename(src), maxBytes = MAX_SHARD_BYTES }) {
  if (!(Number.isSafeInteger(maxBytes) && maxBytes > 0 && maxBytes <= MAX_SHARD_BYTES)) {
    throw new BuildError(`shard size ${maxBytes} must be 1..${MAX_SHARD_BYTES} bytes`);
  }
  const bytes = statSync(src).size;
  if (bytes === 0) throw new BuildError(`${src} is empty`);
  const sha256 = sha256File(src);
  const count = Math.ceil(bytes / maxBytes);
  mkdirSync(join(outDir, prefix), { recursive: true });
  const fd = openSync(src, "r");
  const buf = Buffer.allocUnsafe(4 * MIB);
  const shards = [];
  try {
    for (let i = 0; i < count; i++) {
      const url = `${prefix}/${stem}-${sha256.slice(0, 16)}.${String(i).padStart(3, "0")}`;
      const out = openSync(join(outDir, url), "w");
      const hash = createHash("sha256");
      const shardBytes = Math.min(maxBytes, bytes - i * maxBytes);
      let left = shardBytes;
      try {
        while (left > 0) {
          const n = readSync(fd, buf, 0, Math.min(buf.length, left), null);
          if (n === 0) throw new BuildError(`${src} shrank while being read`);
          writeSync(out, buf, 0, n);
          hash.update(buf.subarray(0, n));
          left -= n;
        }
      } finally {
        closeSync(out);
      }
      shards.push({ url, bytes: shardBytes, sha256: hash.digest("hex") });
    }
  } finally {
    closeSync(fd);
  }
  return { name, bytes, sha256, shards };
}

/**
 * The entry of a file served where it is (one shard: `url`, relative to the manifest), e.g. a
 * wasm build beside the manifest's folder. Over MAX_SHARD_BYTES it would need shardFile.
 */
export function describeFile(path, url, name = basename(path)) {
  const bytes = statSync(path).size;
  if (bytes > MAX_SHARD_BYTES) throw new BuildError(`${path} is ${bytes} bytes: over the ${MAX_SHARD_BYTES} byte shard limit`);
  const sha256 = sha256File(path);
  return { name, bytes, sha256, shards: [{ url, bytes, sha256 }] };
}

/** Writes `dir/manifest.json`: the common fields, then `fields` (catalog, model, optional wasm, a target's own). */
export function writeManifest(dir, fields) {
  const manifest = {
    format: MANIFEST_FORMAT,
    built_at: new Date().toISOString(),
    shard_max_bytes: MAX_SHARD_BYTES,
    edgerec_version: pkgVersion(),
    ...fields,
  };
  for (const key of ["catalog", "model"]) {
    if (!(key in manifest)) throw new BuildError(`the manifest needs "${key}"`);
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

/** Every entry of a manifest (wasm builds and the lite pair included), as [key, entry] pairs. */
export function manifestEntries(manifest) {
  const out = [];
  for (const [variant, e] of Object.entries(manifest.wasm ?? {})) if (e) out.push([`wasm.${variant}`, e]);
  for (const [key, e] of Object.entries(manifest.lite ?? {})) if (e) out.push([`lite.${key}`, e]);
  for (const [key, e] of Object.entries(manifest)) {
    if (key !== "wasm" && e && typeof e === "object" && Array.isArray(e.shards)) out.push([key, e]);
  }
  return out;
}

/**
 * Checks every shard the manifest in `dir` lists against the files (size, SHA-256, ≤ 24 MiB) and
 * that the shards add up to their entry. Returns the manifest; throws a BuildError naming the
 * first difference.
 */
export function verifyManifest(dir) {
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  if (manifest.format !== MANIFEST_FORMAT) throw new BuildError(`${dir}/manifest.json is not format ${MANIFEST_FORMAT}`);
  for (const [key, entry] of manifestEntries(manifest)) {
    let total = 0;
    const whole = createHash("sha256");
    for (const shard of entry.shards) {
      const path = join(dir, shard.url);
      const size = existsSync(path) ? statSync(path).size : -1;
      if (size !== shard.bytes) throw new BuildError(`${key}: ${shard.url} is ${size} bytes, the manifest says ${shard.bytes}`);
      if (shard.bytes > MAX_SHARD_BYTES) throw new BuildError(`${key}: ${shard.url} is over ${MAX_SHARD_BYTES} bytes`);
      const data = readFileSync(path); // ≤ 24 MiB
      if (createHash("sha256").update(data).digest("hex") !== shard.sha256) {
        throw new BuildError(`${key}: ${shard.url} does not have the manifest's SHA-256`);
      }
      whole.update(data);
      total += shard.bytes;
    }
    if (total !== entry.bytes) throw new BuildError(`${key}: the shards add up to ${total} bytes, the manifest says ${entry.bytes}`);
    if (whole.digest("hex") !== entry.sha256) throw new BuildError(`${key}: the shards together do not have the manifest's SHA-256`);
  }
  return manifest;
}
