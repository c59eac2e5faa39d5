// Ranking benchmark: one request of 5 boards × 20 catalog pins against synthetic 10k- and
// 100k-item catalogs, native (dev profile, opt-level 3) and wasm in node (pkg/), same catalogs
// and requests in the same run, with the wasm/native ratio.
// Usage: node bench/rank.mjs [ITERATIONS]   (needs scripts/build-wasm.sh to have run)
import { readFileSync, mkdtempSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { performance } from "node:perf_hooks";
import { repo, loadPkg } from "../tests/wasm/helpers.mjs";

const iters = Number(process.argv[2] || 100);
const dir = mkdtempSync(join(tmpdir(), "edgerec-rank-"));
console.error("native: building catalogs and timing examples/bench_rank ...");
const native = JSON.parse(
  execFileSync("cargo", ["run", "--quiet", "--example", "bench_rank", "--", dir, String(iters)], { cwd: repo, encoding: "utf8" }),
);
const pkg = await loadPkg();
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
const p50 = (xs) => pct([...xs].sort((a, b) => a - b), 50);
console.log(`ranking benchmark: 5 boards × 20 pins, k = 10, ${iters} requests each, node ${process.version}`);
console.log("int8 and rotated4 vectors (catalog::vectors) in interleaved rounds; A/A = int8 against itself");
console.log("| catalog | vectors | native p50 (ms) | wasm p50 (ms) | wasm p95 (ms) | wasm/native (p50) | vs int8, native / wasm |");
console.log("| ------: | ------- | --------------: | ------------: | ------------: | ----------------: | ---------------------: |");
for (const n of [10000, 100000]) {
  const rec = {
    int8: new pkg.Recommender(new Uint8Array(readFileSync(join(dir, `catalog-${n}-int8.bin`)))),
    four: new pkg.Recommender(new Uint8Array(readFileSync(join(dir, `catalog-${n}-four.bin`)))),
  };
  const req = JSON.parse(readFileSync(join(dir, `request-${n}.json`), "utf8"));
  for (const r of Object.values(rec)) for (let i = 0; i < 5; i++) r.recommend(req);
  const ms = { int8: [], four: [], int8_again: [] };
  const rounds = 5;
  for (let round = 0; round < rounds; round++) {
    for (const [slot, r] of [["int8", rec.int8], ["four", rec.four], ["int8_again", rec.int8]]) {
      for (let i = 0; i < Math.ceil(iters / rounds); i++) {
        const t = performance.now();
        r.recommend(req);
        ms[slot].push(performance.now() - t);
      }
    }
  }
  const nat = native[String(n)];
  for (const [slot, label] of [["int8", "int8 (A)"], ["int8_again", "int8 (A')"], ["four", "rotated4 (B)"]]) {
    const sorted = [...ms[slot]].sort((a, b) => a - b);
    const w50 = pct(sorted, 50);
    const vs = `${(nat[slot].p50_ms / nat.int8.p50_ms).toFixed(2)} / ${(w50 / p50(ms.int8)).toFixed(2)}`;
    console.log(`| ${n} | ${label} | ${nat[slot].p50_ms.toFixed(2)} | ${w50.toFixed(2)} | ${pct(sorted, 95).toFixed(2)} | ${(w50 / nat[slot].p50_ms).toFixed(2)} | ${vs} |`);
  }
  Object.values(rec).forEach((r) => r.free());
}
