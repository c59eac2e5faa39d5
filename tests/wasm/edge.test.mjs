// The int8 edge encoder in both wasm builds (simd128 and relaxed-simd): quality against the
// sentence-transformers references, identical results on both, memory, and bad bundles.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { loadVariant, edgeBundlePath, catalogPath, wasmBytesOf, catalogTexts, golden, cosine } from "./helpers.mjs";

const variants = {};
let ref;

before(async () => {
  ref = golden();
  for (const v of ["simd128", "relaxed"]) {
    const inst = await loadVariant(v);
    inst.enc = inst.pkg.Encoder.fromEdgeBundle(wasmBytesOf(inst.pkg, edgeBundlePath()));
    variants[v] = inst;
  }
});

for (const v of ["simd128", "relaxed"]) {
  test(`${v}: int8 embeddings stay close to sentence-transformers (min >= 0.995, mean >= 0.998)`, () => {
    const { pkg, enc } = variants[v];
    assert.equal(pkg.isa(), v === "relaxed" ? "wasm-relaxed-simd" : "wasm-simd128");
    assert.equal(enc.kind, "int8");
    const d = enc.dim;
    const got = enc.embed(ref.corpus);
    let min = Infinity, sum = 0, worst = -1;
    for (let i = 0; i < ref.corpus.length; i++) {
      const c = cosine(got.subarray(i * d, (i + 1) * d), ref.vectors.subarray(i * d, (i + 1) * d));
      sum += c;
      if (c < min) { min = c; worst = i; }
    }
    const mean = sum / ref.corpus.length;
    console.log(`${v} int8: cosine to sentence-transformers min ${min.toFixed(5)} (#${worst}), mean ${mean.toFixed(5)}`);
    assert.ok(min >= 0.995, `min cosine ${min} at #${worst}`);
    assert.ok(mean >= 0.998, `mean cosine ${mean}`);
    ref.corpus.forEach((text, i) => assert.deepEqual(Array.from(enc.tokenize(text)), ref.tokens[i], `tokens of #${i}`));
  });
}

test("simd128 and relaxed-simd give bit-identical vectors (the same integer arithmetic)", () => {
  const a = variants.simd128.enc.embed(ref.corpus);
  const b = variants.relaxed.enc.embed(ref.corpus);
  assert.equal(a.length, b.length);
  const diff = a.findIndex((x, i) => x !== b[i]);
  assert.equal(diff, -1, `first difference at ${diff}`);
});

test("after loading the bundle and embedding 1,000 texts, wasm memory stays <= 64 MB", async () => {
  const { pkg, memoryBytes } = await loadVariant("relaxed");
  const enc = pkg.Encoder.fromEdgeBundle(wasmBytesOf(pkg, edgeBundlePath()));
  const afterLoad = memoryBytes();
  const texts = catalogTexts(1000);
  assert.equal(texts.length, 1000);
  for (let i = 0; i < texts.length; i += 100) enc.embed(texts.slice(i, i + 100));
  enc.embed(ref.corpus); // long texts too (up to 256 tokens)
  const after = memoryBytes();
  console.log(`wasm memory: ${(afterLoad / 1e6).toFixed(1)} MB after load, ${(after / 1e6).toFixed(1)} MB after 1,000 texts + the golden corpus`);
  assert.ok(after <= 64e6, `wasm memory ${after} bytes`);
  assert.equal(pkg.wasmMemoryBytes(), after);
});

test("bad bundles and misuse of WasmBytes are typed errors", async () => {
  const { pkg } = variants.simd128;
  const file = readFileSync(edgeBundlePath());
  const from = (buf) => {
    const b = new pkg.WasmBytes(buf.length);
    b.push(buf);
    return () => pkg.Encoder.fromEdgeBundle(b);
  };
  assert.throws(from(file.subarray(0, file.length - 10)), (e) => e.code === "invalid_model" && /checksum|truncated/.test(e.message));
  assert.throws(from(file.subarray(0, 100)), (e) => e.code === "invalid_model");
  assert.throws(from(readFileSync(catalogPath()).subarray(0, 4096)), (e) => e.code === "invalid_model" && /this file is an edgerec catalog bundle/.test(e.message));
  const small = new pkg.WasmBytes(4);
  assert.throws(() => small.push(new Uint8Array(5)), (e) => e.code === "limit_exceeded" && /WasmBytes/.test(e.message));
  small.push(new Uint8Array(4));
  assert.equal(small.length, 4);
  assert.throws(() => new pkg.WasmBytes(1.5), (e) => e.code === "invalid_input");
  assert.throws(() => new pkg.WasmBytes(2 ** 40), (e) => e.code === "limit_exceeded");
});

test("a recommender streamed from WasmBytes with the edge encoder embeds text pins", () => {
  const { pkg } = variants.relaxed;
  const enc = pkg.Encoder.fromEdgeBundle(wasmBytesOf(pkg, edgeBundlePath()));
  const modelId = enc.modelId;
  // The catalog was built by the f32 model; the int8 model shares its embedding space.
  const rec = pkg.Recommender.fromBundle(wasmBytesOf(pkg, catalogPath()), enc);
  assert.equal(rec.encoderModelId, modelId);
  assert.notEqual(rec.modelId, modelId);
  const out = rec.recommend({ boards: [{ name: "space", pins: [{ title: "Astronauts stranded on Mars", tags: ["space", "survival"] }] }], k: 5 });
  assert.equal(out.embedded_texts, 1);
  assert.equal(out.items.length, 5);
  assert.ok(out.items.every((it) => it.reason.text.length > 0));
});
