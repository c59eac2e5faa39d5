// The build output (worker/dist/) against its manifest, the sharding, and the wrangler config:
// what `wrangler deploy` would upload, bundled offline (--dry-run), and its size limits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { unstable_readConfig } from "wrangler";
import { COMPATIBILITY_DATE, DEFAULT_VARS, OFFLINE_ENV, distDir, requireDist, workerDir } from "../scripts/miniflare.mjs";
import { MAX_SHARD_BYTES, MIB, buildOptions, locateInputs, manifestEntries, sha256File, shardFile, verifyManifest } from "../../scripts/assets.mjs";
import { fullBuild } from "./gate.mjs";
import { packageDir } from "../../scripts/build-package.mjs";

requireDist();
const manifest = fullBuild();

test("every shard in dist/assets matches the manifest (size, SHA-256, ≤ 24 MiB) and nothing else is there", () => {
  const listed = new Set(["manifest.json"]);
  assert.ok(manifest.lite?.catalog && manifest.lite?.model, "the lite pair is deployed beside the int8 one");
  for (const [, entry] of manifestEntries(manifest)) {
    let total = 0;
    for (const shard of entry.shards) {
      const path = join(distDir, "assets", shard.url);
      assert.equal(statSync(path).size, shard.bytes, shard.url);
      assert.ok(shard.bytes <= MAX_SHARD_BYTES, `${shard.url} is ${shard.bytes} bytes`);
      assert.equal(sha256File(path), shard.sha256, shard.url);
      total += shard.bytes;
      listed.add(shard.url);
    }
    assert.equal(total, entry.bytes, entry.name);
  }
  const onDisk = readdirSync(join(distDir, "assets"), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath ?? d.path, d.name).slice(join(distDir, "assets").length + 1));
  assert.deepEqual(onDisk.sort(), [...listed].sort());
  // The whole files too (the shards together), through the contract's own check.
  assert.doesNotThrow(() => verifyManifest(join(distDir, "assets")));
});

test("the Worker bundles the package's relaxed-simd build; the manifest lists the assets only, in the shared schema", () => {
  assert.equal(manifest.wasm, undefined, "the wasm is bundled with the Worker, not an asset");
  const bundled = readdirSync(join(distDir, "bundle")).filter((f) => f.endsWith(".wasm"));
  assert.equal(bundled.length, 1, bundled.join(", "));
  assert.equal(sha256File(join(distDir, "bundle", bundled[0])), sha256File(join(packageDir, "edgerec_relaxed_bg.wasm")));
  assert.equal(manifest.format, 2);
  assert.ok(manifest.lite?.catalog && manifest.lite?.model, "the lite pair is deployed beside the int8 one");
  for (const [, entry] of manifestEntries(manifest)) {
    assert.deepEqual(Object.keys(entry).sort(), ["bytes", "name", "sha256", "shards"]);
    for (const shard of entry.shards) assert.deepEqual(Object.keys(shard).sort(), ["bytes", "sha256", "url"]);
  }
});

test("src/index.js is a user's Worker: the package's handler, imported by its package name", () => {
  const src = readFileSync(join(workerDir, "src", "index.js"), "utf8");
  assert.match(src, /from "edgerec\/cloudflare"/);
  assert.doesNotMatch(src, /from "\.{1,2}\//, "no relative imports: everything comes from the package");
  assert.equal(JSON.parse(readFileSync(join(workerDir, "package.json"), "utf8")).dependencies.edgerec, "file:../packages/edgerec");
});

test("sharding: pieces of at most N bytes that concatenate back to the file", () => {
  const dir = mkdtempSync(join(tmpdir(), "edgerec-shard-"));
  try {
    const src = join(dir, "blob.bin");
    const data = Buffer.alloc(5 * MIB + 123);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    writeFileSync(src, data);
    const entry = shardFile(src, { outDir: join(dir, "out"), prefix: "x", stem: "blob", name: "blob.bin", maxBytes: 2 * MIB });
    assert.deepEqual(entry.shards.map((s) => s.bytes), [2 * MIB, 2 * MIB, MIB + 123]);
    const back = Buffer.concat(entry.shards.map((s) => readFileSync(join(dir, "out", s.url))));
    assert.ok(back.equals(data));
    assert.equal(entry.sha256, sha256File(src));
    assert.throws(() => shardFile(src, { outDir: dir, prefix: "y", stem: "b", name: "b", maxBytes: 25 * MIB }), /must be 1\.\./);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("www and the Worker share one set of build options; the Worker's old variables are refused", () => {
  assert.deepEqual(buildOptions([], {}), { noRust: false });
  assert.deepEqual(buildOptions(["--no-rust"], {}), { noRust: true });
  assert.deepEqual(buildOptions([], { EDGEREC_NO_RUST: "1" }), { noRust: true });
  assert.deepEqual(buildOptions([], { EDGEREC_NO_RUST: "0" }), { noRust: false });
  assert.throws(() => buildOptions([], { EDGEREC_NO_RUST: "maybe" }), /use 1 or 0/);
  assert.throws(() => buildOptions(["--dev"], {}), /unknown argument --dev/);
  assert.throws(() => buildOptions([], { EDGEREC_WORKER_DEV: "1" }), /EDGEREC_NO_RUST=1/);
  assert.throws(() => buildOptions([], { EDGEREC_WORKER_MODEL: "m" }), /EDGEREC_EDGE_MODEL/);
  assert.throws(() => buildOptions([], { EDGEREC_WORKER_CATALOG: "c" }), /EDGEREC_CATALOG/);
  assert.throws(() => locateInputs({ EDGEREC_CATALOG: "/nonexistent/catalog.bin" }), /catalog\.bin is missing/);
  assert.throws(() => locateInputs({ EDGEREC_EDGE_MODEL: "/nonexistent/model.edgerec" }), /model\.edgerec is missing/);
});

test("wrangler.toml says what the test harness runs (compatibility date, vars, assets, wasm rule)", () => {
  const config = unstable_readConfig({ config: join(workerDir, "wrangler.toml") });
  assert.equal(config.main, join(workerDir, "src", "index.js"));
  assert.equal(config.compatibility_date, COMPATIBILITY_DATE);
  assert.deepEqual(config.vars, DEFAULT_VARS);
  assert.equal(config.assets.binding, "ASSETS");
  assert.equal(resolve(workerDir, config.assets.directory), join(workerDir, "dist", "assets"));
  assert.equal(config.assets.run_worker_first, true);
  assert.ok(config.rules.some((r) => r.type === "CompiledWasm" && r.globs.includes("**/*.wasm")));
});

test("wrangler bundles the Worker offline (deploy --dry-run) within the Worker size limits", async () => {
  const out = mkdtempSync(join(tmpdir(), "edgerec-bundle-"));
  try {
    const { stdout } = await promisify(execFile)(
      join(workerDir, "node_modules", ".bin", "wrangler"),
      ["deploy", "--dry-run", "--outdir", out],
      {
        cwd: workerDir,
        env: { ...process.env, ...OFFLINE_ENV },
        timeout: 60_000,
      },
    );
    assert.match(stdout, /--dry-run: exiting now/);
    assert.match(stdout, /env\.ASSETS/);
    const files = readdirSync(out).filter((f) => !f.endsWith(".map") && f !== "README.md");
    assert.ok(files.some((f) => f.endsWith(".wasm")), files.join(", "));
    const bytes = Buffer.concat(files.map((f) => readFileSync(join(out, f))));
    const gzip = gzipSync(bytes, { level: 9 }).length;
    // 64 MiB is the Worker size limit today; older limits were 3 MB (Free) / 10 MB (Paid) gzipped.
    assert.ok(bytes.length < 64 * MIB, `bundle is ${bytes.length} bytes`);
    assert.ok(gzip < 3 * 1000 * 1000, `bundle is ${gzip} bytes gzipped`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
