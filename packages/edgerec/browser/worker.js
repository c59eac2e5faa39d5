// The dedicated Web Worker that owns the wasm instance. The page talks to it only through
// edgerec.js: messages `{ id, op, ... }` in; `{ id, ok, result | error, wasmMemoryBytes }`
// and `{ type: "progress", phase, loaded, total, source }` out. Every reply carries the wasm
// memory's size, so the page can see it grow and replace this worker (`recycleAboveBytes`).
//
// Loading (init): wasm.js compiles the .wasm while it streams; assets.js streams the catalog and
// the model chunk by chunk (a manifest entry shard after shard) into wasm memory while hashing
// them, and keeps them in the Cache API under their SHA-256.

import { EdgerecError, toWire } from "./errors.js";
import { loadAsset, openCache, progress } from "./assets.js";
import { importGlue, loadWasm } from "./wasm.js";

/** @type {any} the wasm-bindgen module (the package's edgerec.js, or the `pkg` option's) */
let glue = null;
/** @type {any} the instance's exports (for its memory) */
let wasmExports = null;
/** @type {any} the wasm Recommender */
let recommender = null;
/** Set once the instance trapped: every later call fails with this. */
let broken = null;
/** Set (synchronously) by the first init message: a worker is initialised once. */
let initStarted = false;

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
    self.postMessage({ id, ok: true, result, wasmMemoryBytes: memoryBytes() }, transfer);
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError && !broken) {
      broken = new EdgerecError("worker_failed", `the wasm instance trapped and cannot be used again: ${err.message}`);
    }
    self.postMessage({ id, ok: false, error: toWire(err), wasmMemoryBytes: memoryBytes() });
  }
};

function memoryBytes() {
  return wasmExports ? wasmExports.memory.buffer.byteLength : null;
}

function stats() {
  const mem = /** @type {any} */ (self.performance).memory;
  return {
    wasmMemoryBytes: memoryBytes(),
    workerJsHeapBytes: mem ? mem.usedJSHeapSize : null,
  };
}

/**
 * @param {{
 *   pkg: string | null,
 *   wasm: { simd128: string, relaxed?: string | null },
 *   wasmSha256?: { simd128?: string | null, relaxed?: string | null } | null,
 *   simd: "auto" | "relaxed" | "simd128",
 *   catalog: import("./assets.js").AssetSpec,
 *   model: import("./assets.js").AssetSpec | null,
 *   modelKind: "int8" | "lite" | null,
 *   cache: string | false,
 * }} o  (URLs are absolute: the page resolved them)
 */
async function init(o) {
  const cache = await openCache(o.cache);
  const loaded = await loadWasm(o, cache);
  glue = loaded.glue;
  wasmExports = loaded.exports;

  // Load both files (concurrently); if a file read from the cache turns out corrupt when the
  // wasm parses it, drop that cache entry and load it again from the network, once.
  for (let attempt = 0; ; attempt++) {
    const [cat, mod] = await Promise.all([
      loadAsset("catalog", o.catalog, cache, glue),
      o.model ? loadAsset("model", o.model, cache, glue) : null,
    ]);
    const sources = { wasm: loaded.source, catalog: cat.source, model: mod ? mod.source : null };
    // Bytes passed in (structured-cloned into this worker) are in wasm memory now: drop this
    // worker's copy before the wasm parses them, unless the other file came from the cache (a
    // corrupt entry there means loading both again, once): then once the wasm accepted both.
    const mayRetry = attempt === 0 && (cat.source === "cache" || (mod && mod.source === "cache"));
    if (!mayRetry) dropBytes(o);
    progress("init", 0, 1, null);
    try {
      let encoder, encoderModelId = null, encoderKind = null;
      try {
        if (mod) {
          // The kind a manifest's pair names, else either model bundle by its magic bytes.
          const from = { lite: "fromLiteBundle", int8: "fromEdgeBundle" }[o.modelKind] ?? "fromBundle";
          encoder = glue.Encoder[from](mod.value);
          encoderModelId = encoder.modelId;
          encoderKind = encoder.kind;
        }
        recommender = glue.Recommender.fromBundle(cat.value, encoder);
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
        simd: loaded.choice,
        isa: glue.isa(),
        items: recommender.items,
        catalogId: recommender.catalogId,
        modelId: recommender.modelId,
        encoder: Boolean(encoder),
        encoderModelId,
        encoderKind,
        limits: glue.limits(),
        sources,
        cache: cache ? "on" : o.cache === false ? "off" : "unavailable",
        streaming: true,
        wasmMemoryBytes: memoryBytes(),
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
