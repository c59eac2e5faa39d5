// The Web Worker's side of the catalog and model files: where their bytes come from (the Cache
// API, the network shard by shard, or the page) and where they go (a `WasmBytes` in wasm memory),
// hashed (SHA-256) and size-checked on the way. See www/README.md in the repository, "The manifest and the cache"
// and "Memory".

import { Sha256 } from "./sha256.js";
import { EdgerecError } from "./errors.js";

const CACHE_PREFIX = "/.edgerec-cache/";
const PROGRESS_INTERVAL_MS = 30;

/**
 * What the page sends for a file (URLs absolute: the page resolved them). `id` names the file
 * across versions (a manifest entry: the manifest's URL and the entry's key; else its URL): a
 * new version kept in the cache replaces the old one with the same id.
 * @typedef {{ id: string, sha256: string | null, bytes: number | null, shards: { url: string, bytes: number | null }[] }} RemoteSpec
 * @typedef {RemoteSpec | { data: Uint8Array | null }} AssetSpec
 * @typedef {{ value: any, source: "cache" | "network" | "memory", key: string | null, dispose(): void,
 *             keep?: () => Promise<void>, drop?: () => Promise<void> }} LoadedAsset
 */

export function progress(phase, loaded, total, source) {
  self.postMessage({ type: "progress", phase, loaded, total, source });
}

/** Calls `progress` at most every PROGRESS_INTERVAL_MS, plus always the first and last call. */
export function throttled(phase, total, source) {
  let last = -Infinity;
  return (loaded, final = false) => {
    const now = performance.now();
    if (final || now - last >= PROGRESS_INTERVAL_MS) {
      last = now;
      progress(phase, loaded, total, source);
    }
  };
}

/** fetch() that turns failures into load_failed; with `allow404`, a 404 returns null. */
export async function fetchOk(url, allow404 = false, init = undefined) {
  let res;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw new EdgerecError("load_failed", `cannot fetch ${url}: ${err.message}`);
  }
  if (allow404 && res.status === 404) return null;
  if (!res.ok) throw new EdgerecError("load_failed", `GET ${url}: HTTP ${res.status}`);
  return res;
}

// ---------------------------------------------------------------------------------------------
// the Cache API

export async function openCache(name) {
  if (name === false || typeof caches === "undefined") return null; // no Cache API: insecure context
  try {
    const cache = await caches.open(name);
    await sweepTemporaries(cache);
    return cache;
  } catch {
    return null; // storage disabled (e.g. some private modes): load from the network every time
  }
}

export const finalKey = (sha) => new URL(`${CACHE_PREFIX}sha256/${sha}`, self.location.origin).href;
export const tmpKey = (sha) =>
  new URL(`${CACHE_PREFIX}tmp/${Date.now()}/${sha}/${Math.random().toString(36).slice(2)}`, self.location.origin).href;

/** Drops half-written downloads left by a tab that closed mid-way (older than an hour). */
async function sweepTemporaries(cache) {
  const prefix = new URL(`${CACHE_PREFIX}tmp/`, self.location.origin).href;
  for (const req of await cache.keys()) {
    if (!req.url.startsWith(prefix)) continue;
    const started = Number(req.url.slice(prefix.length).split("/")[0]);
    if (!(Date.now() - started < 3600e3)) await cache.delete(req).catch(() => {});
  }
}

/** Moves a verified download from its temporary entry to its hash key, and forgets older
 *  versions of the same file (same id). Best effort: the cache never fails a load. */
export async function keep(cache, tmp, sha, id) {
  try {
    const key = finalKey(sha);
    const sha256Prefix = new URL(`${CACHE_PREFIX}sha256/`, self.location.origin).href;
    await cache.put(key, await cache.match(tmp));
    await cache.delete(tmp);
    for (const req of await cache.keys()) {
      if (req.url === key || !req.url.startsWith(sha256Prefix)) continue;
      const r = await cache.match(req);
      if (r && r.headers.get("x-edgerec-url") === id) await cache.delete(req);
    }
  } catch {
    // the cache is best effort
  }
}

// ---------------------------------------------------------------------------------------------
// loading one file

/**
 * Loads one file into wasm memory: from the page's bytes, else from the cache (by its SHA-256),
 * else from the network.
 * @param {string} phase  progress phase ("catalog" | "model")
 * @param {AssetSpec} spec
 * @param {Cache | null} cache
 * @param {any} glue  the wasm-bindgen module (for WasmBytes)
 * @returns {Promise<LoadedAsset>}
 */
export async function loadAsset(phase, spec, cache, glue) {
  if (spec.data) {
    const data = spec.data;
    progress(phase, 0, data.length, "memory");
    const sink = makeSink(glue, data.length);
    const CHUNK = 1 << 20;
    for (let off = 0; off < data.length; off += CHUNK) sink.push(data.subarray(off, off + CHUNK));
    progress(phase, data.length, data.length, "memory");
    return sink.finish("memory", null); // init() drops spec.data (see dropBytes)
  }
  const sha = spec.sha256 || null;
  if (cache && sha) {
    const key = finalKey(sha);
    let hit = null;
    try {
      hit = await cache.match(key);
    } catch {
      hit = null;
    }
    if (hit) {
      const total = spec.bytes ?? (Number(hit.headers.get("x-edgerec-bytes")) || null);
      const sink = makeSink(glue, total, spec.bytes != null);
      try {
        await pump(hit.body, sink, throttled(phase, total, "cache"));
        return sink.finish("cache", key);
      } catch (err) {
        sink.dispose();
        // Unreadable (load_failed) or the wrong size (integrity_error when the spec gave the
        // size): forget the entry and use the network, which checks the size again.
        if (err instanceof EdgerecError && err.code !== "load_failed" && err.code !== "integrity_error") throw err;
        await cache.delete(key).catch(() => {}); // best effort: the error to report is the download's
      }
    }
  }
  return download(phase, spec, cache, glue);
}

/**
 * The file's shards as one body, in order: the first is fetched now (its headers give the size
 * when the spec does not), each next one when the one before has been read to its end. A shard
 * whose size the spec gives is checked against it by content-length before reading and while
 * streaming: another size is an `integrity_error`.
 * @param {RemoteSpec} spec
 */
async function openShards(spec) {
  const open = async (shard) => {
    const res = await fetchOk(shard.url, false, { cache: "no-store" }); // the Cache API keeps it, not HTTP
    const length = Number(res.headers.get("content-length")) || null;
    // content-length counts the encoded bytes of a content-encoded response: no size from it
    const plainLength = res.headers.get("content-encoding") ? null : length;
    if (shard.bytes != null && plainLength != null && plainLength !== shard.bytes) {
      res.body?.cancel().catch(() => {});
      throw new EdgerecError("integrity_error", `${shard.url} is ${plainLength} bytes, expected ${shard.bytes}`);
    }
    return { reader: res.body.getReader(), length: plainLength };
  };
  const first = await open(spec.shards[0]);
  let index = 0;
  let reader = first.reader;
  let got = 0;
  const body = new ReadableStream({
    async pull(ctl) {
      for (;;) {
        const shard = spec.shards[index];
        const { done, value } = await reader.read();
        if (!done) {
          got += value.length;
          if (shard.bytes != null && got > shard.bytes) {
            reader.cancel().catch(() => {});
            throw new EdgerecError("integrity_error", `${shard.url}: more than the expected ${shard.bytes} bytes`);
          }
          ctl.enqueue(value);
          return;
        }
        if (shard.bytes != null && got !== shard.bytes) {
          throw new EdgerecError("integrity_error", `${shard.url}: got ${got} bytes, expected ${shard.bytes}`);
        }
        if (++index === spec.shards.length) {
          ctl.close();
          return;
        }
        ({ reader } = await open(spec.shards[index]));
        got = 0;
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { body, firstLength: first.length };
}

/** Downloads, hashes and (with a cache and a known hash) stores a file. */
async function download(phase, spec, cache, glue) {
  const { body: whole, firstLength } = await openShards(spec);
  // The size: the spec's (a mismatch is an integrity_error), else the one shard's response's.
  const total = spec.bytes ?? (spec.shards.length === 1 ? firstLength : null);
  const sink = makeSink(glue, total, spec.bytes != null);
  const sha = spec.sha256 || null;
  const hasher = sha ? new Sha256() : null;
  let stored = null;
  let body = whole;
  if (cache && sha) {
    const [mine, theirs] = body.tee();
    body = mine;
    const tmp = tmpKey(sha);
    const headers = {
      "content-type": "application/octet-stream",
      "x-edgerec-url": spec.id,
      "x-edgerec-sha256": sha,
      ...(total != null ? { "x-edgerec-bytes": String(total) } : {}),
    };
    // A failed put (quota) must not fail the load: the file is still used, just not kept.
    stored = cache.put(tmp, new Response(theirs, { headers })).then(() => tmp, () => null);
  }
  try {
    await pump(body, sink, throttled(phase, total, "network"), hasher);
  } catch (err) {
    sink.dispose();
    if (stored) stored.then((tmp) => tmp && cache.delete(tmp)).catch(() => {});
    throw err;
  }
  const tmp = stored ? await stored : null;
  if (hasher) {
    const got = hasher.hex();
    if (got !== sha.toLowerCase()) {
      sink.dispose();
      if (tmp) await cache.delete(tmp).catch(() => {}); // must not replace the integrity_error
      throw new EdgerecError("integrity_error", `${spec.shards[0].url}${spec.shards.length > 1 ? ` (+${spec.shards.length - 1} shards)` : ""} has SHA-256 ${got}, expected ${sha}`);
    }
  }
  let result;
  try {
    result = sink.finish("network", null);
  } catch (err) {
    sink.dispose();
    if (tmp) await cache.delete(tmp).catch(() => {});
    throw err;
  }
  if (tmp) {
    // Only bytes that matched the hash *and* that the wasm accepted ever sit under the hash key:
    // init() calls keep() after building the recommender, or drop() when that failed.
    result.keep = () => keep(cache, tmp, sha, spec.id);
    result.drop = () => cache.delete(tmp).catch(() => {});
  }
  return result;
}

/** Reads a body into a sink, reporting bytes and feeding the hasher. */
async function pump(body, sink, report, hasher = null) {
  const reader = body.getReader();
  let loaded = 0;
  report(0);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      sink.push(value);
      if (hasher) hasher.update(value);
      loaded += value.length;
      report(loaded);
    }
  } catch (err) {
    reader.cancel().catch(() => {}); // stop the download (or cache read): it is not wanted now
    if (err instanceof EdgerecError) throw err;
    throw new EdgerecError("load_failed", `download interrupted: ${err.message}`);
  } finally {
    reader.releaseLock();
  }
  report(loaded, true);
}

/**
 * Where the bytes of a file go: a `WasmBytes` in wasm memory. `total` is the expected size, or
 * null when unknown; `exact` says it came from the spec or manifest (`bytes`): a body of another
 * size is then an `integrity_error`, else (a size the response or a cache entry declared) a
 * `load_failed`.
 *
 * - size known: `new WasmBytes(total)`, every chunk pushed straight into wasm memory; no JS copy
 *   of the file.
 * - size unknown: the chunks are kept in JS until the last one, then copied into a `WasmBytes`
 *   of the final size (each chunk let go as it is copied): for that moment the file is in
 *   memory twice.
 */
function makeSink(glue, total, exact = false) {
  const code = exact ? "integrity_error" : "load_failed";
  let n = 0;
  const free = (wb) => { if (wb && wb.__wbg_ptr) wb.free(); };
  if (total != null) {
    let wb = new glue.WasmBytes(total);
    return {
      push(chunk) {
        if (n + chunk.length > total) throw new EdgerecError(code, `more than the expected ${total} bytes`);
        wb.push(chunk);
        n += chunk.length;
      },
      finish(source, key) {
        if (n !== total) throw new EdgerecError(code, `got ${n} bytes, expected ${total}`);
        const value = wb;
        wb = null;
        return { value, source, key, dispose: () => free(value) };
      },
      dispose() {
        free(wb);
        wb = null;
      },
    };
  }
  let chunks = [];
  return {
    push(chunk) {
      chunks.push(chunk);
      n += chunk.length;
    },
    finish(source, key) {
      const parts = chunks;
      chunks = null;
      const wb = new glue.WasmBytes(n);
      try {
        for (let i = 0; i < parts.length; i++) {
          wb.push(parts[i]);
          parts[i] = null;
        }
      } catch (err) {
        free(wb);
        throw err;
      }
      return { value: wb, source, key, dispose: () => free(wb) };
    },
    dispose() {
      chunks = null;
    },
  };
}
