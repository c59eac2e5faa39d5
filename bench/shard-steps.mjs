// A sharded catalog's steps timed in one node process (wasm, this checkout's pkg/): the front and
// every shard loaded side by side, requests run through the same protocol as the Workers, each
// step's mean time per request (a shard's candidates step is its scoring).
// Usage: node bench/shard-steps.mjs WORKERS_DIR CONTEXTS_JSON [REQUESTS]
//   WORKERS_DIR: what `npm --prefix worker run build:sharded` wrote; CONTEXTS_JSON: request contexts
//   (scripts/synthetic-catalog.mjs writes contexts.json).
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { repo } from "../tests/wasm/helpers.mjs";

const [dir, contextsFile, requests = "30"] = process.argv.slice(2);
if (!dir || !contextsFile) throw new Error("usage: node bench/shard-steps.mjs WORKERS_DIR CONTEXTS_JSON [REQUESTS]");
const pkgDir = join(repo, "pkg");
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
const ms = { front: 0, lookups: 0, candidates: shards.map(() => 0), levels: 0 };
const timed = (key, fn) => {
  const t = performance.now();
  const out = fn();
  ms[key] += performance.now() - t;
  return out;
};
for (let r = -3; r < n; r++) {
  if (r === 0) Object.assign(ms, { front: 0, lookups: 0, candidates: shards.map(() => 0), levels: 0 }); // 3 warm-up requests
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
  const more = timed("front", () => req.pick(candidates));
  const levels = timed("levels", () => more.map((m, i) => (m === null ? null : shards[i].levels(m))));
  timed("front", () => req.finish(levels));
  req.free();
}
const per = (x) => (x / n).toFixed(2);
console.log(`${front.items} items in ${shards.length} shards, ${n} requests, node ${process.version}, wasm simd128; ms per request:`);
console.log(`  the front's own steps ${per(ms.front)}; shard lookups (all) ${per(ms.lookups)}; levels ${per(ms.levels)}`);
console.log(`  candidates per shard: ${ms.candidates.map(per).join(" ")}`);
