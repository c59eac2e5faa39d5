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
import { MAX_SHARD_BYTES, MIB, sha256File, shardFile } from "../scripts/shard.mjs";
import { modelGate } from "./gate.mjs";

requireDist();
const manifest = JSON.parse(readFileSync(join(distDir, "assets", "manifest.json"), "utf8"));
const gate = modelGate();

test("every shard in dist/assets matches the manifest (size, SHA-256, ≤ 24 MiB) and nothing else is there", () => {
  const listed = new Set(["manifest.json"]);
  for (const entry of [manifest.catalog, manifest.model].filter(Boolean)) {
    let total = 0;
    for (const shard of entry.shards) {
      const path = join(distDir, "assets", shard.path);
      assert.equal(statSync(path).size, shard.size, shard.path);
      assert.ok(shard.size <= MAX_SHARD_BYTES, `${shard.path} is ${shard.size} bytes`);
      assert.equal(sha256File(path), shard.sha256, shard.path);
      total += shard.size;
      listed.add(shard.path);
    }
    assert.equal(total, entry.size, entry.name);
  }
  const onDisk = readdirSync(join(distDir, "assets"), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath ?? d.path, d.name).slice(join(distDir, "assets").length + 1));
  assert.deepEqual(onDisk.sort(), [...listed].sort());
  assert.equal(sha256File(join(distDir, "edgerec.wasm")), manifest.wasm.sha256);
});

test("the Worker gets the relaxed-simd wasm build", { skip: gate.devReason("the relaxed-simd build") }, () => {
  assert.equal(manifest.wasm.variant, "relaxed-simd");
});

test("sharding: pieces of at most N bytes that concatenate back to the file", () => {
  const dir = mkdtempSync(join(tmpdir(), "edgerec-shard-"));
  try {
    const src = join(dir, "blob.bin");
    const data = Buffer.alloc(5 * MIB + 123);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    writeFileSync(src, data);
    const entry = shardFile(src, { outDir: join(dir, "out"), prefix: "x", stem: "blob", name: "blob.bin", maxBytes: 2 * MIB });
    assert.deepEqual(entry.shards.map((s) => s.size), [2 * MIB, 2 * MIB, MIB + 123]);
    const back = Buffer.concat(entry.shards.map((s) => readFileSync(join(dir, "out", s.path))));
    assert.ok(back.equals(data));
    assert.equal(entry.sha256, sha256File(src));
    assert.throws(() => shardFile(src, { outDir: dir, prefix: "y", stem: "b", name: "b", maxBytes: 25 * MIB }), /must be 1\.\./);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
