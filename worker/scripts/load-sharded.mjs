// `node worker/scripts/load-sharded.mjs WORKERS_DIR [--contexts FILE] [--requests N] [--concurrency C]`:
// a bounded load test of a sharded catalog's Workers (build-sharded.mjs wrote WORKERS_DIR) in
// one workerd on 127.0.0.1: the front and every shard over service bindings.
//
//   warm      --requests POST /v1/recommend, --concurrency in flight: latency p50/p99, partial
//             answers, errors (target: p99 < 100 ms at 4 in flight, 0 errors)
//   memory    every isolate's wasm memory after the run (/v1/health; target < 100 MB each)
//   shard down   shard 0 made to fail mid-run (through a proxy in front of it) for --requests / 4
//             requests: every answer flagged partial (missing_shards [0]); then back: answers whole
//
// --contexts: a JSON array of board contexts (synthetic-catalog.mjs writes contexts.json); the
// default is the movielens FIVE_BOARDS context. Exits 1 on any error or missed target.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CHAOS_PROXY, startSharded } from "./miniflare.mjs";
import { FIVE_BOARDS, get, percentile, post } from "./client.mjs";

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    contexts: { type: "string" },
    requests: { type: "string", default: "400" },
    concurrency: { type: "string", default: "4" },
    "max-seconds": { type: "string", default: "300" },
  },
});
if (positionals.length !== 1) throw new Error("usage: load-sharded.mjs WORKERS_DIR [--contexts FILE] [--requests N] [--concurrency C]");
const dir = positionals[0];
const contexts = opts.contexts ? JSON.parse(readFileSync(opts.contexts, "utf8")) : [FIVE_BOARDS];
const requests = Math.max(1, Number(opts.requests));
const concurrency = Math.max(1, Math.min(64, Number(opts.concurrency)));
const maxMs = Number(opts["max-seconds"]) * 1000;
const P99_TARGET_MS = 100;
const MEMORY_TARGET = 100e6;

const t0 = performance.now();
const { mf, url } = await startSharded({ dir, vars: { LOAD_WAIT_MS: "600000" }, proxy: (i) => (i === 0 ? CHAOS_PROXY : null) });
const shards = JSON.parse(readFileSync(join(dir, "front", "assets", "manifest.json"), "utf8")).shards.length;
let exitCode = 0;
try {
  const first = performance.now();
  const health = await get(url, "/v1/health");
  if (health.status !== 200) throw new Error(`the front did not load: ${health.text}`);
  console.log(`sharded catalog: ${health.json.catalog_items} items in ${shards} shards, model ${health.json.model_id}`);
  console.log(`workerd started in ${((first - t0) / 1000).toFixed(1)} s; the front's first request (its load and every shard's) ${(performance.now() - first).toFixed(0)} ms`);
  // Warm every shard isolate (each loads on its first request).
  for (const c of contexts.slice(0, 3)) await post(url, "/v1/recommend", c);

  async function phase(name, n) {
    const lat = [];
    let issued = 0, errors = 0, partial = 0;
    const codes = new Map();
    const start = performance.now();
    async function lane() {
      while (issued < n && performance.now() - start < maxMs) {
        const c = contexts[issued++ % contexts.length];
        const t = performance.now();
        const res = await post(url, "/v1/recommend", c);
        lat.push(performance.now() - t);
        if (res.status !== 200) {
          errors++;
          codes.set(res.json?.error?.code ?? res.status, (codes.get(res.json?.error?.code ?? res.status) ?? 0) + 1);
        } else if (res.json.partial) partial++;
      }
    }
    await Promise.all(Array.from({ length: concurrency }, lane));
    lat.sort((a, b) => a - b);
    const s = (performance.now() - start) / 1000;
    console.log(`\n${name}: ${lat.length} requests in ${s.toFixed(1)} s, ${concurrency} in flight: ${(lat.length / s).toFixed(1)} requests/s`);
    console.log(`  latency  p50 ${percentile(lat, 50).toFixed(1)} ms  p90 ${percentile(lat, 90).toFixed(1)} ms  p99 ${percentile(lat, 99).toFixed(1)} ms  max ${lat.at(-1).toFixed(1)} ms`);
    console.log(`  errors ${errors}${errors ? ` (${[...codes].map(([c, k]) => `${c}: ${k}`).join(", ")})` : ""}; partial answers ${partial}`);
    return { p99: percentile(lat, 99), errors, partial, count: lat.length };
  }

  const warm = await phase("warm", requests);
  const memory = [];
  for (const name of ["front", ...Array.from({ length: shards }, (_, i) => `shard-${i}`)]) {
    const res = await (await mf.getWorker(name)).fetch("http://x/v1/health");
    memory.push([name, (await res.json()).memory.wasm_bytes]);
  }
  console.log(`\nwasm memory per isolate: ${memory.map(([n, b]) => `${n} ${(b / 1e6).toFixed(1)} MB`).join(", ")}`);
  const chaos = await mf.getWorker("proxy-0");
  await chaos.fetch("http://chaos/chaos/down");
  const down = await phase("shard 0 down", Math.ceil(requests / 4));
  await chaos.fetch("http://chaos/chaos/up");
  const back = await phase("shard 0 back", Math.ceil(requests / 4));

  const worst = Math.max(...memory.map(([, b]) => b));
  const checks = [
    [`warm p99 < ${P99_TARGET_MS} ms at ${concurrency} in flight`, warm.p99 < P99_TARGET_MS, `${warm.p99.toFixed(1)} ms`],
    ["0 errors", warm.errors + down.errors + back.errors === 0, `${warm.errors + down.errors + back.errors}`],
    ["no partial answer while every shard is up", warm.partial === 0 && back.partial === 0, `${warm.partial} + ${back.partial}`],
    ["every answer partial while shard 0 is down", down.partial === down.count, `${down.partial} of ${down.count}`],
    [`each isolate's wasm memory < ${MEMORY_TARGET / 1e6} MB`, worst < MEMORY_TARGET, `largest ${(worst / 1e6).toFixed(1)} MB`],
  ];
  console.log("");
  for (const [what, ok, value] of checks) {
    console.log(`${ok ? "met   " : "MISSED"} ${what}: ${value}`);
    if (!ok) exitCode = 1;
  }
} finally {
  await mf.dispose();
}
process.exitCode = exitCode;
