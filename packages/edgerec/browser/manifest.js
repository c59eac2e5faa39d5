// The page's side of what to load: a manifest (the schema of scripts/assets.mjs, which the
// Worker's build writes too) and the `catalog`/`model`/`wasm` options, as the specs the Web
// Worker loads (assets.js). Every URL leaves here absolute.

import { EdgerecError } from "./errors.js";

/** The manifest schema this harness reads (scripts/assets.mjs MANIFEST_FORMAT). */
export const MANIFEST_FORMAT = 2;

const SHA256_HEX = /^[0-9a-f]{64}$/i;
const isSize = (n) => Number.isSafeInteger(n) && n >= 0;

/**
 * Fetches and checks a manifest; its URLs are resolved against the manifest's own URL.
 * @returns {Promise<{ catalog: object | null, model: object | null, lite: { catalog: object, model: object } | null, wasm?: { simd128?: string, relaxed: string | null } }>}
 */
export async function loadManifest(manifestUrl, signal) {
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
  if (!json || typeof json !== "object" || json.format !== MANIFEST_FORMAT) {
    throw new EdgerecError("load_failed", `${manifestUrl}: not an edgerec manifest (format ${MANIFEST_FORMAT})`);
  }
  const entry = (key, e) => (e == null ? null : entrySpec(e, manifestUrl, key));
  /** A wasm build: compiled while it streams, so one file (a shard) of at most 24 MiB. */
  const wasmUrl = (key, e) => {
    const spec = entry(key, e);
    if (spec && spec.shards.length !== 1) throw new EdgerecError("load_failed", `${manifestUrl}: ${key} must be one shard`);
    return spec ? spec.shards[0].url : null;
  };
  const lite = json.lite == null ? null : {
    catalog: entry("lite.catalog", json.lite.catalog),
    model: entry("lite.model", json.lite.model),
  };
  if (lite && !(lite.catalog && lite.model)) throw new EdgerecError("load_failed", `${manifestUrl}: lite needs a catalog and a model`);
  return {
    catalog: entry("catalog", json.catalog),
    model: entry("model", json.model),
    lite, // the lite model and the catalog it embedded, or null
    wasm: json.wasm ? {
      simd128: wasmUrl("wasm.simd128", json.wasm.simd128) ?? undefined,
      relaxed: wasmUrl("wasm.relaxed", json.wasm.relaxed), // null: the build made none
    } : undefined,
    // The builds' hashes: the worker keeps them in the Cache API under these, like the files.
    wasmSha256: json.wasm ? { simd128: json.wasm.simd128?.sha256 ?? null, relaxed: json.wasm.relaxed?.sha256 ?? null } : null,
  };
}

/** A manifest entry `{ name, bytes, sha256, shards: [{ url, bytes, sha256 }] }` as a spec. */
function entrySpec(e, manifestUrl, key) {
  const bad = (what) => new EdgerecError("load_failed", `${manifestUrl}: ${key} ${what}`);
  if (typeof e !== "object" || !isSize(e.bytes) || !(typeof e.sha256 === "string" && SHA256_HEX.test(e.sha256))) {
    throw bad("needs bytes and a sha256");
  }
  if (!Array.isArray(e.shards) || e.shards.length === 0) throw bad("needs shards");
  let sum = 0;
  const shards = e.shards.map((s, i) => {
    if (!s || typeof s.url !== "string" || !isSize(s.bytes)) throw bad(`shards[${i}] needs a url and bytes`);
    sum += s.bytes;
    return { url: new URL(s.url, manifestUrl).href, bytes: s.bytes };
  });
  if (sum !== e.bytes) throw bad(`shards add up to ${sum} bytes, not ${e.bytes}`);
  // The id a new build's version of this entry shares (the cache then replaces the old one).
  return { id: `${manifestUrl}#${key}`, sha256: e.sha256.toLowerCase(), bytes: e.bytes, shards };
}

export function url(value, base, name) {
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
export function assetSpec(value, base, name) {
  if (value == null) return null;
  if (typeof value === "string" || value instanceof URL) {
    const href = url(value, base, name);
    return { id: href, sha256: null, bytes: null, shards: [{ url: href, bytes: null }] };
  }
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
    if (bytes !== null && !isSize(bytes)) throw new EdgerecError("invalid_input", `${name}.bytes must be a non-negative integer`);
    const href = url(value.url, base, name);
    return { id: href, sha256: sha256 && sha256.toLowerCase(), bytes, shards: [{ url: href, bytes }] };
  }
  throw new EdgerecError("invalid_input", `${name} must be a URL, { url, sha256 } or bytes`);
}
