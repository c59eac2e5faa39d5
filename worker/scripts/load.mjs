// `npm --prefix worker run load`: a bounded load test of POST /v1/recommend with a 5-board
// context (100 catalog pins), against the built Worker in workerd on 127.0.0.1.
//
//   cold start   a fresh workerd per run; the first request after the isolate starts (it pays
//                for loading the model and the catalog), --cold-runs times
//   sequential   --requests requests one after another: latency p50/p90/p99/max (target: p99 < 50 ms)
//   concurrent   --requests requests, --concurrency at a time: requests/s and latency
//   text pin     --requests requests one after another, each a board of 5 catalog pins and one
//                free-text pin (embedded by the model): the CPU a text pin costs (Free plan: 10 ms)
//
// Every phase stops at --requests or at --max-seconds, whichever comes first. Flags:
//   --requests N (500)  --concurrency C (4)  --cold-runs R (3)  --max-seconds S (60)
//   --model on|lite|off (on): EDGEREC_MODEL, the int8 model or the lite one (`edgerec distill`)
//   --port P (8790; 8787-8799 only)  --url http://127.0.0.1:PORT (an already running Worker,
//   e.g. `npm run dev`: then "cold start" is only cold if that Worker has not served yet)
// Exits 1 if any request failed.
import { parseArgs } from "node:util";
import { startWorker } from "./miniflare.mjs";
import { FIVE_BOARDS, assertLoopback, get, percentile, post } from "./client.mjs";

const { values: opts } = parseArgs({
  options: {
    requests: { type: "string", default: "500" },
    concurrency: { type: "string", default: "4" },
    "cold-runs": { type: "string", default: "3" },
    "max-seconds": { type: "string", default: "60" },
    port: { type: "string", default: "8790" },
    url: { type: "string" },
    model: { type: "string", default: "on" },
  },
});
if (!["on", "lite", "off"].includes(opts.model)) throw new Error("--model must be on, lite or off");
const requests = Math.max(1, Math.min(100_000, Number(opts.requests)));
const concurrency = Math.max(1, Math.min(64, Number(opts.concurrency)));
const coldRuns = opts.url ? 1 : Math.max(1, Math.min(10, Number(opts["cold-runs"])));
const maxMs = Math.max(1, Math.min(600, Number(opts["max-seconds"]))) * 1000;
const port = Number(opts.port);
if (!opts.url && !(port >= 8787 && port <= 8799)) throw new Error("--port must be within 8787-8799");
if (opts.url) assertLoopback(opts.url);

const COLD_TARGET_MS = 1000;
const FREE_PLAN_CPU_MS = 10;
/** Five catalog pins and one free-text pin: what the model costs a request. */
const TEXT_PIN = {
  boards: [{ name: "Someday", pins: [...FIVE_BOARDS.boards[0].pins.slice(0, 5), { title: "astronauts stranded on Mars, a survival story" }] }],
  k: FIVE_BOARDS.k,
};
const P99_TARGET_MS = 50;
const fmt = (ms) => `${ms.toFixed(1)} ms`;
let errors = 0;
const errorCodes = new Map();

function noteError(res) {
  errors++;
  const code = res.json?.error?.code ?? `HTTP ${res.status}`;
  errorCodes.set(code, (errorCodes.get(code) ?? 0) + 1);
}

async function timedRecommend(url, context = FIVE_BOARDS) {
  const t0 = performance.now();
  const res = await post(url, "/v1/recommend", context);
  const ms = performance.now() - t0;
  if (res.status !== 200 || res.json?.items?.length !== context.k) noteError(res);
  return { ms, cpu: res.json?.cpu_ms };
}

async function phase(name, url, parallel, context = FIVE_BOARDS) {
  const lat = [];
  const cpu = [];
  let issued = 0;
  const start = performance.now();
  const deadline = start + maxMs;
  async function lane() {
    while (issued < requests && performance.now() < deadline) {
      issued++;
      const r = await timedRecommend(url, context);
      lat.push(r.ms);
      if (Number.isFinite(r.cpu)) cpu.push(r.cpu);
    }
  }
  await Promise.all(Array.from({ length: parallel }, lane));
  const seconds = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const capped = lat.length < requests ? ` (stopped by the ${maxMs / 1000} s cap)` : "";
  console.log(`\n${name}: ${lat.length} requests in ${seconds.toFixed(2)} s${capped}, concurrency ${parallel}`);
  console.log(`  requests/s  ${(lat.length / seconds).toFixed(1)}`);
  console.log(`  latency     p50 ${fmt(percentile(lat, 50))}  p90 ${fmt(percentile(lat, 90))}  p99 ${fmt(percentile(lat, 99))}  max ${fmt(lat.at(-1))}`);
  console.log(`  cpu_ms      p50 ${percentile(cpu, 50)}  p99 ${percentile(cpu, 99)}  (reported by the Worker, 1 ms resolution)`);
  return { p99: percentile(lat, 99), cpu50: percentile(cpu, 50), cpu99: percentile(cpu, 99) };
}

console.log(`edgerec Worker load test: POST /v1/recommend, ${FIVE_BOARDS.boards.length} boards × ${FIVE_BOARDS.boards[0].pins.length} catalog pins, k = ${FIVE_BOARDS.k}`);
console.log(`node ${process.version}; ${opts.url ? `target ${opts.url}` : `workerd via Miniflare on 127.0.0.1:${port}`}`);

const colds = [];
let server = null;
let url;
for (let run = 0; run < coldRuns; run++) {
  if (server) await server.mf.dispose();
  let startMs = 0;
  if (opts.url) {
    url = new URL(opts.url);
  } else {
    const t0 = performance.now();
    server = await startWorker({ port, vars: { EDGEREC_MODEL: opts.model } });
    startMs = performance.now() - t0;
    url = server.url;
  }
  const first = await timedRecommend(url);
  const health = await get(url, "/v1/health");
  colds.push(first.ms);
  console.log(
    `cold start ${run + 1}/${coldRuns}: first request ${fmt(first.ms)} ` +
      `(Worker's load: ${health.json?.load_ms} ms wall, ${health.json?.load_cpu_ms} ms CPU; model ${health.json?.model}, wasm ${health.json?.versions?.wasm}; ` +
      `workerd itself started in ${fmt(startMs)}, not counted)`,
  );
}
const coldWorst = Math.max(...colds);
const seq = await phase("sequential (warm)", url, 1);
await phase("concurrent (warm)", url, concurrency);
const text = opts.model === "off" ? null : await phase("one text pin (warm)", url, 1, TEXT_PIN);
const health = await get(url, "/v1/health");
if (server) await server.mf.dispose();

console.log(`\nwasm memory at the end: ${(health.json?.memory?.wasm_bytes / 1e6).toFixed(1)} MB`);
console.log(`errors: ${errors}${errors ? ` (${[...errorCodes].map(([c, n]) => `${c}: ${n}`).join(", ")})` : ""}`);
console.log(`target cold start < ${COLD_TARGET_MS} ms: worst ${fmt(coldWorst)} — ${coldWorst < COLD_TARGET_MS ? "met" : "MISSED"}`);
console.log(`target warm p99 < ${P99_TARGET_MS} ms (sequential): ${fmt(seq.p99)} — ${seq.p99 < P99_TARGET_MS ? "met" : "MISSED"}`);
if (text) {
  const within = text.cpu99 <= FREE_PLAN_CPU_MS;
  console.log(`Free plan: one text pin with the ${health.json?.model_kind ?? opts.model} model, cpu_ms p50 ${text.cpu50}, p99 ${text.cpu99} — ${within ? "within" : "OVER"} ${FREE_PLAN_CPU_MS} ms`);
}
process.exitCode = errors ? 1 : 0;
