// A sharded catalog's steps timed in one node process (wasm, this checkout's pkg/): the front and
// every shard loaded side by side, requests run through the same protocol as the Workers, each
// step's mean time per request (a shard's candidates step is its scoring).
// Usage: [PKG_DIR=DIR] node bench/shard-steps.mjs WORKERS_DIR CONTEXTS_JSON [REQUESTS]
//   WORKERS_DIR: what `npm --prefix worker run build:sharded` wrote; CONTEXTS_JSON: request contexts
//   (scripts/synthetic-catalog.mjs writes contexts.json); PKG_DIR: another build's pkg/ (an
//   older checkout's, for an A/B), default this checkout's. Also prints the percentiles of a
//   request's total (every step, all shards: what one thread does per request).
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { repo } from "../tests/wasm/helpers.mjs";

const [dir, contextsFile, requests = "30"] = process.argv.slice(2);
if (!dir || !contextsFile) throw new Error("usage: node bench/shard-steps.mjs WORKERS_DIR CONTEXTS_JSON [REQUESTS]");
const pkgDir = process.env.PKG_DIR ?? join(repo, "pkg");
const pkg = await import(join(pkgDir, "edgerec.js"));
pkg.initSync({ module: new WebAssembly.Module(readFileSync(join(pkgDir, "edgerec_bg.wasm"))) });
/** An asset (its files in order) streamed into a WasmBytes. */
function asset(d) {
  const bytes = Buffer.concat(readdirSync(d).sort().map((f) => readFileSync(join(d, f))));
  const b = new pkg.WasmBytes(bytes.length);
  b.push(bytes);
  return b;
}
const front = pkg.Front.fromBundle(asset(join(dir, "front/assets/front")), pkg.Encoder.fromBundle(asset(join(dir, "front/assets/model"))));
const shards = Array.from({ length: front.shards }, (_, i) => pkg.Shard.fromBundle(asset(join(dir, `shard-${String(i).padStart(3, "0")}/assets/shard`))));
const contexts = JSON.parse(readFileSync(contextsFile, "utf8"));
const n = Number(requests);
const ms = { front: 0, lookups: 0, candidates: shards.map(() => 0), more: 0 };
let asked = 0;
const timed = (key, fn) => {
  const t = performance.now();
  const out = fn();
  ms[key] += performance.now() - t;
  return out;
};
const totals = [];
for (let r = -3; r < n; r++) {
  const start = performance.now();
  if (r === 0) Object.assign(ms, { front: 0, lookups: 0, candidates: shards.map(() => 0), more: 0 }); // 3 warm-up requests
  const req = timed("front", () => front.beginJson(JSON.stringify(contexts[(r + 3) % contexts.length])));
  const lookup = timed("front", () => req.lookup());
  const replies = timed("lookups", () => shards.map((s) => s.lookup(lookup)));
  const query = timed("front", () => req.query(replies));
  const candidates = shards.map((s, i) => {
    const t = performance.now();
    const out = s.candidates(query);
    ms.candidates[i] += performance.now() - t;
    return out;
  });
  let asks = timed("front", () => req.pick(candidates));
  if (r >= 0 && asks.some((m) => m !== null)) asked++;
  while (asks.some((m) => m !== null)) {
    const more = timed("more", () => asks.map((m, i) => (m === null ? null : shards[i].more(m))));
    asks = timed("front", () => req.more(more));
  }
  timed("front", () => req.finish());
  req.free();
  if (r >= 0) totals.push(performance.now() - start);
}
totals.sort((a, b) => a - b);
const at = (p) => totals[Math.min(totals.length - 1, Math.floor((p / 100) * totals.length))].toFixed(1);
const per = (x) => (x / n).toFixed(2);
console.log(`${front.items} items in ${shards.length} shards, ${n} requests, node ${process.version}, wasm simd128; ms per request:`);
console.log(`  the front's own steps ${per(ms.front)}; shard lookups (all) ${per(ms.lookups)}; more (all) ${per(ms.more)}, in ${asked} of ${n} requests`);
console.log(`  candidates per shard: ${ms.candidates.map(per).join(" ")}`);
console.log(`  a request's total: mean ${per(totals.reduce((a, b) => a + b, 0))}, p50 ${at(50)}, p90 ${at(90)}, p99 ${at(99)}`);
