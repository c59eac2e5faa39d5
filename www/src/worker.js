// The dedicated Web Worker that owns the wasm instance. The page talks to it only through
// src/edgerec.js: messages `{ id, op, ... }` in, `{ id, ok, result | error }` and
// `{ type: "progress", phase, loaded, total, source }` out.
//
// Loading: the .wasm is compiled while it streams; the catalog and model stream chunk by chunk
// into wasm memory (`WasmBytes`, when the pkg/ build has it) while being hashed (SHA-256), so no
// full JS copy of them is made when their size is known in advance (see makeSink, and
// www/README.md "Memory" for the exceptions). Files with a known SHA-256 are kept in the Cache API
// under their hash and read back from there on the next load without a network request.

import { Sha256 } from "./sha256.js";
import { EdgerecError, toWire } from "./errors.js";
import { relaxedSimdSupported, simd128Supported } from "./simd.js";

const CACHE_PREFIX = "/.edgerec-cache/";
const PROGRESS_INTERVAL_MS = 30;

/** @type {any} the wasm-bindgen module (pkg/edgerec.js) */
let glue = null;
/** @type {any} the instance's exports (for its memory) */
let wasmExports = null;
/** @type {any} the wasm Recommender */
let recommender = null;
/** Set once the instance trapped: every later call fails with this. */
let broken = null;
/** Set (synchronously) by the first init message: a worker is initialised once. */
let initStarted = false;

/** The wasm-bindgen module's import, started by the page's `prepare` message. */
let glueImport = null;
function importGlue(url) {
  glueImport ??= import(url).catch((err) => {
    throw new EdgerecError("load_failed", `cannot import ${url}: ${err.message}`);
  });
  glueImport.catch(() => {}); // reported by init
  return glueImport;
}

self.onmessage = async (ev) => {
  const { id, op } = ev.data;
  if (op === "prepare") { // no reply: a head start on loading the glue
    importGlue(ev.data.pkg);
    return;
  }
  try {
    if (broken) throw broken;
    let result, transfer = [];
    if (op === "init") {
      // Set before the first await, so a second init message that arrives while the first is
      // still loading is refused too.
      if (initStarted) throw new EdgerecError("invalid_input", "init can only be called once per worker");
      initStarted = true;
      result = await init(ev.data.options);
    } else {
      if (!recommender) throw new EdgerecError("invalid_input", "not initialised");
      if (op === "recommend") {
        const t0 = performance.now();
        const out = recommender.recommend(ev.data.context);
        result = { out, ms: performance.now() - t0 };
      } else if (op === "embed") {
        let v = recommender.embed(ev.data.texts);
        if (v.buffer === wasmExports.memory.buffer) v = v.slice(); // never transfer wasm memory
        result = v;
        transfer = [v.buffer];
      } else if (op === "stats") {
        result = stats();
      } else {
        throw new EdgerecError("invalid_input", `unknown operation ${op}`);
      }
    }
    self.postMessage({ id, ok: true, result }, transfer);
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError && !broken) {
      broken = new EdgerecError("worker_failed", `the wasm instance trapped and cannot be used again: ${err.message}`);
    }
    self.postMessage({ id, ok: false, error: toWire(err) });
  }
};

function stats() {
  const mem = /** @type {any} */ (self.performance).memory;
  return {
    wasmMemoryBytes: wasmExports.memory.buffer.byteLength,
    workerJsHeapBytes: mem ? mem.usedJSHeapSize : null,
  };
}

function progress(phase, loaded, total, source) {
  self.postMessage({ type: "progress", phase, loaded, total, source });
}

/** Calls `progress` at most every PROGRESS_INTERVAL_MS, plus always the first and last call. */
function throttled(phase, total, source) {
  let last = -Infinity;
  return (loaded, final = false) => {
    const now = performance.now();
    if (final || now - last >= PROGRESS_INTERVAL_MS) {
      last = now;
      progress(phase, loaded, total, source);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// init

/**
 * @param {{
 *   pkg: string,
 *   wasm: { simd128: string, relaxed?: string | null },
 *   simd: "auto" | "relaxed" | "simd128",
 *   catalog: AssetSpec,
 *   model: AssetSpec | null,
 *   cache: string | false,
 * }} o  (URLs are absolute: the page resolved them)
 */
async function init(o) {
  const wasmChoice = await loadWasm(o);
  const cache = await openCache(o.cache);
  const canStream = typeof glue.WasmBytes === "function";
  if (o.model && !(glue.Encoder && typeof glue.Encoder.fromEdgeBundle === "function")) {
    throw new EdgerecError("unsupported", "this build of pkg/ cannot load an edge model (it has no Encoder.fromEdgeBundle)");
  }

  // Load both files (concurrently); if a file read from the cache turns out corrupt when the
  // wasm parses it, drop that cache entry and load it again from the network, once.
  let sources;
  for (let attempt = 0; ; attempt++) {
    const [cat, mod] = await Promise.all([
      loadAsset("catalog", o.catalog, cache, canStream),
      o.model ? loadAsset("model", o.model, cache, canStream) : null,
    ]);
    sources = { catalog: cat.source, model: mod ? mod.source : null };
    // Bytes passed in (structured-cloned into this worker) are in wasm memory now: drop this
    // worker's copy before the wasm parses them, unless the other file came from the cache (a
    // corrupt entry there means loading both again, once): then once the wasm accepted both.
    const mayRetry = attempt === 0 && (cat.source === "cache" || (mod && mod.source === "cache"));
    if (!mayRetry) dropBytes(o);
    progress("init", 0, 1, null);
    try {
      let encoder, encoderModelId = null;
      try {
        if (mod) {
          encoder = glue.Encoder.fromEdgeBundle(mod.value);
          encoderModelId = encoder.modelId;
        }
        recommender = canStream && cat.value instanceof glue.WasmBytes
          ? glue.Recommender.fromBundle(cat.value, encoder)
          : new glue.Recommender(cat.value, encoder);
      } finally {
        // Whatever was not moved into wasm objects is freed (a moved handle has no pointer).
        cat.dispose();
        if (mod) mod.dispose();
        if (encoder && encoder.__wbg_ptr) encoder.free();
      }
      dropBytes(o);
      // Keep the new downloads in the cache only now that the wasm accepted them.
      await Promise.all([cat.keep?.(), mod?.keep?.()]);
      progress("init", 1, 1, null);
      return {
        version: glue.version(),
        simd: wasmChoice,
        isa: typeof glue.isa === "function" ? glue.isa() : null,
        items: recommender.items,
        catalogId: recommender.catalogId,
        modelId: recommender.modelId,
        encoder: Boolean(encoder),
        encoderModelId,
        sources,
        cache: cache ? "on" : o.cache === false ? "off" : "unavailable",
        streaming: canStream,
        wasmMemoryBytes: wasmExports.memory.buffer.byteLength,
      };
    } catch (err) {
      await Promise.all([cat.drop?.(), mod?.drop?.()]);
      const corrupt = (err.code === "invalid_catalog" && cat.source === "cache" && cat.key) ||
        (err.code === "invalid_model" && mod && mod.source === "cache" && mod.key);
      if (attempt === 0 && corrupt) {
        // Only the rejected file's entry goes (the other is read from the cache again). Best
        // effort: a failed delete must not hide the load (keep() rewrites the entry anyway).
        const bad = err.code === "invalid_catalog" ? cat : mod;
        await cache.delete(bad.key).catch(() => {});
        continue;
      }
      throw err;
    }
  }
}

/** Forgets the bytes the page passed (`catalog`/`model` as bytes) once they are in wasm memory. */
function dropBytes(o) {
  if (o.catalog && o.catalog.data) o.catalog.data = null;
  if (o.model && o.model.data) o.model.data = null;
}

async function loadWasm(o) {
  if (typeof WebAssembly !== "object") throw new EdgerecError("unsupported", "this browser has no WebAssembly");
  if (!simd128Supported()) throw new EdgerecError("unsupported", "this browser has no WebAssembly SIMD (simd128)");
  glue = await importGlue(o.pkg);
  const relaxedOk = relaxedSimdSupported();
  if (o.simd === "relaxed" && !relaxedOk) throw new EdgerecError("unsupported", "this browser has no relaxed SIMD");
  if (o.simd === "relaxed" && !o.wasm.relaxed) throw new EdgerecError("invalid_input", "no relaxed-simd build given (wasm.relaxed)");
  let choice = o.simd === "simd128" || !relaxedOk || !o.wasm.relaxed ? "simd128" : "relaxed";
  let res = await fetchOk(o.wasm[choice], choice === "relaxed" && o.simd === "auto");
  if (!res) { // no relaxed build on the server: use simd128
    choice = "simd128";
    res = await fetchOk(o.wasm.simd128);
  }
  const total = Number(res.headers.get("content-length")) || null;
  const report = throttled("wasm", total, "network");
  let loaded = 0;
  report(0);
  const counted = res.body.pipeThrough(new TransformStream({
    transform(chunk, ctl) {
      loaded += chunk.length;
      report(loaded);
      ctl.enqueue(chunk);
    },
  }));
  let module;
  try {
    module = await WebAssembly.compileStreaming(new Response(counted, { headers: { "content-type": "application/wasm" } }));
  } catch (err) {
    throw new EdgerecError("load_failed", `cannot compile ${o.wasm[choice]}: ${err.message}`);
  }
  report(loaded, true);
  wasmExports = await glue.default({ module_or_path: module });
  return choice;
}

/** fetch() that turns failures into load_failed; with `allow404`, a 404 returns null. */
async function fetchOk(url, allow404 = false, init = undefined) {
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
// assets: cache, network, sinks

/**
 * @typedef {{ url?: string, sha256?: string | null, bytes?: number | null, data?: Uint8Array }} AssetSpec
 */

async function openCache(name) {
  if (name === false || typeof caches === "undefined") return null; // no Cache API: insecure context
  try {
    const cache = await caches.open(name);
    await sweepTemporaries(cache);
    return cache;
  } catch {
    return null; // storage disabled (e.g. some private modes): load from the network every time
  }
}

const finalKey = (sha) => new URL(`${CACHE_PREFIX}sha256/${sha}`, self.location.origin).href;
const tmpKey = (sha) =>
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

/**
 * Loads one file into a sink (wasm memory when possible).
 * @returns {Promise<{ value: any, source: "cache" | "network" | "memory", key: string | null, dispose(): void }>}
 */
async function loadAsset(phase, spec, cache, canStream) {
  if (spec.data) {
    const data = spec.data;
    progress(phase, 0, data.length, "memory");
    if (!canStream) { // an older pkg/: the wasm copies the bytes in itself
      progress(phase, data.length, data.length, "memory");
      return { value: data, source: "memory", key: null, dispose() {} };
    }
    const sink = makeSink(data.length, canStream);
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
      const sink = makeSink(total, canStream, spec.bytes != null);
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
  return download(phase, spec, cache, canStream);
}

/** Downloads, hashes and (with a cache and a known hash) stores a file. */
async function download(phase, spec, cache, canStream) {
  const res = await fetchOk(spec.url, false, { cache: "no-store" }); // the Cache API keeps it, not HTTP
  const length = Number(res.headers.get("content-length")) || null;
  const encoded = res.headers.get("content-encoding");
  if (spec.bytes != null && length != null && !encoded && length !== spec.bytes) {
    throw new EdgerecError("integrity_error", `${spec.url} is ${length} bytes, expected ${spec.bytes}`);
  }
  // The size: the spec's (a mismatch is an integrity_error), else the response's when it is
  // not content-encoded (content-length then counts the encoded bytes), else unknown.
  const total = spec.bytes ?? (encoded ? null : length);
  const sink = makeSink(total, canStream, spec.bytes != null);
  const sha = spec.sha256 || null;
  const hasher = sha ? new Sha256() : null;
  let stored = null;
  let body = res.body;
  if (cache && sha) {
    const [mine, theirs] = body.tee();
    body = mine;
    const tmp = tmpKey(sha);
    const headers = {
      "content-type": "application/octet-stream",
      "x-edgerec-url": spec.url,
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
      throw new EdgerecError("integrity_error", `${spec.url} has SHA-256 ${got}, expected ${sha}`);
    }
  }
  const result = sink.finish("network", null);
  if (tmp) {
    // Only bytes that matched the hash *and* that the wasm accepted ever sit under the hash key:
    // init() calls keep() after building the recommender, or drop() when that failed.
    result.keep = () => keep(cache, tmp, sha, spec.url);
    result.drop = () => cache.delete(tmp).catch(() => {});
  }
  return result;
}

/** Moves a verified download from its temporary entry to its hash key, and forgets older
 *  versions of the same URL. Best effort: the cache never fails a load. */
async function keep(cache, tmp, sha, url) {
  try {
    const key = finalKey(sha);
    const sha256Prefix = new URL(`${CACHE_PREFIX}sha256/`, self.location.origin).href;
    await cache.put(key, await cache.match(tmp));
    await cache.delete(tmp);
    for (const req of await cache.keys()) {
      if (req.url === key || !req.url.startsWith(sha256Prefix)) continue;
      const r = await cache.match(req);
      if (r && r.headers.get("x-edgerec-url") === url) await cache.delete(req);
    }
  } catch {
    // the cache is best effort
  }
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
 * Where the bytes of a file go. `total` is the expected size, or null when unknown; `exact` says
 * it came from the spec or manifest (`bytes`): a body of another size is then an
 * `integrity_error`, else (a size the response or a cache entry declared) a `load_failed`.
 *
 * - a pkg/ with WasmBytes, size known: `new WasmBytes(total)`, every chunk pushed straight into
 *   wasm memory; no JS copy of the file.
 * - a pkg/ with WasmBytes, size unknown: the chunks are kept in JS until the last one, then copied
 *   into a `WasmBytes` of the final size (each chunk let go as it is copied): for that moment
 *   the file is in memory twice.
 * - an older pkg/ (no WasmBytes): one JS buffer (allocated at the known size, or the chunks
 *   joined at the end), which `new Recommender(bytes)` copies into wasm memory.
 */
function makeSink(total, canStream, exact = false) {
  const code = exact ? "integrity_error" : "load_failed";
  let n = 0;
  const fits = (len) => {
    if (total != null && n + len > total) throw new EdgerecError(code, `more than the expected ${total} bytes`);
  };
  const complete = () => {
    if (total != null && n !== total) throw new EdgerecError(code, `got ${n} bytes, expected ${total}`);
  };
  const free = (wb) => { if (wb && wb.__wbg_ptr) wb.free(); };
  if (total != null && canStream) {
    let wb = new glue.WasmBytes(total);
    return {
      push(chunk) {
        fits(chunk.length);
        wb.push(chunk);
        n += chunk.length;
      },
      finish(source, key) {
        complete();
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
  if (total != null) {
    let buf = new Uint8Array(total);
    return {
      push(chunk) {
        fits(chunk.length);
        buf.set(chunk, n);
        n += chunk.length;
      },
      finish(source, key) {
        complete();
        const value = buf;
        buf = null;
        return { value, source, key, dispose() {} };
      },
      dispose() {
        buf = null;
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
      if (canStream) {
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
      }
      const bytes = new Uint8Array(n);
      let at = 0;
      for (let i = 0; i < parts.length; i++) {
        bytes.set(parts[i], at);
        at += parts[i].length;
        parts[i] = null;
      }
      return { value: bytes, source, key, dispose() {} };
    },
    dispose() {
      chunks = null;
    },
  };
}
