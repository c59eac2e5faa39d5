// The shipped wasm package (pkg/, release + LTO + wasm-opt) against the Python references.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { loadPkg, modelFiles, defaultModelDir, golden, cosine } from "./helpers.mjs";

let pkg, enc, ref;

before(async () => {
  pkg = await loadPkg();
  enc = new pkg.Encoder(modelFiles(defaultModelDir()));
  ref = golden();
});

test("token ids equal Python tokenizers for the golden corpus", () => {
  assert.ok(ref.corpus.length >= 200);
  const bad = [];
  ref.corpus.forEach((text, i) => {
    const got = Array.from(enc.tokenize(text));
    if (JSON.stringify(got) !== JSON.stringify(ref.tokens[i])) bad.push(i);
  });
  assert.deepEqual(bad, [], `texts whose ids differ: ${bad.join(", ")}`);
});

test("embeddings match sentence-transformers (min cosine >= 0.9999)", () => {
  const d = enc.dim;
  const got = enc.embed(ref.corpus);
  assert.ok(got instanceof Float32Array);
  assert.equal(got.length, ref.corpus.length * d);
  let min = Infinity, sum = 0, worst = -1;
  for (let i = 0; i < ref.corpus.length; i++) {
    const c = cosine(got.subarray(i * d, (i + 1) * d), ref.vectors.subarray(i * d, (i + 1) * d));
    sum += c;
    if (c < min) { min = c; worst = i; }
  }
  console.log(`wasm cosine to sentence-transformers: min ${min.toFixed(7)} (#${worst}), mean ${(sum / ref.corpus.length).toFixed(7)}`);
  assert.ok(min >= 0.9999, `min cosine ${min} at #${worst}`);
});

test("a text alone equals the same text in a padded batch", () => {
  const d = enc.dim;
  const texts = ref.corpus.slice(0, 64);
  const batched = enc.embed(texts);
  texts.forEach((t, i) => {
    const c = cosine(enc.embed([t]), batched.subarray(i * d, (i + 1) * d));
    assert.ok(c >= 0.99999, `#${i}: ${c}`);
  });
});

test("bad input is a typed error and the encoder keeps working", () => {
  const cases = [
    [() => enc.embed(["ok", 42]), /texts\[1\] must be a string, got number/, "invalid_input"],
    [() => enc.embed("not an array"), /must be an array of strings/, "invalid_input"],
    [() => enc.embed([null]), /texts\[0\] must be a string, got null/, "invalid_input"],
    [() => enc.embed(["x".repeat(64 * 1024 + 1)]), /texts\[0\] length in bytes/, "limit_exceeded"],
    [() => enc.tokenize({}), /text must be a string/, "invalid_input"],
  ];
  for (const [fn, message, code] of cases) {
    assert.throws(fn, (e) => e instanceof Error && message.test(e.message) && e.code === code);
  }
  assert.equal(enc.embed(["still works"]).length, enc.dim);
  assert.equal(enc.embed([]).length, 0);
});

test("bad model files are typed errors", () => {
  const files = modelFiles(defaultModelDir());
  const attempts = [
    [{ ...files, weights: files.weights.subarray(0, files.weights.length >> 1) }, "invalid_model", /model.safetensors/],
    [{ ...files, tokenizer: new TextEncoder().encode("{}") }, "invalid_tokenizer", /tokenizer/],
    [{ ...files, config: new TextEncoder().encode('{"hidden_size": 768}') }, "invalid_model", /config.json/],
    [{ ...files, weights: "nope" }, "invalid_input", /weights must be a Uint8Array/],
    [{ config: files.config }, "invalid_input", /tokenizer is missing/],
    [null, "invalid_input", /must be an object/],
  ];
  for (const [f, code, message] of attempts) {
    assert.throws(() => new pkg.Encoder(f), (e) => e.code === code && message.test(e.message), code);
  }
  // Wrong hidden size against the real weights.
  const cfg = JSON.parse(new TextDecoder().decode(files.config));
  cfg.hidden_size = 768;
  assert.throws(
    () => new pkg.Encoder({ ...files, config: new TextEncoder().encode(JSON.stringify(cfg)) }),
    (e) => e.code === "invalid_model" && /do not match/.test(e.message),
  );
  assert.equal(enc.embed(["the first encoder is untouched"]).length, enc.dim);
});
