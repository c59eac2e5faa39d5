// The lite model (`edgerec distill`) in both wasm builds: the same vectors as the native CLI,
// bundles of the wrong kind or cut short as typed errors, and a catalog it embedded queried by it.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadVariant, edgeBundlePath, catalogPath, liteBundlePath, liteCatalogPath, wasmBytesOf, golden, repo } from "./helpers.mjs";

const variants = {};
let ref;

before(async () => {
  ref = golden();
  for (const v of ["simd128", "relaxed"]) {
    const inst = await loadVariant(v);
    inst.enc = inst.pkg.Encoder.fromLiteBundle(wasmBytesOf(inst.pkg, liteBundlePath()));
    variants[v] = inst;
  }
});

test("both builds give the native CLI's lite vectors, bit for bit, unit rows", () => {
  const texts = ref.corpus.filter((t) => !t.includes("\n")).slice(0, 60).concat(["", "Astronauts stranded on Mars"]);
  const out = execFileSync(join(repo, "target", "debug", "edgerec"), ["embed", "--model", liteBundlePath()], {
    input: texts.join("\n") + "\n",
    maxBuffer: 1 << 26,
  });
  const native = new Float32Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength));
  for (const v of ["simd128", "relaxed"]) {
    const { enc } = variants[v];
    assert.equal(enc.kind, "lite");
    assert.ok(enc.modelId.startsWith("static-30522x"), enc.modelId);
    assert.equal(enc.spaceId, enc.modelId, "the lite model's vectors live in its own space");
    const got = enc.embed(texts);
    assert.equal(got.length, texts.length * enc.dim);
    assert.equal(native.length, got.length);
    const diff = got.findIndex((x, i) => x !== native[i]);
    assert.equal(diff, -1, `${v}: first difference at ${diff}`);
    for (let i = 0; i < texts.length; i++) {
      let n = 0;
      for (const x of got.subarray(i * enc.dim, (i + 1) * enc.dim)) n += x * x;
      assert.ok(Math.abs(Math.sqrt(n) - 1) < 1e-4, `${v} text #${i}: norm ${Math.sqrt(n)}`);
    }
  }
});

test("a bundle of the wrong kind, a truncated or corrupt one: invalid_model naming what it is", () => {
  const { pkg } = variants.simd128;
  const from = (buf, ctor = "fromLiteBundle") => {
    const b = new pkg.WasmBytes(buf.length);
    b.push(buf);
    return () => pkg.Encoder[ctor](b);
  };
  const lite = readFileSync(liteBundlePath());
  const edge = readFileSync(edgeBundlePath());
  assert.throws(from(edge), (e) => e.code === "invalid_model" && /not an edgerec lite model: this file is an edgerec edge model/.test(e.message));
  assert.throws(from(lite, "fromEdgeBundle"), (e) => e.code === "invalid_model" && /this file is an edgerec lite model/.test(e.message));
  assert.throws(from(lite.subarray(0, lite.length - 1)), (e) => e.code === "invalid_model" && /checksum|truncated/.test(e.message));
  assert.throws(from(lite.subarray(0, 100)), (e) => e.code === "invalid_model");
  const flipped = Uint8Array.from(lite);
  flipped[lite.length >> 1] ^= 1;
  assert.throws(from(flipped), (e) => e.code === "invalid_model" && /checksum/.test(e.message));
  assert.throws(from(readFileSync(catalogPath()).subarray(0, 4096), "fromBundle"), (e) => e.code === "invalid_model");
  // fromBundle takes either kind.
  assert.equal(from(lite, "fromBundle")().kind, "lite");
  // The instance still works after every refusal.
  assert.equal(variants.simd128.enc.embed(["still here"]).length, variants.simd128.enc.dim);
});

test("the catalog the lite model embedded is queried by it; a full catalog refuses it", () => {
  const { pkg } = variants.relaxed;
  const enc = pkg.Encoder.fromLiteBundle(wasmBytesOf(pkg, liteBundlePath()));
  const rec = pkg.Recommender.fromBundle(wasmBytesOf(pkg, liteCatalogPath()), enc);
  const out = rec.recommend({ boards: [{ name: "space", pins: [{ title: "Astronauts stranded on Mars", tags: ["space", "survival"] }] }], k: 5 });
  assert.equal(out.embedded_texts, 1);
  assert.equal(out.items.length, 5);
  assert.ok(out.items.every((it) => it.reason.text.length > 0));
  const enc2 = pkg.Encoder.fromLiteBundle(wasmBytesOf(pkg, liteBundlePath()));
  assert.throws(() => pkg.Recommender.fromBundle(wasmBytesOf(pkg, catalogPath()), enc2), (e) => e.code === "model_mismatch");
  const int8 = pkg.Encoder.fromEdgeBundle(wasmBytesOf(pkg, edgeBundlePath()));
  assert.throws(() => pkg.Recommender.fromBundle(wasmBytesOf(pkg, liteCatalogPath()), int8), (e) => e.code === "model_mismatch");
});
