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
console.log(`ranking benchmark: 5 boards × 20 pins, k = 10, ${iters} requests each, node ${process.version}`);
console.log("| catalog | native p50 (ms) | wasm p50 (ms) | wasm p95 (ms) | wasm/native (p50) |");
console.log("| ------: | --------------: | ------------: | ------------: | ----------------: |");
for (const n of [10000, 100000]) {
  const rec = new pkg.Recommender(new Uint8Array(readFileSync(join(dir, `catalog-${n}.bin`))));
  const req = JSON.parse(readFileSync(join(dir, `request-${n}.json`), "utf8"));
  for (let i = 0; i < 5; i++) rec.recommend(req);
  const ms = [];
  for (let i = 0; i < iters; i++) {
    const t = performance.now();
    rec.recommend(req);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const nat = native[String(n)].p50_ms;
  const w50 = pct(ms, 50);
  console.log(`| ${n} | ${nat.toFixed(2)} | ${w50.toFixed(2)} | ${pct(ms, 95).toFixed(2)} | ${(w50 / nat).toFixed(2)} |`);
  rec.free();
}
