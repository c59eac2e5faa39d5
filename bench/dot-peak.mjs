// How close the edge encoder's int8 matmuls run to what this wasm engine can multiply (issue 13):
// the engine's peak rate for the instruction each build multiplies with (bench/dot-peak/, eight
// independent accumulators, operands in registers, no loads), against the encoder's matmul rate
// over real texts at one text per call (Encoder.stageTimes), in the same run. From the two, the
// fastest the encoder could embed a text if its matmuls ran at the peak and every other stage
// stayed as measured.
// Usage: node_modules/.bin/node bench/dot-peak.mjs [N_TEXTS [ROUNDS]]   (Node >= 22 for the
// relaxed-simd build; needs scripts/build-wasm.sh and scripts/build-assets.sh)
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { repo, loadVariant, edgeBundlePath, wasmBytesOf, catalogTexts } from "../tests/wasm/helpers.mjs";

const n = Number(process.argv[2] || 256);
const rounds = Number(process.argv[3] || 5);
const texts = catalogTexts(n);

console.error("building bench/dot-peak (a few seconds) ...");
const targetDir = join(repo, "target", "dot-peak");
execFileSync(
  "cargo",
  ["build", "--release", "--quiet", "--manifest-path", join(repo, "bench", "dot-peak", "Cargo.toml"), "--target", "wasm32-unknown-unknown", "--target-dir", targetDir],
  { stdio: "inherit", env: { ...process.env, RUSTFLAGS: "-C target-feature=+simd128" } },
);
const { instance } = await WebAssembly.instantiate(readFileSync(join(targetDir, "wasm32-unknown-unknown", "release", "dot_peak.wasm")));
const peak = instance.exports;

// The model's shape, from the bundle's JSON header: products per token of the four matmuls.
const header = readFileSync(edgeBundlePath()).subarray(0, 1 << 16).toString("latin1");
const field = (name) => Number(header.match(new RegExp(`"${name}":(\\d+)`))[1]);
const [hidden, inner, layers] = [field("hidden_size"), field("intermediate_size"), field("num_layers")];
const macsPerToken = layers * (hidden * 3 * hidden + hidden * hidden + 2 * hidden * inner);

/** Instructions per ns of one peak kernel: the best of `runs` timed calls. */
const per = { relaxed_dot_add: 10, dot_i16_add: 5 }; // instructions per iteration
function peakRate(name, iters = 5_000_000, runs = 7) {
  peak[name](iters / 10, 1); // warm-up (tier-up)
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    peak[name](iters, r + 2);
    best = Math.min(best, performance.now() - t);
  }
  return (per[name] * iters) / (best * 1e6);
}

// Each build: which peak kernel is its step, and how many products one instruction makes.
const builds = [
  { variant: "relaxed", kernel: "relaxed_dot_add", productsPerInstr: 16, instr: "i32x4.relaxed_dot_i8x16_i7x16_add_s" },
  { variant: "simd128", kernel: "dot_i16_add", productsPerInstr: 8, instr: "i32x4.dot_i16x8_s + i32x4.add" },
];
const rows = [];
for (const b of builds) {
  const { pkg } = await loadVariant(b.variant);
  const enc = pkg.Encoder.fromEdgeBundle(wasmBytesOf(pkg, edgeBundlePath()));
  const names = pkg.Encoder.stageNames();
  const tokens = texts.reduce((s, t) => s + enc.tokenize(t).length, 0);
  for (const t of texts.slice(0, 8)) enc.stageTimes([t]); // warm-up
  const spent = new Float64Array(names.length);
  const peaks = [];
  for (let r = 0; r < rounds; r++) {
    // The peak measured between the encoder's rounds: the same machine state for both.
    peaks.push(peakRate(b.kernel));
    for (const text of texts) enc.stageTimes([text]).forEach((ms, i) => (spent[i] += ms));
  }
  enc.free();
  const calls = rounds * texts.length;
  const matmulMs = names.reduce((s, name, i) => s + (name.startsWith("matmul") ? spent[i] : 0), 0) / calls;
  const otherMs = spent.reduce((a, x) => a + x, 0) / calls - matmulMs;
  const macs = (macsPerToken * tokens) / texts.length;
  const achieved = macs / b.productsPerInstr / (matmulMs * 1e6);
  const best = Math.max(...peaks);
  rows.push({ ...b, tokens: tokens / texts.length, matmulMs, otherMs, macs, achieved, best, peaks });
}

console.log(`int8 matmuls against the engine's peak: ${texts.length} catalog texts, ${rounds} rounds, one text per call, node ${process.version}`);
console.log(`model: ${layers} layers, hidden ${hidden}, feed-forward ${inner}: ${(macsPerToken / 1e6).toFixed(2)}M products per token`);
console.log("| build | instruction | peak (instr/ns, best; range over rounds) | encoder's matmuls (instr/ns) | share of peak | matmuls µs per text (at peak) | other stages µs | best possible texts/s |");
console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of rows) {
  const atPeakMs = r.macs / r.productsPerInstr / (r.best * 1e6);
  const lo = Math.min(...r.peaks);
  console.log(
    `| ${r.variant} | ${r.instr} | ${r.best.toFixed(2)} (${lo.toFixed(2)}–${r.best.toFixed(2)}) | ${r.achieved.toFixed(2)} | ` +
      `${((100 * r.achieved) / r.best).toFixed(0)}% | ${(r.matmulMs * 1e3).toFixed(0)} (${(atPeakMs * 1e3).toFixed(0)}) | ` +
      `${(r.otherMs * 1e3).toFixed(0)} | ${(1e3 / (atPeakMs + r.otherMs)).toFixed(0)} |`,
  );
}
console.log(`(${rows[0].tokens.toFixed(1)} tokens and ${(rows[0].macs / 1e6).toFixed(0)}M products per text; "best possible": matmuls at the peak, the other stages as measured)`);
