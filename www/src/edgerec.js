// edgerec in the browser: the page-side API. The wasm instance lives in a dedicated Web Worker
// (src/worker.js), so loading a model and ranking never block the page.
//
//   import { createRecommender } from "./src/edgerec.js";
//   const rec = await createRecommender({ manifest: "assets/manifest.json", onProgress });
//   const { items } = await rec.recommend({ boards: [{ name: "Pixar night", pins: [{ id: "1" }] }] });
//   rec.close();
//
// See edgerec.d.ts for the types and www/README.md for the manifest format and caching rules.

import { EdgerecError, ERROR_CODES, fromWire } from "./errors.js";
import { relaxedSimdSupported, simd128Supported } from "./simd.js";

export { EdgerecError, ERROR_CODES, relaxedSimdSupported, simd128Supported };

/** The Cache API cache the harness keeps model and catalog files in, keyed by SHA-256. */
export const DEFAULT_CACHE_NAME = "edgerec-v1";

const SHA256_HEX = /^[0-9a-f]{64}$/i;

/**
 * Starts a Web Worker, loads the wasm module, the catalog and (optionally) the model into it,
 * and resolves once it can recommend.
 *
 * @param {import("./edgerec").CreateOptions} options
 * @returns {Promise<import("./edgerec").BrowserRecommender>}
 */
export async function createRecommender(options) {
  if (options === null || typeof options !== "object") {
    throw new EdgerecError("invalid_input", "createRecommender takes an options object");
  }
  const {
    manifest, model, catalog, onProgress, signal, pkg, wasm, worker: workerUrl,
    simd = "auto", cache = DEFAULT_CACHE_NAME,
  } = options;
  const known = new Set(["manifest", "model", "catalog", "onProgress", "signal", "pkg", "wasm", "worker", "simd", "cache"]);
  for (const k of Object.keys(options)) {
    if (!known.has(k)) throw new EdgerecError("invalid_input", `unknown option ${k}`);
  }
  if (onProgress != null && typeof onProgress !== "function") throw new EdgerecError("invalid_input", "onProgress must be a function");
  if (!["auto", "relaxed", "simd128"].includes(simd)) throw new EdgerecError("invalid_input", `simd must be "auto", "relaxed" or "simd128"`);
  if (!(cache === false || cache === true || (typeof cache === "string" && cache.length > 0))) {
    throw new EdgerecError("invalid_input", "cache must be true, false or a cache name");
  }
  if (signal != null && !(signal instanceof AbortSignal)) throw new EdgerecError("invalid_input", "signal must be an AbortSignal");
  if (signal?.aborted) throw new EdgerecError("aborted", "aborted before start");
  if (typeof Worker !== "function") throw new EdgerecError("unsupported", "this browser has no Web Workers");
  if (typeof WebAssembly !== "object") throw new EdgerecError("unsupported", "this browser has no WebAssembly");

  const base = globalThis.document?.baseURI ?? globalThis.location?.href;
  const pkgBase = new URL(pkg ?? "../pkg/", pkg ? base : import.meta.url);
  if (!pkgBase.pathname.endsWith("/")) pkgBase.pathname += "/";

  if (wasm != null && typeof wasm !== "object") throw new EdgerecError("invalid_input", "wasm must be { simd128?, relaxed? }");
  const glueUrl = new URL("edgerec.js", pkgBase).href;

  // The worker starts (and imports the wasm glue) while the manifest loads.
  const worker = new Worker(workerUrl ? url(workerUrl, base, "worker") : new URL("./worker.js", import.meta.url), {
    type: "module",
    name: "edgerec",
  });
  const rec = new BrowserRecommender(worker, onProgress);
  worker.postMessage({ op: "prepare", pkg: glueUrl });
  const onAbort = () => rec._fail(new EdgerecError("aborted", "aborted while loading"));
  signal?.addEventListener("abort", onAbort);
  try {
    // The manifest supplies defaults; explicit model/catalog/wasm options win over it.
    let fromManifest = {};
    if (manifest != null) fromManifest = await loadManifest(url(manifest, base, "manifest"), signal);
    if (rec.closed) throw rec._dead; // aborted meanwhile
    const catalogSpec = asset(catalog !== undefined ? catalog : fromManifest.catalog, base, "catalog");
    if (!catalogSpec) throw new EdgerecError("invalid_input", "no catalog: pass catalog (URL, {url, sha256} or bytes) or a manifest that lists one");
    const modelSpec = asset(model !== undefined ? model : fromManifest.model, base, "model");
    let relaxed; // null: do not try a relaxed-simd build
    if (wasm && "relaxed" in wasm) relaxed = wasm.relaxed;
    else if (fromManifest.wasm) relaxed = fromManifest.wasm.relaxed; // the build lists it if it made one
    else relaxed = new URL("edgerec_relaxed_bg.wasm", pkgBase); // tried, with simd128 on a 404
    const wasmUrls = {
      simd128: url(wasm?.simd128 ?? fromManifest.wasm?.simd128 ?? new URL("edgerec_bg.wasm", pkgBase), base, "wasm.simd128"),
      relaxed: url(relaxed, base, "wasm.relaxed"),
    };
    const info = await rec._call({
      op: "init",
      options: {
        pkg: glueUrl,
        wasm: wasmUrls,
        simd,
        catalog: catalogSpec,
        model: modelSpec,
        cache: cache === true ? DEFAULT_CACHE_NAME : cache,
      },
    });
    rec._ready(info);
    return rec;
  } catch (err) {
    rec.close();
    throw err;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * A recommender running in its own Web Worker. Every method returns a promise; requests are
 * answered in order. Errors are `EdgerecError`s; after one, the recommender keeps working.
 */
export class BrowserRecommender {
  /** @param {Worker} worker */
  constructor(worker, onProgress) {
    this._worker = worker;
    this._onProgress = onProgress;
    this._next = 1;
    this._pending = new Map();
    this._dead = null; // the error every call fails with once closed or crashed
    /** What was loaded: see `RecommenderInfo` in edgerec.d.ts. */
    this.info = null;
    /** Timing of the last `recommend`: `{ workerMs, totalMs }` (ranking alone, and round trip). */
    this.lastTiming = null;
    worker.onmessage = (ev) => this._message(ev.data);
    worker.onerror = (ev) => {
      ev.preventDefault?.();
      this._fail(new EdgerecError("worker_failed", `the worker failed: ${ev.message || "it could not start (check the worker and pkg/ URLs)"}`));
    };
    worker.onmessageerror = () => this._fail(new EdgerecError("worker_failed", "a worker message could not be decoded"));
  }

  /**
   * Ranks the catalog for a board context.
   * @param {import("./edgerec").BoardContext} context
   * @returns {Promise<import("./edgerec").Recommendations>}
   */
  async recommend(context) {
    const t0 = performance.now();
    const { out, ms } = await this._call({ op: "recommend", context });
    this.lastTiming = { workerMs: ms, totalMs: performance.now() - t0 };
    return out;
  }

  /**
   * Embeds texts with the model (needs a model): `texts.length × dim` floats, unit rows.
   * @param {string[]} texts
   * @returns {Promise<Float32Array>}
   */
  embed(texts) {
    return this._call({ op: "embed", texts });
  }

  /**
   * Memory in use in the worker: `{ wasmMemoryBytes, workerJsHeapBytes }` (the heap is null
   * where the browser does not report it).
   */
  stats() {
    return this._call({ op: "stats" });
  }

  /** Stops the worker and frees its memory. Later calls reject with code `closed`. */
  close() {
    if (!this._dead) this._fail(new EdgerecError("closed", "the recommender is closed"));
  }

  /** Whether close() was called or the worker died. */
  get closed() {
    return this._dead !== null;
  }

  _ready(info) {
    this.info = Object.freeze(info);
  }

  _call(msg) {
    if (this._dead) return Promise.reject(this._dead);
    const id = this._next++;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject });
      try {
        this._worker.postMessage({ id, ...msg });
      } catch (err) {
        this._pending.delete(id);
        // DataCloneError: functions, DOM nodes, symbols, ... cannot be sent.
        reject(new EdgerecError("invalid_input", `the ${msg.op} argument cannot be sent to the worker: ${err.message}`));
      }
    });
  }

  _message(data) {
    if (data && data.type === "progress") {
      if (this._onProgress) {
        try {
          const { phase, loaded, total, source } = data;
          this._onProgress({ phase, loaded, total, source });
        } catch (err) {
          setTimeout(() => { throw err; }); // a throwing callback must not break loading
        }
      }
      return;
    }
    const p = this._pending.get(data.id);
    if (!p) return;
    this._pending.delete(data.id);
    if (data.ok) p.resolve(data.result);
    else p.reject(fromWire(data.error));
  }

  _fail(err) {
    if (this._dead) return;
    this._dead = err;
    this._worker.terminate();
    for (const p of this._pending.values()) p.reject(err);
    this._pending.clear();
  }
}

/** Fetches and checks a manifest; its URLs are resolved against the manifest's own URL. */
async function loadManifest(manifestUrl, signal) {
  let res, json;
  try {
    res = await fetch(manifestUrl, { cache: "no-cache", signal });
  } catch (err) {
    if (signal?.aborted) throw new EdgerecError("aborted", "aborted while loading the manifest");
    throw new EdgerecError("load_failed", `cannot fetch ${manifestUrl}: ${err.message}`);
  }
  if (!res.ok) throw new EdgerecError("load_failed", `GET ${manifestUrl}: HTTP ${res.status}`);
  try {
    json = await res.json();
  } catch (err) {
    throw new EdgerecError("load_failed", `${manifestUrl} is not JSON: ${err.message}`);
  }
  if (!json || json.version !== 1) throw new EdgerecError("load_failed", `${manifestUrl}: not an edgerec manifest (version 1)`);
  const entry = (e, name) => {
    if (e == null) return null;
    if (typeof e !== "object" || typeof e.url !== "string") throw new EdgerecError("load_failed", `${manifestUrl}: ${name} needs a url`);
    return { ...e, url: new URL(e.url, manifestUrl).href };
  };
  return {
    catalog: entry(json.catalog, "catalog"),
    model: entry(json.model, "model"),
    wasm: json.wasm ? {
      simd128: json.wasm.simd128 ? entry(json.wasm.simd128, "wasm.simd128").url : undefined,
      relaxed: json.wasm.relaxed ? entry(json.wasm.relaxed, "wasm.relaxed").url : null,
    } : undefined,
  };
}

function url(value, base, name) {
  if (value == null) return null;
  if (!(typeof value === "string" || value instanceof URL)) throw new EdgerecError("invalid_input", `${name} must be a URL`);
  try {
    return new URL(value, base).href;
  } catch {
    throw new EdgerecError("invalid_input", `${name} is not a valid URL: ${value}`);
  }
}

/**
 * Normalises a model or catalog option: a URL (string or URL), `{ url, sha256?, bytes? }`, or
 * the file's bytes (Uint8Array, ArrayBuffer, any ArrayBufferView). null/undefined: none.
 */
function asset(value, base, name) {
  if (value == null) return null;
  if (typeof value === "string" || value instanceof URL) return { url: url(value, base, name), sha256: null, bytes: null };
  if (value instanceof ArrayBuffer) return { data: new Uint8Array(value) };
  if (ArrayBuffer.isView(value)) {
    const whole = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength;
    const view = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    return { data: whole ? view : view.slice() }; // postMessage would copy a view's whole buffer
  }
  if (typeof value === "object" && (typeof value.url === "string" || value.url instanceof URL)) {
    const { sha256 = null, bytes = null } = value;
    if (sha256 !== null && !(typeof sha256 === "string" && SHA256_HEX.test(sha256))) {
      throw new EdgerecError("invalid_input", `${name}.sha256 must be 64 hex digits`);
    }
    if (bytes !== null && !(Number.isSafeInteger(bytes) && bytes >= 0)) {
      throw new EdgerecError("invalid_input", `${name}.bytes must be a non-negative integer`);
    }
    return { url: url(value.url, base, name), sha256: sha256 && sha256.toLowerCase(), bytes };
  }
  throw new EdgerecError("invalid_input", `${name} must be a URL, { url, sha256 } or bytes`);
}
