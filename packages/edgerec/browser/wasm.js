// The Web Worker's wasm module: the wasm-bindgen glue (the package's edgerec.js, imported
// statically so that bundlers include it, or another given by the page's `pkg` option) and one of
// the two builds, relaxed-simd where the browser has it, else simd128, compiled while it streams.

import * as packagedGlue from "../edgerec.js";
import { EdgerecError } from "./errors.js";
import { fetchOk, finalKey, keep, throttled, tmpKey } from "./assets.js";
import { Sha256 } from "./sha256.js";
import { relaxedSimdSupported, simd128Supported } from "./simd.js";

/** The glue's import, started by the page's `prepare` message (a head start) or by init. */
let glueImport = null;
/** @param {string | null} url  another glue than the package's (null: the package's) */
export function importGlue(url) {
  if (!url) return (glueImport ??= Promise.resolve(packagedGlue));
  glueImport ??= import(url).catch((err) => {
    throw new EdgerecError("load_failed", `cannot import ${url}: ${err.message}`);
  });
  glueImport.catch(() => {}); // reported by init
  return glueImport;
}

/**
 * Imports the glue and instantiates the build `o.simd` asks for. A build whose SHA-256 the
 * manifest gives (`o.wasmSha256`) is kept in the Cache API under it, as the catalog and the
 * model are: a second load compiles it from there without a request.
 * @param {{ pkg: string | null, wasm: { simd128: string, relaxed?: string | null }, wasmSha256?: { simd128?: string | null, relaxed?: string | null } | null, simd: "auto" | "relaxed" | "simd128" }} o
 * @param {Cache | null} cache
 * @returns {Promise<{ glue: any, exports: any, choice: "relaxed" | "simd128", source: "cache" | "network" }>}
 */
export async function loadWasm(o, cache = null) {
  if (typeof WebAssembly !== "object") throw new EdgerecError("unsupported", "this browser has no WebAssembly");
  if (!simd128Supported()) throw new EdgerecError("unsupported", "this browser has no WebAssembly SIMD (simd128)");
  const glue = await importGlue(o.pkg);
  const relaxedOk = relaxedSimdSupported();
  if (o.simd === "relaxed" && !relaxedOk) throw new EdgerecError("unsupported", "this browser has no relaxed SIMD");
  if (o.simd === "relaxed" && !o.wasm.relaxed) throw new EdgerecError("invalid_input", "no relaxed-simd build given (wasm.relaxed)");
  let choice = o.simd === "simd128" || !relaxedOk || !o.wasm.relaxed ? "simd128" : "relaxed";
  const sha = () => (cache && o.wasmSha256?.[choice]) || null;

  let module = null, source = "cache", res = null;
  if (sha()) module = await fromCache(cache, sha());
  if (!module) {
    res = await fetchOk(o.wasm[choice], choice === "relaxed" && o.simd === "auto");
    if (!res) { // no relaxed build on the server: use simd128 (from the cache if it is there)
      choice = "simd128";
      module = sha() ? await fromCache(cache, sha()) : null;
      if (!module) res = await fetchOk(o.wasm.simd128);
    }
  }
  if (!module) {
    source = "network";
    // A compressed response's content-length is not the size of what the stream gives.
    const total = res.headers.get("content-encoding") ? null : Number(res.headers.get("content-length")) || null;
    let body = res.body;
    let stored = null;
    if (sha()) {
      // The copy for the cache is hashed on its way in: only bytes with the manifest's hash,
      // and that compiled, are kept under it.
      const [mine, theirs] = body.tee();
      body = mine;
      const hasher = new Sha256();
      const hashed = theirs.pipeThrough(new TransformStream({ transform(chunk, ctl) { hasher.update(chunk); ctl.enqueue(chunk); } }));
      const tmp = tmpKey(sha());
      const headers = {
        "content-type": "application/wasm",
        "x-edgerec-url": o.wasm[choice],
        "x-edgerec-sha256": sha(),
        ...(total != null ? { "x-edgerec-bytes": String(total) } : {}),
      };
      stored = cache.put(tmp, new Response(hashed, { headers })).then(() => ({ tmp, hex: hasher.hex() }), () => null);
    }
    try {
      module = await compileCounted(body, total, "network", o.wasm[choice]);
    } catch (err) {
      if (stored) stored.then((put) => put && cache.delete(put.tmp)).catch(() => {});
      throw err;
    }
    const put = stored ? await stored : null;
    if (put) {
      if (put.hex === sha().toLowerCase()) await keep(cache, put.tmp, sha(), o.wasm[choice]);
      else await cache.delete(put.tmp).catch(() => {});
    }
  }
  const exports = await glue.default({ module_or_path: module });
  return { glue, exports, choice, source };
}

/** The module compiled from the cache entry under `sha`, or null (no entry, or one that fails). */
async function fromCache(cache, sha) {
  let hit = null;
  try {
    hit = await cache.match(finalKey(sha));
  } catch {
    return null;
  }
  if (!hit) return null;
  try {
    return await compileCounted(hit.body, Number(hit.headers.get("x-edgerec-bytes")) || null, "cache", "the cached wasm");
  } catch {
    await cache.delete(finalKey(sha)).catch(() => {}); // unreadable: the network has it
    return null;
  }
}

/** Compiles a wasm body while it streams, reporting its bytes as the `wasm` phase. */
async function compileCounted(body, total, source, what) {
  const report = throttled("wasm", total, source);
  let loaded = 0;
  report(0);
  const counted = body.pipeThrough(new TransformStream({
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
    throw new EdgerecError("load_failed", `cannot compile ${what}: ${err.message}`);
  }
  report(loaded, true);
  return module;
}
