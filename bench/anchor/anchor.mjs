// The encoder against its anchor, in one Node process: edgerec's int8 encoder (the relaxed-simd
// and the simd128 wasm builds) against transformers.js with its q8 model on onnxruntime-web's
// plain wasm build, one thread each, on the same catalog texts. Rounds interleave the engines
// (the order rotates each round) and the anchor runs twice per round (A and B): the spread of
// B / A is the noise floor the ratios are read against. Also: cosine of each engine to the f32
// sentence-transformers vectors of the golden corpus, and load time.
//
//   npm --prefix bench/anchor ci        (ONNXRUNTIME_NODE_INSTALL=skip: no native onnxruntime)
//   node_modules/.bin/node bench/anchor/anchor.mjs [texts=256] [rounds=5]
//
// Needs pkg/ (scripts/build-wasm.sh), the edge model (scripts/build-assets.sh) and the anchor
// model in ../shared/anchors/transformersjs/. A benchmark to run and report, not a CI step.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { catalogTexts, cosine, edgeBundlePath, golden, loadVariant, repo, wasmBytesOf } from "../../tests/wasm/helpers.mjs";

const N = Number(process.argv[2] || 256);
const ROUNDS = Number(process.argv[3] || 5);
const ANCHOR_DIR = process.env.EDGEREC_ANCHOR_DIR || join(repo, "..", "shared", "anchors", "transformersjs");

// onnxruntime-web's plain wasm build, one thread, registered before transformers.js is imported
// so that it uses this one (not its WebGPU/asyncify build, not onnxruntime-node).
const require = createRequire(import.meta.url);
const ortDist = dirname(require.resolve("onnxruntime-web/wasm"));
const ort = await import("onnxruntime-web/wasm");
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = pathToFileURL(ortDist + "/").href;
// In Node transformers.js hands the session a file path (as onnxruntime-node takes); the web
// build takes bytes.
const InferenceSession = {
  ...ort.InferenceSession,
  create: (model, options) => ort.InferenceSession.create(typeof model === "string" ? new Uint8Array(readFileSync(model)) : model, options),
};
globalThis[Symbol.for("onnxruntime")] = { ...ort, InferenceSession };
const { pipeline, env } = await import("@huggingface/transformers");
env.allowRemoteModels = false;
env.localModelPath = ANCHOR_DIR + "/";
env.backends.onnx.wasm.numThreads = 1;

/** An engine: `embed(texts)` → unit rows (Float32Array per text). */
async function anchor() {
  const t = performance.now();
  const extractor = await pipeline("feature-extraction", "all-MiniLM-L6-v2", { dtype: "q8", device: "auto", session_options: { executionProviders: ["wasm"] } });
  const loadMs = performance.now() - t;
  return {
    loadMs,
    async embed(texts) {
      const out = await extractor(texts, { pooling: "mean", normalize: true });
      const d = out.dims[1];
      return texts.map((_, i) => out.data.subarray(i * d, (i + 1) * d));
    },
  };
}

async function edgerec(variant) {
  const { pkg, memoryBytes } = await loadVariant(variant);
  const t = performance.now();
  const enc = pkg.Encoder.fromEdgeBundle(wasmBytesOf(pkg, edgeBundlePath()));
  const loadMs = performance.now() - t;
  const d = enc.dim;
  return {
    loadMs,
    memoryBytes,
    async embed(texts) {
      const v = enc.embed(texts);
      return texts.map((_, i) => v.subarray(i * d, (i + 1) * d));
    },
  };
}

/** Texts per second over `texts`, `per` texts per call. */
async function speed(engine, texts, per) {
  const t = performance.now();
  for (let i = 0; i < texts.length; i += per) await engine.embed(texts.slice(i, i + per));
  return texts.length / ((performance.now() - t) / 1e3);
}

const texts = catalogTexts(N);
const engines = {
  "transformers.js q8 (A)": await anchor(),
  "edgerec int8 relaxed-simd": await edgerec("relaxed"),
  "edgerec int8 simd128": await edgerec("simd128"),
};
engines["transformers.js q8 (B)"] = await anchor();
const names = Object.keys(engines);
for (const e of Object.values(engines)) await e.embed(texts.slice(0, 16)); // warm-up

// speeds[name][per] = texts/s per round
const speeds = Object.fromEntries(names.map((n) => [n, { 1: [], 32: [] }]));
for (let r = 0; r < ROUNDS; r++) {
  const order = names.map((_, i) => names[(i + r) % names.length]);
  for (const per of [1, 32]) for (const name of order) speeds[name][per].push(await speed(engines[name], texts, per));
  console.error(`round ${r + 1}/${ROUNDS} done`);
}

// Cosine to sentence-transformers (f32) on the golden corpus.
const g = golden();
const dim = g.vectors.length / g.corpus.length;
const quality = {};
for (const name of names.slice(0, 3)) {
  const rows = [];
  for (let i = 0; i < g.corpus.length; i += 32) rows.push(...(await engines[name].embed(g.corpus.slice(i, i + 32))));
  const cos = rows.map((v, i) => cosine(v, g.vectors.subarray(i * dim, (i + 1) * dim)));
  quality[name] = { min: Math.min(...cos), mean: cos.reduce((a, b) => a + b, 0) / cos.length };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ratios = (name, per) => speeds[name][per].map((x, r) => x / speeds["transformers.js q8 (A)"][per][r]);
const span = (xs) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
console.log(`encoder vs transformers.js: ${texts.length} catalog texts, ${ROUNDS} interleaved rounds, one thread, node ${process.version}`);
console.log("| engine | 1 text per call (texts/s, median) | × anchor A (median, range) | 32 per call (texts/s) | × anchor A | load (ms) | cosine to sentence-transformers min / mean |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const name of names) {
  const q = quality[name];
  console.log(
    `| ${name} | ${median(speeds[name][1]).toFixed(0)} | ${median(ratios(name, 1)).toFixed(2)} (${span(ratios(name, 1))}) | ` +
      `${median(speeds[name][32]).toFixed(0)} | ${median(ratios(name, 32)).toFixed(2)} (${span(ratios(name, 32))}) | ` +
      `${engines[name].loadMs.toFixed(0)} | ${q ? `${q.min.toFixed(4)} / ${q.mean.toFixed(4)}` : "(same model as A)"} |`,
  );
}
console.log(`A/A noise floor (anchor B / anchor A per round): 1 per call ${span(ratios("transformers.js q8 (B)", 1))}, 32 per call ${span(ratios("transformers.js q8 (B)", 32))}`);
