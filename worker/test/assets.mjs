// Variants of dist/assets for the tests: re-sharded into small pieces (to drive the multi-shard
// streaming path with the real files), or deliberately broken.
// (node --test loads every .mjs under test/: this file defines no tests.)
import { copyFileSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { shardFile } from "../../scripts/assets.mjs";
import { distDir } from "../scripts/miniflare.mjs";

const distAssets = join(distDir, "assets");

export function distManifest() {
  return JSON.parse(readFileSync(join(distAssets, "manifest.json"), "utf8"));
}

async function reassemble(entry, to) {
  const out = createWriteStream(to);
  for (const shard of entry.shards) out.write(readFileSync(join(distAssets, shard.url)));
  await new Promise((resolve, reject) => out.end((e) => (e ? reject(e) : resolve())));
}

/** Copies an entry's shards from dist/assets into `dir` (same urls). */
function copyShards(entry, dir) {
  for (const shard of entry.shards) {
    mkdirSync(dirname(join(dir, shard.url)), { recursive: true });
    copyFileSync(join(distAssets, shard.url), join(dir, shard.url));
  }
}

/** dist/assets with every asset cut into `maxBytes` shards. Returns { dir, manifest, cleanup }. */
export async function reshardedAssets(maxBytes) {
  const dir = mkdtempSync(join(tmpdir(), "edgerec-assets-"));
  const manifest = distManifest();
  for (const key of ["catalog", "model"]) {
    const entry = manifest[key];
    if (!entry) continue;
    const whole = join(dir, `${key}.whole`);
    await reassemble(entry, whole);
    manifest[key] = shardFile(whole, { outDir: join(dir, "assets"), prefix: key, stem: key, name: entry.name, maxBytes });
    rmSync(whole);
  }
  writeFileSync(join(dir, "assets", "manifest.json"), JSON.stringify(manifest));
  return { dir: join(dir, "assets"), manifest, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** dist/assets with the catalog's last shard cut short (the manifest unchanged); `repair()` puts it back. */
export function truncatedCatalogAssets() {
  const dir = mkdtempSync(join(tmpdir(), "edgerec-broken-"));
  const manifest = distManifest();
  copyShards(manifest.catalog, dir);
  const last = manifest.catalog.shards.at(-1);
  truncateSync(join(dir, last.url), last.bytes - 1000);
  writeFileSync(join(dir, "manifest.json"), JSON.stringify({ ...manifest, model: null }));
  const repair = () => copyFileSync(join(distAssets, last.url), join(dir, last.url));
  return { dir, repair, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** dist/assets with one byte of the model flipped (sizes unchanged: only its checksum can tell). */
export function corruptModelAssets() {
  const dir = mkdtempSync(join(tmpdir(), "edgerec-corrupt-"));
  const manifest = distManifest();
  for (const entry of [manifest.catalog, manifest.model]) copyShards(entry, dir);
  const shard = manifest.model.shards[0];
  const bytes = readFileSync(join(dir, shard.url));
  bytes[bytes.length >> 1] ^= 0x55;
  writeFileSync(join(dir, shard.url), bytes);
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
