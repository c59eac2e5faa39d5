// Where the edge encoder's time goes in wasm at one text per call (issue 13): each stage of the
// pass, timed inside the module (Encoder.stageTimes, performance.now()), on both wasm builds, over
// the same catalog texts. "JS ↔ wasm and the rest" is a call's wall time (Encoder.embed, timed
// from JS in the same run) minus the stages: passing the text in and the vector out, the
// allocations. Rounds alternate embed and stageTimes.
// Usage: node_modules/.bin/node bench/stages.mjs [N_TEXTS [ROUNDS]]   (needs scripts/build-wasm.sh
// and scripts/build-assets.sh; Node >= 22 for the relaxed-simd build)
import { performance } from "node:perf_hooks";
import { loadVariant, edgeBundlePath, wasmBytesOf, catalogTexts } from "../tests/wasm/helpers.mjs";

const n = Number(process.argv[2] || 256);
const rounds = Number(process.argv[3] || 5);
const texts = catalogTexts(n);

const results = [];
for (const variant of ["simd128", "relaxed"]) {
  const { pkg } = await loadVariant(variant);
  const enc = pkg.Encoder.fromEdgeBundle(wasmBytesOf(pkg, edgeBundlePath()));
  const names = pkg.Encoder.stageNames();
  for (const t of texts.slice(0, 8)) enc.embed([t]); // warm-up
  const spent = new Float64Array(names.length);
  let wall = 0;
  let timedWall = 0;
  for (let r = 0; r < rounds; r++) {
    let t = performance.now();
    for (const text of texts) enc.embed([text]);
    wall += performance.now() - t;
    t = performance.now();
    for (const text of texts) enc.stageTimes([text]).forEach((ms, i) => (spent[i] += ms));
    timedWall += performance.now() - t;
  }
  const calls = rounds * texts.length;
  results.push({ variant, names, spent, wall, timedWall, calls });
  enc.free();
}

console.log(`edge encoder stages in wasm, one text per call: ${texts.length} catalog texts, ${rounds} rounds, node ${process.version}`);
for (const r of results) {
  const us = (ms) => ((ms * 1e3) / r.calls).toFixed(1);
  const inside = r.spent.reduce((a, b) => a + b, 0);
  console.log(
    `\n${r.variant}: embed ${us(r.wall)} µs per text (${((r.calls / r.wall) * 1e3).toFixed(0)} texts/s); ` +
      `with the stage clock ${us(r.timedWall)} µs (×${(r.timedWall / r.wall).toFixed(2)})`,
  );
  console.log("| stage | µs per text | share of embed |");
  console.log("| --- | ---: | ---: |");
  const rows = [...r.names.map((name, i) => [name, r.spent[i]]), ["JS ↔ wasm and the rest", Math.max(0, r.wall - inside)]];
  rows.sort((a, b) => b[1] - a[1]);
  for (const [name, ms] of rows) console.log(`| ${name} | ${us(ms)} | ${((100 * ms) / r.wall).toFixed(1)}% |`);
}
