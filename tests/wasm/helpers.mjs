// Loads the built wasm package (pkg/) and the model files for the node tests and benchmarks.
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { join, dirname } from "node:path";

export const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

let exports;

/** Imports pkg/edgerec.js and instantiates its .wasm once (as a Worker would: from a module). */
export async function loadPkg() {
  const wasmPath = join(repo, "pkg", "edgerec_bg.wasm");
  if (!existsSync(wasmPath)) throw new Error("pkg/ is missing: run scripts/build-wasm.sh");
  const pkg = await import(join(repo, "pkg", "edgerec.js"));
  exports ??= pkg.initSync({ module: new WebAssembly.Module(readFileSync(wasmPath)) });
  return pkg;
}

/** Bytes of wasm linear memory right now. */
export function wasmMemoryBytes() {
  return exports.memory.buffer.byteLength;
}

export function defaultModelDir() {
  return join(repo, ".cache", "models", "all-MiniLM-L6-v2");
}

export function modelDir() {
  return process.env.EDGEREC_MODEL_DIR || defaultModelDir();
}

function optional(path) {
  return existsSync(path) ? new Uint8Array(readFileSync(path)) : undefined;
}

/** The files of a model folder as the Encoder constructor takes them. */
export function modelFiles(dir = modelDir()) {
  return {
    config: new Uint8Array(readFileSync(join(dir, "config.json"))),
    tokenizer: new Uint8Array(readFileSync(join(dir, "tokenizer.json"))),
    weights: new Uint8Array(readFileSync(join(dir, "model.safetensors"))),
    pooling: optional(join(dir, "1_Pooling", "config.json")),
    sentenceConfig: optional(join(dir, "sentence_bert_config.json")),
  };
}

export function golden() {
  const dir = join(repo, "tests", "golden");
  const corpus = JSON.parse(readFileSync(join(dir, "corpus.json"), "utf8"));
  const tokens = JSON.parse(readFileSync(join(dir, "tokens.json"), "utf8")).ids;
  const buf = readFileSync(join(dir, "embeddings.f32"));
  const vectors = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  return { corpus, tokens, vectors };
}

export function cosine(a, b) {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

/**
 * A fresh instance of one wasm build: "simd128" (pkg/edgerec_bg.wasm) or "relaxed"
 * (pkg/edgerec_relaxed_bg.wasm). The glue is imported under its own URL each time, so every call
 * gets its own module instance and its own linear memory (`memoryBytes()`).
 */
let fresh = 0;
export async function loadVariant(variant) {
  const file = { simd128: "edgerec_bg.wasm", relaxed: "edgerec_relaxed_bg.wasm" }[variant];
  if (!file) throw new Error(`unknown wasm variant ${variant}`);
  const wasmPath = join(repo, "pkg", file);
  if (!existsSync(wasmPath)) throw new Error(`${wasmPath} is missing: run scripts/build-wasm.sh`);
  const pkg = await import(`${pathToFileURL(join(repo, "pkg", "edgerec.js")).href}?${variant}-${fresh++}`);
  const instance = pkg.initSync({ module: new WebAssembly.Module(readFileSync(wasmPath)) });
  return { pkg, memoryBytes: () => instance.memory.buffer.byteLength };
}

/** The int8 edge bundle scripts/build-assets.sh makes (or $EDGEREC_EDGE_BUNDLE). */
export function edgeBundlePath() {
  return process.env.EDGEREC_EDGE_BUNDLE || join(repo, ".cache", "assets", "all-MiniLM-L6-v2.edgerec");
}

/** The lite model scripts/build-assets.sh makes (`edgerec distill`). */
export function liteBundlePath() {
  return join(repo, ".cache", "assets", "all-MiniLM-L6-v2.lite.edgerec");
}

/** The movielens catalog the lite model embedded (scripts/build-assets.sh). */
export function liteCatalogPath() {
  return join(repo, ".cache", "assets", "movielens.lite.bin");
}

/** The movielens catalog scripts/build-assets.sh makes. */
export function catalogPath() {
  return join(repo, ".cache", "assets", "movielens.bin");
}

/** Streams a file into a WasmBytes in 1 MiB chunks, as a fetch body would arrive. */
export function wasmBytesOf(pkg, path) {
  const buf = readFileSync(path);
  const bytes = new pkg.WasmBytes(buf.length);
  for (let at = 0; at < buf.length; at += 1 << 20) bytes.push(buf.subarray(at, at + (1 << 20)));
  return bytes;
}

/** Catalog-like texts: movielens titles and tags (the golden corpus when the data is absent). */
export function catalogTexts(n) {
  const items = join(process.env.EDGEREC_DATA_DIR || join(repo, "..", "shared", "data", "movielens-small"), "items.jsonl");
  if (!existsSync(items)) return JSON.parse(readFileSync(join(repo, "tests", "golden", "corpus.json"), "utf8")).slice(0, n);
  return readFileSync(items, "utf8").trim().split("\n").slice(0, n).map((l) => {
    const it = JSON.parse(l);
    return [it.title, it.description, (it.tags || []).join(", ")].filter(Boolean).join(". ");
  });
}
