// Splits an asset into shards of at most `maxBytes` (Workers Static Assets refuse files over
// 25 MiB; we stay at 24 MiB), hashing the whole file and each shard with SHA-256 as it goes.
// Used by the build (scripts/build.mjs) and by the tests (to re-shard into small pieces).
import { createHash } from "node:crypto";
import { openSync, readSync, writeSync, closeSync, statSync, mkdirSync } from "node:fs";
import { join } from "node:path";

export const MIB = 1024 * 1024;
/** The largest shard we write: 1 MiB under the 25 MiB Static Assets limit. */
export const MAX_SHARD_BYTES = 24 * MIB;

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
 * Writes `src` as shards into `outDir`, named `<stem>-<sha256 prefix>.<index>` (content-addressed,
 * so a shard of another build can never be mistaken for this one). Returns the manifest entry:
 * `{ name, size, sha256, shards: [{ path, size, sha256 }] }`, `path` relative to the assets root
 * (`prefix` is the folder inside it).
 */
export function shardFile(src, { outDir, prefix, stem, name, maxBytes = MAX_SHARD_BYTES }) {
  if (!(maxBytes > 0 && maxBytes <= MAX_SHARD_BYTES)) {
    throw new Error(`shard size ${maxBytes} must be 1..${MAX_SHARD_BYTES} bytes`);
  }
  const size = statSync(src).size;
  if (size === 0) throw new Error(`${src} is empty`);
  const sha256 = sha256File(src);
  const count = Math.ceil(size / maxBytes);
  mkdirSync(join(outDir, prefix), { recursive: true });
  const fd = openSync(src, "r");
  const buf = Buffer.allocUnsafe(4 * MIB);
  const shards = [];
  try {
    for (let i = 0; i < count; i++) {
      const path = `${prefix}/${stem}-${sha256.slice(0, 16)}.${String(i).padStart(3, "0")}`;
      const out = openSync(join(outDir, path), "w");
      const hash = createHash("sha256");
      let left = Math.min(maxBytes, size - i * maxBytes);
      const shardSize = left;
      try {
        while (left > 0) {
          const n = readSync(fd, buf, 0, Math.min(buf.length, left), null);
          if (n === 0) throw new Error(`${src} shrank while being read`);
          writeSync(out, buf, 0, n);
          hash.update(buf.subarray(0, n));
          left -= n;
        }
      } finally {
        closeSync(out);
      }
      shards.push({ path, size: shardSize, sha256: hash.digest("hex") });
    }
  } finally {
    closeSync(fd);
  }
  return { name, size, sha256, shards };
}
