// Loads the built wasm package (pkg/) and the model files for the node tests and benchmarks.
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
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
