// edgerec in the browser: the page-side API. The wasm instance lives in a dedicated Web Worker
// (worker.js), so loading a model and ranking never block the page.
//
//   import { createRecommender } from "edgerec";
//   const rec = await createRecommender({ manifest: "assets/manifest.json", onProgress });
//   const { items } = await rec.recommend({ boards: [{ name: "Pixar night", pins: [{ id: "1" }] }] });
//   rec.close();
//
// See edgerec.d.ts for the types, and www/README.md in the repository for the manifest format and caching rules.

import { EdgerecError, ERROR_CODES, fromWire } from "./errors.js";
import { assetSpec, loadManifest, url } from "./manifest.js";
import { relaxedSimdSupported, simd128Supported } from "./simd.js";
import { Sha256 } from "./sha256.js";

// Sha256: incremental SHA-256 (what the harness keys its cache by; crypto.subtle needs a secure context).
export { EdgerecError, ERROR_CODES, Sha256, relaxedSimdSupported, simd128Supported };

/** The Cache API cache the harness keeps model and catalog files in, keyed by SHA-256. */
export const DEFAULT_CACHE_NAME = "edgerec-v1";

/**
 * Above this much wasm memory (checked after every `recommend` and `embed`) the Web Worker is
 * replaced by a fresh one. Wasm linear memory never shrinks, so one unusually large request
 * (say `embed` of thousands of long texts) leaves its high-water mark behind for the tab's
 * lifetime. Loaded with the int8 model and the movielens catalog the worker holds ~51 MiB, and
 * ordinary traffic does not grow it (the Worker's memory test: flat over 100 mixed requests);
 * 256 MiB is five times that, so only such a leftover peak triggers a recycle, while a phone's
 * tab is still well clear of being killed. A recycle reloads from the Cache API (~0.4 s, and
 * for that moment both workers' memory exists), so it must stay rare: not lower by default.
 */
export const DEFAULT_RECYCLE_ABOVE_BYTES = 256 * 1024 * 1024;

/** After a replacement worker failed to load: how long before another is tried. */
const RECYCLE_RETRY_MS = 60_000;

/** The `model` option's names for a manifest's pairs (anything else is a URL, a spec or bytes). */
const MODEL_VARIANTS = ["int8", "lite"];

const OPTIONS = new Set(["manifest", "model", "catalog", "onProgress", "signal", "pkg", "wasm", "worker", "simd", "cache", "recycleAboveBytes"]);

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
    simd = "auto", cache = DEFAULT_CACHE_NAME, recycleAboveBytes = DEFAULT_RECYCLE_ABOVE_BYTES,
  } = options;
  for (const k of Object.keys(options)) {
    if (!OPTIONS.has(k)) throw new EdgerecError("invalid_input", `unknown option ${k}`);
  }
  if (onProgress != null && typeof onProgress !== "function") throw new EdgerecError("invalid_input", "onProgress must be a function");
  if (!["auto", "relaxed", "simd128"].includes(simd)) throw new EdgerecError("invalid_input", `simd must be "auto", "relaxed" or "simd128"`);
  if (!(cache === false || cache === true || (typeof cache === "string" && cache.length > 0))) {
    throw new EdgerecError("invalid_input", "cache must be true, false or a cache name");
  }
  if (!(typeof recycleAboveBytes === "number" && recycleAboveBytes > 0)) {
    throw new EdgerecError("invalid_input", "recycleAboveBytes must be a positive number of bytes (Infinity: never recycle)");
  }
  if (signal != null && !(signal instanceof AbortSignal)) throw new EdgerecError("invalid_input", "signal must be an AbortSignal");
  if (signal?.aborted) throw new EdgerecError("aborted", "aborted before start");
  if (typeof Worker !== "function") throw new EdgerecError("unsupported", "this browser has no Web Workers");
  if (typeof WebAssembly !== "object") throw new EdgerecError("unsupported", "this browser has no WebAssembly");

  const base = globalThis.document?.baseURI ?? globalThis.location?.href;
  if (wasm != null && typeof wasm !== "object") throw new EdgerecError("invalid_input", "wasm must be { simd128?, relaxed? }");
  // The package's own glue, wasm builds and worker are named by literal URLs, so that bundlers
  // (Vite, webpack, esbuild) see them and emit them with the app; `pkg` (a folder holding
  // edgerec.js and the builds) and `worker` replace them.
  let pkgBase = null;
  if (pkg != null) {
    pkgBase = url(pkg, base, "pkg");
    if (!pkgBase.endsWith("/")) pkgBase += "/";
  }
  const glueUrl = pkgBase ? new URL("edgerec.js", pkgBase).href : null; // null: the worker's own import
  const builds = pkgBase
    ? { simd128: new URL("edgerec_bg.wasm", pkgBase), relaxed: new URL("edgerec_relaxed_bg.wasm", pkgBase) }
    : { simd128: new URL("../edgerec_bg.wasm", import.meta.url), relaxed: new URL("../edgerec_relaxed_bg.wasm", import.meta.url) };

  // Every worker (the first, and any that replaces it) starts loading the wasm glue at once:
  // the first while the manifest loads.
  const startWorker = () => {
    const worker = workerUrl
      ? new Worker(url(workerUrl, base, "worker"), { type: "module", name: "edgerec" })
      : new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "edgerec" });
    if (glueUrl) worker.postMessage({ op: "prepare", pkg: glueUrl });
    return worker;
  };
  const rec = new BrowserRecommender(startWorker, onProgress, recycleAboveBytes);
  const onAbort = () => rec._fail(new EdgerecError("aborted", "aborted while loading"));
  signal?.addEventListener("abort", onAbort);
  try {
    // The manifest supplies defaults; explicit model/catalog/wasm options win over it.
    let fromManifest = {};
    if (manifest != null) fromManifest = await loadManifest(url(manifest, base, "manifest"), signal);
    if (rec.closed) throw rec._dead; // aborted meanwhile
    // `model: "lite"` picks the manifest's lite pair (the lite model and the catalog it
    // embedded: a catalog is queried by the model that built it); `"int8"` its default pair.
    const variant = MODEL_VARIANTS.includes(model) ? model : null;
    if (variant && manifest == null) throw new EdgerecError("invalid_input", `model: "${variant}" picks a manifest's model: pass a manifest`);
    if (variant === "lite" && !fromManifest.lite) throw new EdgerecError("invalid_input", `model: "lite": the manifest lists no lite model`);
    const pair = variant === "lite" ? fromManifest.lite : fromManifest;
    const catalogSpec = catalog !== undefined ? assetSpec(catalog, base, "catalog") : pair.catalog ?? null;
    if (!catalogSpec) throw new EdgerecError("invalid_input", "no catalog: pass catalog (URL, {url, sha256} or bytes) or a manifest that lists one");
    const modelSpec = model !== undefined && !variant ? assetSpec(model, base, "model") : pair.model ?? null;
    let relaxed; // null: do not try a relaxed-simd build
    if (wasm && "relaxed" in wasm) relaxed = wasm.relaxed;
    else if (fromManifest.wasm) relaxed = fromManifest.wasm.relaxed; // the build lists it if it made one
    else relaxed = builds.relaxed; // tried, with simd128 on a 404
    const wasmUrls = {
      simd128: url(wasm?.simd128 ?? fromManifest.wasm?.simd128 ?? builds.simd128, base, "wasm.simd128"),
      relaxed: url(relaxed, base, "wasm.relaxed"),
    };
    // A build's hash only when it comes from the manifest (an explicit URL has none to key by).
    const wasmSha256 = {
      simd128: wasm?.simd128 == null ? fromManifest.wasmSha256?.simd128 ?? null : null,
      relaxed: wasm && "relaxed" in wasm ? null : fromManifest.wasmSha256?.relaxed ?? null,
    };
    await rec._init({
      pkg: glueUrl,
      wasm: wasmUrls,
      wasmSha256,
      simd,
      catalog: catalogSpec,
      model: modelSpec,
      // A manifest's pair names the model's kind, which the worker then requires (a lite pair
      // holding the int8 model is an invalid_model error naming it, not a mismatch later).
      modelKind: variant,
      cache: cache === true ? DEFAULT_CACHE_NAME : cache,
    });
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
 *
 * When the worker's wasm memory passes `recycleAboveBytes` after a request, a fresh worker is
 * loaded the same way (its files from the Cache API) while the old one goes on answering; then
 * the fresh one takes the calls, the old one answers what it was already sent, and is
 * terminated. Calls made during the hand-over wait for it, so the order holds and none is lost.
 */
export class BrowserRecommender {
  /**
   * @param {() => Worker} startWorker  a new worker (already told to import the glue)
   * @param {((p: object) => void) | undefined} onProgress
   * @param {number} recycleAboveBytes
   */
  constructor(startWorker, onProgress, recycleAboveBytes) {
    this._startWorker = startWorker;
    this._onProgress = onProgress;
    this._recycleAboveBytes = recycleAboveBytes;
    this._next = 1;
    /** Every message sent and not answered yet: id → { msg, resolve, reject, lane }. */
    this._pending = new Map();
    this._dead = null; // the error every call fails with once closed or crashed
    this._lane = this._open(true); // the worker calls go to
    this._replacement = null; // a worker loading to take over from this._lane
    this._retiring = null; // after a hand-over: the old worker, answering what it was sent
    this._queued = []; // calls made while the old worker finishes: sent to the new one next
    this._initOptions = null; // what init sent, to load a replacement the same way
    this._recycles = 0;
    this._recycleError = null;
    this._recycleNotBefore = 0;
    /** What was loaded: see `RecommenderInfo` in edgerec.d.ts. */
    this.info = null;
    /** Timing of the last `recommend`: `{ workerMs, totalMs }` (ranking alone, and round trip). */
    this.lastTiming = null;
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
   * where the browser does not report it), and `recycles`: how many times the worker was
   * replaced to give its memory back (`recycleError`: why the last attempt failed, or null).
   */
  async stats() {
    const worker = await this._call({ op: "stats" });
    return { ...worker, recycles: this._recycles, recycleError: this._recycleError };
  }

  /** Stops the worker and frees its memory. Later calls reject with code `closed`. */
  close() {
    if (!this._dead) this._fail(new EdgerecError("closed", "the recommender is closed"));
  }

  /** Whether close() was called or the worker died. */
  get closed() {
    return this._dead !== null;
  }

  /** Loads the first worker; `options` are kept (with any bytes in them) for replacements. */
  async _init(options) {
    const info = await this._callOn(this._lane, { op: "init", options });
    if (this._recycleAboveBytes !== Infinity) this._initOptions = options;
    this.info = Object.freeze(info);
  }

  /** A worker and the calls sent to it; only the first worker's load progress is reported. */
  _open(reportsProgress) {
    const lane = { worker: this._startWorker(), ids: new Set(), reportsProgress };
    lane.worker.onmessage = (ev) => this._message(lane, ev.data);
    lane.worker.onerror = (ev) => {
      ev.preventDefault?.();
      this._laneFailed(lane, new EdgerecError("worker_failed", `the worker failed: ${ev.message || "it could not start (check the worker and pkg URLs)"}`));
    };
    lane.worker.onmessageerror = () => this._laneFailed(lane, new EdgerecError("worker_failed", "a worker message could not be decoded"));
    return lane;
  }

  _call(msg) {
    if (this._dead) return Promise.reject(this._dead);
    return new Promise((resolve, reject) => {
      const call = { msg, resolve, reject };
      if (this._retiring) this._queued.push(call); // sent once the old worker answered all it has
      else this._send(this._lane, call);
    });
  }

  _callOn(lane, msg) {
    return new Promise((resolve, reject) => this._send(lane, { msg, resolve, reject }));
  }

  _send(lane, call) {
    const id = this._next++;
    this._pending.set(id, { ...call, lane });
    lane.ids.add(id);
    try {
      lane.worker.postMessage({ id, ...call.msg });
    } catch (err) {
      this._pending.delete(id);
      lane.ids.delete(id);
      // DataCloneError: functions, DOM nodes, symbols, ... cannot be sent.
      call.reject(new EdgerecError("invalid_input", `the ${call.msg.op} argument cannot be sent to the worker: ${err.message}`));
    }
  }

  _message(lane, data) {
    if (data && data.type === "progress") {
      if (lane.reportsProgress && this._onProgress) {
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
    if (!p || p.lane !== lane) return;
    this._pending.delete(data.id);
    lane.ids.delete(data.id);
    if (data.ok) p.resolve(data.result);
    else p.reject(fromWire(data.error));
    if (lane === this._retiring) {
      if (lane.ids.size === 0) this._finishHandOver();
    } else if (lane === this._lane && (p.msg.op === "recommend" || p.msg.op === "embed") && data.error?.code !== "worker_failed") {
      // (a trapped worker is not replaced: that is final, see worker_failed)
      this._maybeRecycle(data.wasmMemoryBytes);
    }
  }

  _maybeRecycle(wasmMemoryBytes) {
    if (!(wasmMemoryBytes > this._recycleAboveBytes) || !this._initOptions) return;
    if (this._replacement || this._retiring || this._dead || performance.now() < this._recycleNotBefore) return;
    this._recycle();
  }

  /** Loads a fresh worker with the first one's options; once ready, it takes over. */
  async _recycle() {
    const lane = this._open(false);
    this._replacement = lane;
    try {
      await this._callOn(lane, { op: "init", options: this._initOptions });
    } catch (err) {
      lane.worker.terminate();
      if (this._replacement === lane) this._replacement = null;
      if (!this._dead) {
        // The old worker serves on; a failed load (offline, say) is not retried at once.
        this._recycleError = `${err.code}: ${err.message}`;
        this._recycleNotBefore = performance.now() + RECYCLE_RETRY_MS;
      }
      return;
    }
    this._replacement = null;
    if (this._dead) return; // closed meanwhile: _fail terminated it
    const old = this._lane;
    this._lane = lane;
    this._recycles++;
    this._recycleError = null;
    if (old.ids.size === 0) old.worker.terminate();
    else this._retiring = old; // it answers what it was sent; calls from now on wait in _queued
  }

  /** The old worker answered everything it was sent: it goes, the waiting calls go to the new. */
  _finishHandOver() {
    const old = this._retiring;
    this._retiring = null;
    old.worker.terminate();
    const queued = this._queued;
    this._queued = [];
    for (const call of queued) this._send(this._lane, call);
  }

  /** A worker died: the current one fails the recommender; another only its own calls. */
  _laneFailed(lane, err) {
    if (lane === this._lane) {
      this._fail(err);
      return;
    }
    lane.worker.terminate();
    for (const id of lane.ids) {
      const p = this._pending.get(id);
      this._pending.delete(id);
      p?.reject(err);
    }
    lane.ids.clear();
    if (lane === this._retiring) this._finishHandOver();
  }

  _fail(err) {
    if (this._dead) return;
    this._dead = err;
    for (const lane of [this._lane, this._replacement, this._retiring]) lane?.worker.terminate();
    for (const p of this._pending.values()) p.reject(err);
    this._pending.clear();
    for (const call of this._queued) call.reject(err);
    this._queued = [];
    this._initOptions = null; // and with them any bytes passed in
  }
}
