// Ranking A/B of two wasm builds in one node process: the same requests against the same
// synthetic catalogs, interleaved rounds (A, B, A again: the A/A noise floor), p50s and ratios,
// and whether both builds return the same items (ids, order, scores, reasons).
// Usage: node bench/rank-ab.mjs OLD_PKG_DIR [ITERATIONS] [ROUNDS] [CATALOG_DIR]
//   OLD_PKG_DIR: a copy of pkg/ from the build to compare against (B is this checkout's pkg/).
//   CATALOG_DIR: catalogs and requests as examples/bench_rank writes them (default: written now
//   by this build; give older ones when the old build cannot read this build's format).
import { readFileSync, mkdtempSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join, resolve } from "node:path";
import { tmpdir } from "node:os";
import { performance } from "node:perf_hooks";
import { repo } from "../tests/wasm/helpers.mjs";

const [oldDir, iters = "30", rounds = "10", given] = process.argv.slice(2);
if (!oldDir) throw new Error("usage: node bench/rank-ab.mjs OLD_PKG_DIR [ITERATIONS] [ROUNDS] [CATALOG_DIR]");
let dir = given;
if (!dir) {
  dir = mkdtempSync(join(tmpdir(), "edgerec-rank-ab-"));
  execFileSync("cargo", ["run", "--quiet", "--example", "bench_rank", "--", dir, "1"], { cwd: repo, encoding: "utf8" });
}
async function load(pkgDir) {
  const pkg = await import(join(resolve(pkgDir), "edgerec.js"));
  pkg.initSync({ module: new WebAssembly.Module(readFileSync(join(resolve(pkgDir), "edgerec_bg.wasm"))) });
  return pkg;
}
const A = await load(oldDir);
const B = await load(join(repo, "pkg"));
const p50 = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`ranking A/B: ${oldDir} (A) against pkg/ (B), ${rounds} rounds of ${iters} requests each, node ${process.version}`);
console.log("| catalog | vectors | A p50 (ms) | A' p50 (ms) | A/A | B p50 (ms) | B/A | same items |");
console.log("| ------: | ------- | ---------: | ----------: | --: | ---------: | --: | ---------- |");
for (const n of [10000, 100000]) {
  for (const kind of ["int8", "four"]) {
    const bytes = new Uint8Array(readFileSync(join(dir, `catalog-${n}-${kind}.bin`)));
    const req = JSON.parse(readFileSync(join(dir, `request-${n}.json`), "utf8"));
    const ra = new A.Recommender(bytes);
    const rb = new B.Recommender(bytes);
    const same = JSON.stringify(ra.recommend(req).items) === JSON.stringify(rb.recommend(req).items);
    for (let i = 0; i < 5; i++) {
      ra.recommend(req);
      rb.recommend(req);
    }
    const ms = { A: [], B: [], A2: [] };
    for (let r = 0; r < Number(rounds); r++) {
      for (const [slot, rec] of [["A", ra], ["B", rb], ["A2", ra]]) {
        for (let i = 0; i < Number(iters); i++) {
          const t = performance.now();
          rec.recommend(req);
          ms[slot].push(performance.now() - t);
        }
      }
    }
    const [a, a2, b] = [p50(ms.A), p50(ms.A2), p50(ms.B)];
    const label = kind === "four" ? "rotated4" : "int8";
    console.log(`| ${n} | ${label} | ${a.toFixed(2)} | ${a2.toFixed(2)} | ${(a2 / a).toFixed(2)} | ${b.toFixed(2)} | ${(b / a).toFixed(2)} | ${same} |`);
    ra.free();
    rb.free();
  }
}
