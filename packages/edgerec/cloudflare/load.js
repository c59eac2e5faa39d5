// The isolate's state: the wasm instance, and the model and catalog loaded into it once.
//
// The wasm is imported as a compiled module (Workers cannot compile wasm from bytes: wrangler's
// bundler turns the .wasm import into one) and instantiated with the wasm-bindgen `--target web`
// glue's initSync. The int8 edge model (or, with EDGEREC_MODEL = "lite", the lite model) and the
// catalog bundle it embedded are Static Assets (≤ 24 MiB shards listed in manifest.json, the schema of
// scripts/assets.mjs); they are loaded once per isolate, streamed shard by shard straight into
// wasm memory, so the weights are never held twice. Every request shares that one load.
import * as packagedGlue from "../edgerec.js"; // the wasm-bindgen glue (edgerec/wasm)
import packagedModule from "../edgerec_relaxed_bg.wasm"; // workerd has relaxed SIMD
import { LOAD_FAILED, fromWasmError } from "./errors.js";
import { HttpError } from "./http.js";
import { LIMITS } from "./limits.js";

/** The manifest schema this Worker reads (scripts/assets.mjs MANIFEST_FORMAT). */
const MANIFEST_FORMAT = 2;
const ASSETS_ROOT = "https://assets.invalid/";
const DEFAULT_LOAD_WAIT_MS = 5000;

let edgerec = packagedGlue;
let wasmModule = packagedModule;
let wasm = null; // the instance's exports (for memory.buffer.byteLength)
let service = null; // { recommender, manifest, model, modelId, catalogId, items, loadMs, loadedAt }
let loading = null; // the one in-flight load every request awaits
let loads = 0; // loads started by this isolate (/v1/health `loads`)
/**
 * Set once the wasm instance trapped (in a request or in a load): its memory may be corrupt, so
 * this isolate never uses it again and answers 503 `unavailable` until it is replaced.
 */
let failed = null;

class LoadError extends Error {}

/**
 * Runs another glue and module than the package's (createHandler's `wasm` option: tests wrap the
 * glue to make it fail on purpose). Only before the first load: an isolate has one instance.
 */
export function useWasm({ glue = packagedGlue, module = packagedModule } = {}) {
  if (wasm || loading) throw new Error("createHandler: the wasm is already loaded in this isolate");
  edgerec = glue;
  wasmModule = module;
}

/** What /v1/health reports besides the service: loads started, wasm memory in use. */
export function isolateStats() {
  return { loads, wasmBytes: wasm ? wasm.memory.buffer.byteLength : 0 };
}

/**
 * Where the manifest is in the Static Assets: EDGEREC_MANIFEST (a path inside them; default
 * "manifest.json"), so that several Workers can share one asset folder (each role of a sharded
 * catalog its own manifest in it).
 */
function manifestUrl(env) {
  const path = String(env.EDGEREC_MANIFEST ?? "manifest.json");
  if (!/^[\w.-]+(\/[\w.-]+)*$/.test(path) || path.split("/").some((p) => p === "..")) {
    throw new LoadError(`EDGEREC_MANIFEST=${path}: a relative path inside the Static Assets, like "manifest.json"`);
  }
  return new URL(path, ASSETS_ROOT);
}

/** A manifest url (relative to the manifest) as a request to the ASSETS binding. */
async function fetchAsset(env, url) {
  const res = await env.ASSETS.fetch(new Request(new URL(url, manifestUrl(env))));
  if (!res.ok) {
    await res.body?.cancel();
    throw new LoadError(`asset ${url}: HTTP ${res.status}`);
  }
  return res;
}

/**
 * Streams an entry's shards in order into `sink(chunk)`, checking every shard's size against
 * the manifest (a short, long or missing shard fails the load).
 */
async function streamShards(env, entry, sink) {
  let total = 0;
  for (const shard of entry.shards) {
    const res = await fetchAsset(env, shard.url);
    const reader = res.body.getReader();
    let got = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      got += value.byteLength;
      if (got > shard.bytes) {
        await reader.cancel();
        throw new LoadError(`asset ${shard.url} is longer than the manifest's ${shard.bytes} bytes`);
      }
      sink(value);
    }
    if (got !== shard.bytes) throw new LoadError(`asset ${shard.url} is ${got} bytes, the manifest says ${shard.bytes}`);
    total += got;
  }
  if (total !== entry.bytes) throw new LoadError(`${entry.name}: shards add up to ${total} bytes, the manifest says ${entry.bytes}`);
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
  const bytes = cpu.run(() => new edgerec.WasmBytes(entry.bytes));
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
  const manifest = await (await fetchAsset(env, manifestUrl(env).href)).json();
  if (manifest?.format !== MANIFEST_FORMAT) throw new LoadError(`manifest.json is not format ${MANIFEST_FORMAT}`);
  // A sharded catalog's Workers: the front (the set's front file and the model; the shards over
  // service bindings) and each shard (one shard file). Without a role: a whole catalog.
  if (manifest.role === "shard") return loadShard(env, manifest, cpu, started);
  if (manifest.role === "front") return loadFront(env, manifest, cpu, started);
  if (manifest.role !== undefined) throw new LoadError(`manifest.json: unknown role ${JSON.stringify(manifest.role)}`);
  if (!manifest.catalog) throw new LoadError("manifest.json has no catalog");

  // EDGEREC_MODEL = "lite": the manifest's lite pair (the lite model and the catalog it
  // embedded) instead of the int8 model and its catalog.
  const choice = env.EDGEREC_MODEL ?? "on";
  if (!["on", "off", "lite"].includes(choice)) throw new LoadError(`EDGEREC_MODEL=${choice}: use "on", "lite" or "off"`);
  const lite = choice === "lite";
  if (lite && !(manifest.lite?.catalog && manifest.lite?.model)) {
    throw new LoadError("EDGEREC_MODEL=lite but manifest.json has no lite pair (build with the lite model and catalog)");
  }
  const pair = lite ? manifest.lite : manifest;

  // The model first, then the catalog: each is streamed into wasm memory and consumed there.
  let encoder = null;
  let model;
  let encoderId = null;
  if (choice === "off") model = "disabled";
  else if (!pair.model) model = "not_deployed";
  else {
    const bytes = await assetIntoWasm(env, pair.model, cpu);
    // A lite pair must hold a lite model, the default one an int8 model: either kind in the
    // wrong place is the wasm's invalid_model error, which names what the file is.
    encoder = cpu.run(() => (lite ? edgerec.Encoder.fromLiteBundle(bytes) : edgerec.Encoder.fromEdgeBundle(bytes)));
    encoderId = encoder.modelId; // the recommender reports the catalog's model id once it moves in
    model = "loaded";
  }

  let bytes;
  try {
    bytes = await assetIntoWasm(env, pair.catalog, cpu);
  } catch (e) {
    safeFree(encoder);
    throw e;
  }
  // Both move in (and are freed by the wasm side if this throws: a bad checksum, another model).
  const recommender = cpu.run(() => edgerec.Recommender.fromBundle(bytes, encoder));
  // One limit on the pins embedded per request, counted by the wasm where it resolves the pins
  // (it answers limit_exceeded). On a wasm build without the property the assignment would only
  // add a JS property and limit nothing: refuse that build.
  if ("maxTextPins" in recommender) recommender.maxTextPins = LIMITS.textPins;
  if (recommender.maxTextPins !== LIMITS.textPins) {
    safeFree(recommender);
    throw new LoadError("this wasm build cannot limit the pins embedded per request (Recommender.maxTextPins)");
  }
  return {
    role: "whole",
    recommender,
    embedder: recommender,
    manifest,
    model,
    modelKind: lite ? "lite" : "int8",
    modelId: encoderId,
    catalogModelId: recommender.modelId,
    catalogId: recommender.catalogId,
    items: recommender.items,
    loadMs: Date.now() - started,
    loadCpuMs: Math.round(cpu.ms),
    loadedAt: new Date().toISOString(),
  };
}

/** A shard Worker: its one shard file, answering the front's messages (sharded.js). */
async function loadShard(env, manifest, cpu, started) {
  if (!manifest.shard) throw new LoadError("manifest.json (role shard) has no shard entry");
  const bytes = await assetIntoWasm(env, manifest.shard, cpu);
  const shard = cpu.run(() => edgerec.Shard.fromBundle(bytes));
  const description = cpu.run(() => shard.describe());
  return {
    role: "shard",
    shard,
    description,
    manifest,
    model: "not_deployed",
    catalogId: description.catalog_id,
    items: description.items,
    loadMs: Date.now() - started,
    loadCpuMs: Math.round(cpu.ms),
    loadedAt: new Date().toISOString(),
  };
}

/**
 * A front Worker: the set's front file and the model (either kind), then every shard checked
 * over its service binding (manifest.shards[i].binding): a shard that is missing, of another
 * set or in the wrong place fails the load (a 503 whose message names it), as a missing file
 * would; the next request tries again.
 */
async function loadFront(env, manifest, cpu, started) {
  if (!manifest.front || !Array.isArray(manifest.shards) || manifest.shards.length === 0) {
    throw new LoadError("manifest.json (role front) needs a front entry and its shards");
  }
  let encoder = null;
  let model = env.EDGEREC_MODEL === "off" ? "disabled" : manifest.model ? "loaded" : "not_deployed";
  if (model === "loaded") {
    const bytes = await assetIntoWasm(env, manifest.model, cpu);
    encoder = cpu.run(() => edgerec.Encoder.fromBundle(bytes));
  }
  const encoderId = encoder?.modelId ?? null;
  const modelKind = encoder?.kind ?? null;
  let bytes;
  try {
    bytes = await assetIntoWasm(env, manifest.front, cpu);
  } catch (e) {
    safeFree(encoder);
    throw e;
  }
  const front = cpu.run(() => edgerec.Front.fromBundle(bytes, encoder));
  front.maxTextPins = LIMITS.textPins;
  try {
    if (front.shards !== manifest.shards.length) {
      throw new LoadError(`the front has ${front.shards} shards, manifest.json lists ${manifest.shards.length}`);
    }
    const bindings = manifest.shards.map((s, i) => {
      if (!env[s.binding]?.fetch) throw new LoadError(`shard ${i}: no service binding ${s.binding} (see the front's wrangler configuration)`);
      return s.binding;
    });
    await checkShards(env, front, bindings, Number(env.SHARD_TIMEOUT_MS ?? DEFAULT_SHARD_TIMEOUT_MS));
    return {
      role: "front",
      front,
      embedder: front,
      bindings,
      manifest,
      model,
      modelKind,
      modelId: encoderId,
      catalogModelId: front.modelId,
      catalogId: front.catalogId,
      items: front.items,
      loadMs: Date.now() - started,
      loadCpuMs: Math.round(cpu.ms),
      loadedAt: new Date().toISOString(),
    };
  } catch (e) {
    safeFree(front);
    throw e;
  }
}

/** How long the front waits for a shard's answer before it counts the shard as failed. */
export const DEFAULT_SHARD_TIMEOUT_MS = 2000;

/** Every shard's description, checked against the front (typed errors name the shard). */
async function checkShards(env, front, bindings, timeoutMs) {
  await Promise.all(
    bindings.map(async (binding, i) => {
      const description = await callShard(env, binding, "describe", null, timeoutMs).catch((e) => {
        throw new LoadError(`shard ${i} (${binding}) did not answer: ${e.message}`);
      });
      try {
        front.checkShard(i, description);
      } catch (e) {
        throw new LoadError(`shard ${i} (${binding}): ${e.message}`);
      }
    }),
  );
}

/**
 * One call to a shard's EdgerecShard entrypoint (shard.js) over its service binding (Workers
 * RPC): `step` is describe, lookup, candidates or more, `message` its bytes (null for
 * describe). The answer (bytes; describe's object), or an Error (the shard's, a timeout):
 * never a hang.
 */
export async function callShard(env, binding, step, message, timeoutMs) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
  });
  let call = null;
  try {
    const stub = env[binding];
    call = message === null ? stub[step]() : stub[step](message);
    return await Promise.race([call, timeout]);
  } finally {
    clearTimeout(timer);
    // Every RPC result carries a disposer that holds the call open until it runs (the garbage
    // collector is no substitute). Our results are plain data (bytes, describe's object),
    // which disposing leaves intact; a late one, after a timeout, is disposed when it comes.
    // An RPC call cannot be cancelled: one to a hung shard stays pending, answered by nobody.
    call?.then((result) => result?.[Symbol.dispose]?.(), () => {});
  }
}

const TIMED_OUT = Symbol("timed out");

/**
 * The loaded service. The first request starts the load; every request that arrives before it
 * is done awaits the same promise, up to LOAD_WAIT_MS, and then gets 503 `loading` (the load
 * goes on); LOAD_WAIT_MS=0 answers 503 `loading` at once. A failed load is a 503
 * `unavailable`, and the next request tries again, unless the wasm trapped: then the isolate
 * has failed for good (see `afterTrap`).
 */
export async function ready(env, ctx) {
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
    // Whatever failed (a missing shard, invalid_catalog, invalid_model, model_mismatch, ...).
    throw new HttpError(LOAD_FAILED.status, LOAD_FAILED.code, LOAD_FAILED.message, { "retry-after": LOAD_FAILED.retryAfter });
  } finally {
    clearTimeout(timer);
  }
  if (result === TIMED_OUT) throw stillLoading();
  return result;
}

/**
 * Runs `fn` (a synchronous call into the wasm) for a request: a wasm error becomes its HTTP
 * error (errors.js), a trap fails the isolate. Checks first that no other request trapped since
 * this one got `svc` from ready() (svc is freed then).
 */
export function inWasm(svc, fn) {
  if (failed) throw isolateFailed();
  try {
    return fn();
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) {
      afterTrap(e, "a request");
      throw isolateFailed();
    }
    throw e instanceof HttpError ? e : fromWasmError(e, svc);
  }
}

/**
 * A wasm trap (a bug: every input is validated) leaves the instance in an unknown state: its
 * memory and allocator may be corrupt and its objects borrowed for good, and the module
 * instance cannot be replaced inside this isolate. So the isolate is marked failed for good:
 * what can still be freed is freed, the trap is logged once, and every request (this one too)
 * is answered 503 `unavailable` until Cloudflare replaces the isolate (a redeploy, or eviction).
 */
export function afterTrap(e, where) {
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
  if (svc) safeFree(svc.recommender ?? svc.front ?? svc.shard);
}

export function isolateFailed() {
  return new HttpError(503, "unavailable", "this isolate's wasm instance failed and cannot serve again: the isolate must be restarted");
}

/** The wasm crate's version and the ISA of the build running. */
export function wasmVersions() {
  return { edgerec: edgerec.version(), wasm: edgerec.isa() };
}
