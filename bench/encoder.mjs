// Encoder benchmark: texts/second at batch 1 and batch 32 on the same catalog texts, in one run:
// the f32 candle encoder in wasm (the baseline), the int8 edge encoder on the simd128 build and on
// the relaxed-simd build, the lite model (edgerec distill) on both, plus the native f32 and int8 encoders (examples/bench_encoder), with
// ratios against the f32 wasm baseline and wasm memory after load and after 1,000 texts.
// Usage: node bench/encoder.mjs [N_TEXTS]   (needs scripts/build-wasm.sh and scripts/build-assets.sh;
// relaxed-simd needs Node >= 22: run it with node_modules/.bin/node, which setup installs)
import { writeFileSync, mkdtempSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { performance } from "node:perf_hooks";
import { repo, loadVariant, modelFiles, edgeBundlePath, liteBundlePath, wasmBytesOf, catalogTexts } from "../tests/wasm/helpers.mjs";

const n = Number(process.argv[2] || 256);
const texts = catalogTexts(n);
const file = join(mkdtempSync(join(tmpdir(), "edgerec-bench-")), "texts.txt");
writeFileSync(file, texts.map((t) => t.replace(/\n/g, " ")).join("\n"));

console.error("native: building and running examples/bench_encoder ...");
const native = JSON.parse(
  execFileSync("cargo", ["run", "--quiet", "--example", "bench_encoder", "--", file, edgeBundlePath()], { cwd: repo, encoding: "utf8" }),
);

function measure(enc) {
  enc.embed(texts.slice(0, 8)); // warm-up
  let t = performance.now();
  for (const text of texts) enc.embed([text]);
  const b1 = texts.length / ((performance.now() - t) / 1e3);
  t = performance.now();
  for (let i = 0; i < texts.length; i += 32) enc.embed(texts.slice(i, i + 32));
  const b32 = texts.length / ((performance.now() - t) / 1e3);
  return { b1, b32 };
}

const rows = [];
for (const [name, variant, load] of [
  ["f32 candle, wasm simd128 (baseline)", "simd128", (pkg) => new pkg.Encoder(modelFiles())],
  ["int8 edgerec, wasm simd128", "simd128", (pkg) => pkg.Encoder.fromEdgeBundle(wasmBytesOf(pkg, edgeBundlePath()))],
  ["int8 edgerec, wasm relaxed-simd", "relaxed", (pkg) => pkg.Encoder.fromEdgeBundle(wasmBytesOf(pkg, edgeBundlePath()))],
  ["lite (edgerec distill), wasm simd128", "simd128", (pkg) => pkg.Encoder.fromLiteBundle(wasmBytesOf(pkg, liteBundlePath()))],
  ["lite (edgerec distill), wasm relaxed-simd", "relaxed", (pkg) => pkg.Encoder.fromLiteBundle(wasmBytesOf(pkg, liteBundlePath()))],
]) {
  console.error(`wasm: ${name} ...`);
  const { pkg, memoryBytes } = await loadVariant(variant);
  const t = performance.now();
  const enc = load(pkg);
  const loadMs = performance.now() - t;
  const memLoad = memoryBytes();
  const r = measure(enc);
  const more = catalogTexts(1000);
  for (let i = 0; i < more.length; i += 100) enc.embed(more.slice(i, i + 100));
  rows.push({ name, loadMs, ...r, memLoad, mem: memoryBytes() });
  enc.free();
}
const base = rows[0];
const f = (x, d = 1) => x.toFixed(d).padStart(8);
console.log(`encoder benchmark: ${texts.length} catalog texts, single thread, node ${process.version}`);
console.log("| encoder | batch 1 (texts/s) | µs per text | ×f32 wasm | batch 32 (texts/s) | ×f32 wasm | load (ms) | wasm memory after load / after 1,000 texts (MB) |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of rows) {
  console.log(`| ${r.name} | ${f(r.b1)} | ${f(1e6 / r.b1, 0)} | ${f(r.b1 / base.b1, 2)} | ${f(r.b32)} | ${f(r.b32 / base.b32, 2)} | ${f(r.loadMs, 0)} | ${(r.memLoad / 1e6).toFixed(1)} / ${(r.mem / 1e6).toFixed(1)} |`);
}
for (const [name, m] of [["f32 candle, native", native.f32], [`int8 edgerec, native ${native.isa}`, native.int8]]) {
  console.log(`| ${name} | ${f(m.batch1_texts_per_s)} | ${f(1e6 / m.batch1_texts_per_s, 0)} | ${f(m.batch1_texts_per_s / base.b1, 2)} | ${f(m.batch32_texts_per_s)} | ${f(m.batch32_texts_per_s / base.b32, 2)} | ${f(m.load_ms, 0)} | |`);
}
