// The edgerec Cloudflare Worker.
//
//   POST /v1/recommend   board context (JSON) → ranked catalog items with scores and reasons
//   POST /v1/embed       { "texts": [...] } → one vector per text
//   GET  /v1/health      model id, catalog id, versions, wasm memory in use, loads so far
//
// The wasm is imported as a compiled module (Workers cannot compile wasm from bytes) and
// instantiated with the wasm-bindgen `--target web` glue's initSync. The int8 edge model and the
// catalog bundle are Static Assets (≤ 24 MiB shards listed in manifest.json, built by
// `npm run build`); they are loaded once per isolate, streamed shard by shard straight into
// wasm memory, so the weights are never held twice. Every request shares that one load.
import * as edgerec from "../dist/edgerec.js"; // the wasm-bindgen glue, copied from pkg/
import wasmModule from "../dist/edgerec.wasm";

/**
 * Request limits. The body sizes and `embedTexts` are checked here, before anything reaches the
 * wasm (which has its own limits besides). The text counts bound the encoder's CPU time per
 * request (up to ~0.5 s for a 256-token text on a slow core) well inside the 30 s default of the
 * Paid plan.
 */
export const LIMITS = Object.freeze({
  recommendBodyBytes: 1024 * 1024,
  embedBodyBytes: 256 * 1024,
  embedTexts: 32,
  /**
   * Pins one recommend request may have embedded on the fly (no `id`, `id: null`, or an id that
   * is not a catalog item, with text). Enforced by the wasm itself (`Recommender.maxTextPins`),
   * where the pins are resolved against the catalog: it answers `limit_exceeded`.
   */
  textPins: 32,
});

const DEFAULT_LOAD_WAIT_MS = 5000;
/** How much of an oversized body is read and dropped before answering 413. */
const DRAIN_BYTES = 4 * 1024 * 1024;

// ---- per-isolate state ------------------------------------------------------------------------

let wasm = null; // the instance's exports (for memory.buffer.byteLength)
let service = null; // { recommender, manifest, model, modelId, catalogId, items, loadMs, loadedAt }
let loading = null; // the one in-flight load every request awaits
let loads = 0; // loads started by this isolate (/v1/health `loads`)
/**
 * Set once the wasm instance trapped (in a request or in a load): its memory may be corrupt, so
 * this isolate never uses it again and answers 503 `unavailable` until it is replaced.
 */
let failed = null;

class HttpError extends Error {
  constructor(status, code, message, headers = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

class LoadError extends Error {}

function assetRequest(path) {
  return new Request(`https://assets.invalid/${path}`);
}

async function fetchAsset(env, path) {
  const res = await env.ASSETS.fetch(assetRequest(path));
  if (!res.ok) {
    await res.body?.cancel();
    throw new LoadError(`asset ${path}: HTTP ${res.status}`);
  }
  return res;
}

/**
 * Streams an asset's shards in order into `sink(chunk)`, checking every shard's size against
 * the manifest (a short, long or missing shard fails the load).
 */
async function streamShards(env, entry, sink) {
  let total = 0;
  for (const shard of entry.shards) {
    const res = await fetchAsset(env, shard.path);
    const reader = res.body.getReader();
    let got = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      got += value.byteLength;
      if (got > shard.size) {
        await reader.cancel();
        throw new LoadError(`asset ${shard.path} is longer than the manifest's ${shard.size} bytes`);
      }
      sink(value);
    }
    if (got !== shard.size) throw new LoadError(`asset ${shard.path} is ${got} bytes, the manifest says ${shard.size}`);
    total += got;
  }
  if (total !== entry.size) throw new LoadError(`${entry.name}: shards add up to ${total} bytes, the manifest says ${entry.size}`);
}

/**
 * Adds up the time spent in synchronous sections (no I/O inside, so wall time is CPU time).
 * With workerd's 1 ms clock each section reads 0 or 1+ ms; summed over many sections the
 * expectation is right. Deployed, the clock stands still between I/O and this reads 0.
 */
class CpuMeter {
  ms = 0;
  run(fn) {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.ms += performance.now() - t0;
    }
  }
}

/** Frees a wasm-bindgen object if it still owns its memory; never throws (after a trap it may). */
function safeFree(obj) {
  try {
    if (obj && obj.__wbg_ptr) obj.free();
  } catch {
    // a trapped instance may fail here too: nothing more can be done
  }
}

/** An asset as a WasmBytes buffer inside wasm memory (the bytes never exist in JS whole). */
async function assetIntoWasm(env, entry, cpu) {
  const bytes = cpu.run(() => new edgerec.WasmBytes(entry.size));
  try {
    await streamShards(env, entry, (chunk) => cpu.run(() => bytes.push(chunk)));
    return bytes;
  } catch (e) {
    safeFree(bytes);
    throw e;
  }
}

async function load(env) {
  const started = Date.now();
  const cpu = new CpuMeter();
  wasm ??= cpu.run(() => edgerec.initSync({ module: wasmModule }));
  const manifest = await (await fetchAsset(env, "manifest.json")).json();
  if (manifest?.format !== 1 || !manifest.catalog) throw new LoadError("manifest.json is not format 1 or has no catalog");

  // The model first, then the catalog: each is streamed into wasm memory and consumed there.
  let encoder = null;
  let model;
  let encoderId = null;
  if (env.EDGEREC_MODEL === "off") model = "disabled";
  else if (!manifest.model) model = "not_deployed";
  else {
    const bytes = await assetIntoWasm(env, manifest.model, cpu);
    encoder = cpu.run(() => edgerec.Encoder.fromEdgeBundle(bytes));
    encoderId = encoder.modelId; // the recommender reports the catalog's model id once it moves in
    model = "loaded";
  }

  let bytes;
  try {
    bytes = await assetIntoWasm(env, manifest.catalog, cpu);
  } catch (e) {
    safeFree(encoder);
    throw e;
  }
  // Both move in (and are freed by the wasm side if this throws: a bad checksum, another model).
  const recommender = cpu.run(() => edgerec.Recommender.fromBundle(bytes, encoder));
  // One limit on the pins embedded per request, counted by the wasm where it resolves the pins
  // (it answers limit_exceeded). On a wasm build without the property the assignment would only
  // add a JS property and limit nothing: refuse that build.
  if (!("maxTextPins" in recommender)) {
    safeFree(recommender);
    throw new LoadError("this wasm build cannot limit the pins embedded per request (no Recommender.maxTextPins)");
  }
  recommender.maxTextPins = LIMITS.textPins;
  if (recommender.maxTextPins !== LIMITS.textPins) {
    safeFree(recommender);
    throw new LoadError("this wasm build cannot limit the pins embedded per request (Recommender.maxTextPins)");
  }
  return {
    recommender,
    manifest,
    model,
    modelId: encoderId,
    catalogModelId: recommender.modelId,
    catalogId: recommender.catalogId,
    items: recommender.items,
    loadMs: Date.now() - started,
    loadCpuMs: Math.round(cpu.ms),
    loadedAt: new Date().toISOString(),
  };
}

const TIMED_OUT = Symbol("timed out");

/**
 * The loaded service. The first request starts the load; every request that arrives before it
 * is done awaits the same promise, up to LOAD_WAIT_MS, and then gets 503 `loading` (the load
 * goes on); LOAD_WAIT_MS=0 answers 503 `loading` at once. A failed load is a 503
 * `unavailable`, and the next request tries again, unless the wasm trapped: then the isolate
 * has failed for good (see `afterTrap`).
 */
async function ready(env, ctx) {
  if (failed) throw isolateFailed();
  if (service) return service;
  if (!loading) {
    loads++;
    loading = load(env).then(
      (s) => {
        service = s;
        return s;
      },
      (e) => {
        if (e instanceof WebAssembly.RuntimeError) {
          afterTrap(e, "the load");
        } else {
          loading = null;
          console.error("edgerec: load failed:", e?.code ?? "", e?.message ?? e);
        }
        throw e;
      },
    );
  }
  const pending = loading;
  ctx.waitUntil(pending.catch(() => {}));
  const stillLoading = () => new HttpError(503, "loading", "the model and catalog are still loading; retry shortly", { "retry-after": "1" });
  let waitMs = Number(env.LOAD_WAIT_MS ?? DEFAULT_LOAD_WAIT_MS);
  if (!Number.isFinite(waitMs) || waitMs < 0) waitMs = DEFAULT_LOAD_WAIT_MS;
  if (waitMs === 0) throw stillLoading(); // never wait: the load goes on under ctx.waitUntil
  // Measured in workerd: timers did not fire while asset shards were streaming in, only once
  // the streaming stopped; so this bounds a stalled load more than a busy one.
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, waitMs, TIMED_OUT);
  });
  let result;
  try {
    result = await Promise.race([pending, timeout]);
  } catch {
    if (failed) throw isolateFailed();
    throw new HttpError(503, "unavailable", "the model or catalog could not be loaded; try again later", { "retry-after": "5" });
  } finally {
    clearTimeout(timer);
  }
  if (result === TIMED_OUT) throw stillLoading();
  return result;
}

/**
 * A wasm trap (a bug: every input is validated) leaves the instance in an unknown state: its
 * memory and allocator may be corrupt and its objects borrowed for good, and the module
 * instance cannot be replaced inside this isolate. So the isolate is marked failed for good:
 * what can still be freed is freed, the trap is logged once, and every request (this one too)
 * is answered 503 `unavailable` until Cloudflare replaces the isolate (a redeploy, or eviction).
 */
function afterTrap(e, where) {
  if (!failed) {
    failed = { where, message: String(e?.message ?? e), at: new Date().toISOString() };
    console.error(
      `edgerec: wasm trap in ${where}: ${failed.message}; this isolate is marked failed and answers 503 unavailable until it is restarted`,
    );
  }
  const svc = service;
  service = null;
  loading = null;
  wasm = null;
  if (svc) safeFree(svc.recommender);
}

function isolateFailed() {
  return new HttpError(503, "unavailable", "this isolate's wasm instance failed and cannot serve again: the isolate must be restarted");
}

// ---- HTTP -------------------------------------------------------------------------------------

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-allow-headers": "content-type",
  "access-control-max-age": "86400",
};

function respond(status, bodyText, headers = {}) {
  return new Response(bodyText, {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...CORS, ...headers },
  });
}

function errorResponse(status, code, message, headers) {
  return respond(status, JSON.stringify({ error: { code, message } }), headers);
}

function requireJson(request) {
  const type = (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") {
    throw new HttpError(415, "unsupported_media_type", "send the body as JSON with content-type: application/json");
  }
}

/** The body as text, refusing more than `limit` bytes (by content-length, or while reading). */
async function readBody(request, limit) {
  const declared = request.headers.get("content-length");
  const tooLarge = () => new HttpError(413, "body_too_large", `the body is over the ${limit} byte limit of this route`);
  // A body declared far too large is refused unread; one a little too large is drained below.
  if (declared !== null && Number(declared) > limit + DRAIN_BYTES) throw tooLarge();
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      // Read (and drop) a bounded rest, so that a client still sending gets the 413 rather than
      // a reset connection; past that, stop reading.
      while (size <= limit + DRAIN_BYTES) {
        const next = await reader.read();
        if (next.done) break;
        size += next.value.byteLength;
      }
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(all);
  } catch {
    throw new HttpError(400, "invalid_json", "the body is not valid UTF-8");
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "invalid_json", text.length === 0 ? "the body is empty" : "the body is not valid JSON");
  }
}

/** A wasm error as an HTTP error: the wasm's messages describe the request and are safe to send. */
function fromWasm(e, svc) {
  if (e instanceof WebAssembly.RuntimeError) {
    afterTrap(e, "a request");
    return isolateFailed();
  }
  switch (e?.code) {
    case "invalid_input":
      if (svc.model !== "loaded" && /encoder/.test(e.message)) return modelUnavailable(svc);
      return new HttpError(400, "invalid_input", e.message);
    case "limit_exceeded":
      return new HttpError(413, "limit_exceeded", e.message);
    case "inference_failed":
      console.error("edgerec: inference failed:", e.message);
      return new HttpError(500, "inference_failed", "the model failed on this input");
    default:
      return e;
  }
}

function modelUnavailable(svc) {
  const why = {
    disabled: "this deployment runs without the text model (EDGEREC_MODEL=off)",
    not_deployed: "this deployment has no text model",
  }[svc.model];
  // Permanent for this deployment (not a transient 503): 501, without Retry-After.
  return new HttpError(501, "model_unavailable", `${why}: only pins that are catalog items can be used`);
}

/**
 * Runs the synchronous part of a request and serialises its result, timing it with
 * performance.now(). The section does no I/O, so its wall time is its CPU time. workerd's clock
 * has a 1 ms resolution; locally (wrangler dev, Miniflare) it advances during computation, but
 * deployed on Cloudflare it only advances at I/O, so there cpu_ms reads 0 and the platform's
 * own CPU time (Workers Logs / `wrangler tail`: cpuTime) is the figure to go by.
 */
function timed(parseMs, compute) {
  const t0 = performance.now();
  const result = compute();
  const text = JSON.stringify(result);
  const cpuMs = Math.round(parseMs + (performance.now() - t0));
  return { text: `{"cpu_ms":${cpuMs},${text.slice(1)}`, cpuMs };
}

function timedParse(text) {
  const t0 = performance.now();
  const value = parseJson(text);
  return { value, parseMs: performance.now() - t0 };
}

async function recommend(request, env, ctx) {
  requireJson(request);
  const { value, parseMs } = timedParse(await readBody(request, LIMITS.recommendBodyBytes));
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new HttpError(400, "invalid_input", "the body must be a board context object: { boards: [...] }");
  }
  const svc = await ready(env, ctx);
  const { text, cpuMs } = timed(parseMs, () => {
    if (failed) throw isolateFailed(); // another request trapped since ready(): svc is freed
    try {
      return svc.recommender.recommend(value);
    } catch (e) {
      throw fromWasm(e, svc);
    }
  });
  return respond(200, text, { "server-timing": `cpu;dur=${cpuMs}` });
}

async function embed(request, env, ctx) {
  requireJson(request);
  const { value, parseMs } = timedParse(await readBody(request, LIMITS.embedBodyBytes));
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new HttpError(400, "invalid_input", 'the body must be an object: { "texts": ["...", ...] }');
  }
  const extra = Object.keys(value).filter((k) => k !== "texts");
  if (extra.length) throw new HttpError(400, "invalid_input", `unknown field ${JSON.stringify(extra[0])}: expected only "texts"`);
  const { texts } = value;
  if (!Array.isArray(texts) || texts.length === 0) throw new HttpError(400, "invalid_input", "texts must be a non-empty array of strings");
  const bad = texts.findIndex((t) => typeof t !== "string");
  if (bad >= 0) throw new HttpError(400, "invalid_input", `texts[${bad}] is not a string`);
  if (texts.length > LIMITS.embedTexts) {
    throw new HttpError(413, "limit_exceeded", `texts has ${texts.length} entries; the limit is ${LIMITS.embedTexts} per request`);
  }
  const svc = await ready(env, ctx);
  if (svc.model !== "loaded") throw modelUnavailable(svc);
  const { text, cpuMs } = timed(parseMs, () => {
    if (failed) throw isolateFailed(); // another request trapped since ready(): svc is freed
    let flat;
    try {
      flat = svc.recommender.embed(texts);
    } catch (e) {
      throw fromWasm(e, svc);
    }
    const dim = flat.length / texts.length;
    const vectors = texts.map((_, i) => Array.from(flat.subarray(i * dim, (i + 1) * dim)));
    return { embedded_texts: texts.length, model_id: svc.modelId, dim, vectors };
  });
  return respond(200, text, { "server-timing": `cpu;dur=${cpuMs}` });
}

async function health(env, ctx) {
  const svc = await ready(env, ctx);
  return respond(
    200,
    JSON.stringify({
      status: "ok",
      model: svc.model,
      model_id: svc.modelId,
      catalog_model_id: svc.catalogModelId,
      catalog_id: svc.catalogId,
      catalog_items: svc.items,
      versions: {
        edgerec: edgerec.version(),
        worker: svc.manifest.worker_version,
        wasm: typeof edgerec.isa === "function" ? edgerec.isa() : `${svc.manifest.wasm?.variant ?? "unknown"} (by the manifest)`,
        manifest: svc.manifest.format,
      },
      memory: { wasm_bytes: wasm.memory.buffer.byteLength },
      loads,
      load_ms: svc.loadMs,
      load_cpu_ms: svc.loadCpuMs,
      loaded_at: svc.loadedAt,
    }),
  );
}

const ROUTES = {
  "/v1/recommend": { POST: recommend },
  "/v1/embed": { POST: embed },
  "/v1/health": { GET: (_request, env, ctx) => health(env, ctx) },
};

async function route(request, env, ctx) {
  const { pathname } = new URL(request.url);
  const methods = ROUTES[pathname];
  if (!methods) throw new HttpError(404, "not_found", `no route ${pathname}; see /v1/recommend, /v1/embed, /v1/health`);
  if (request.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS });
  const handler = methods[request.method];
  if (!handler) {
    const allow = Object.keys(methods).join(", ");
    throw new HttpError(405, "method_not_allowed", `${pathname} takes ${allow}`, { allow });
  }
  return handler(request, env, ctx);
}

export default {
  async fetch(request, env, ctx) {
    try {
      return await route(request, env, ctx);
    } catch (e) {
      if (e instanceof HttpError) return errorResponse(e.status, e.code, e.message, e.headers);
      if (e instanceof WebAssembly.RuntimeError) {
        afterTrap(e, "a request");
        const f = isolateFailed();
        return errorResponse(f.status, f.code, f.message, f.headers);
      }
      // Anything else is a bug: log it whole, tell the client nothing about it.
      console.error("edgerec: unexpected error:", e?.stack ?? e);
      return errorResponse(500, "internal", "internal error");
    }
  },
};
