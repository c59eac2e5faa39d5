#!/usr/bin/env node
// Drives the browser benchmark page (www/dist/bench/) in headless Chromium:
//   cold: a fresh profile (empty HTTP cache and Cache API), then warm: the same profile again;
//   then one more cold + warm pair with the worker's memory sampled over CDP.
// Prints time from navigation to the first recommendation, recommend latency p50/p95 for a
// 5-board context of catalog pins, and memory; writes www/test-output/bench.json.
//
//   node bench/run.mjs [--warm N] [--n REQUESTS] [--port P]      (npm --prefix www run bench)

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { CHROMIUM, checkDist, launch, manifest, outputDir, serve } from "../test/helpers.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const WARM_RUNS = opt("warm", 5);
const N = opt("n", 300);
const PORT = opt("port", Number(process.env.PORT) || 0); // 0: a free port

checkDist();
const m = manifest();
const srv = await serve(PORT);

/**
 * One fresh Chromium profile: a cold load (empty HTTP cache and Cache API), then `warm` loads
 * from the same profile. With `sample`, the worker's memory is sampled over CDP (which perturbs
 * timing a little, so timing and memory come from separate profiles).
 */
async function session(warm, sample) {
  const browser = await launch();
  const runs = [];
  try {
    for (let i = 0; i <= warm; i++) {
      const page = await browser.context.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(e.message));
      const sampler = sample ? await workerSampler(browser.context, page) : null;
      await page.goto(`${srv.url}bench/?n=${N}`);
      await page.waitForFunction(() => window.benchResult, null, { timeout: 180_000, polling: 100 });
      const r = await page.evaluate(() => window.benchResult);
      if (sampler) Object.assign(r, sampler.stop());
      await page.close();
      if (r.error || errors.length) throw new Error(`bench page failed: ${r.error ?? errors.join("; ")}`);
      r.kind = i === 0 ? "cold" : "warm";
      const expected = i === 0 ? "network" : "cache";
      for (const [what, source] of Object.entries(r.sources)) {
        if (source !== null && source !== expected) throw new Error(`${r.kind} run loaded the ${what} from ${source}, expected ${expected}`);
      }
      runs.push(r);
      console.error(`bench: ${sample ? "memory" : "timing"} ${r.kind} run: first recommendation ${r.firstRecMs.toFixed(0)} ms, ` +
        `p50 ${r.p50.toFixed(2)} ms, p95 ${r.p95.toFixed(2)} ms`);
    }
  } finally {
    await browser.close();
  }
  return runs;
}

let runs, memRuns;
try {
  runs = await session(WARM_RUNS, false);
  memRuns = await session(1, true);
} finally {
  await srv.close();
}

/**
 * Samples the worker's JS heap through the DevTools protocol while the page runs (a page cannot
 * see its worker's heap: performance.memory does not exist in workers). The peak is of samples
 * taken every ~10 ms, so a shorter spike can be missed. (ArrayBuffer and wasm memory are not
 * part of the JS heap; the wasm memory is reported by the page from memory.buffer.byteLength.)
 */
async function workerSampler(context, page) {
  const cdp = await context.newCDPSession(page);
  const sessions = new Set();
  const waiting = new Map();
  let id = 0, running = true;
  const peak = { workerJsHeapPeakBytes: 0, workerSamples: 0 };
  cdp.on("Target.attachedToTarget", (e) => { if (e.targetInfo.type === "worker") sessions.add(e.sessionId); });
  cdp.on("Target.detachedFromTarget", (e) => sessions.delete(e.sessionId));
  cdp.on("Target.receivedMessageFromTarget", (e) => {
    const msg = JSON.parse(e.message);
    waiting.get(msg.id)?.(msg);
    waiting.delete(msg.id);
  });
  await cdp.send("Target.setAutoAttach", { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
  const ask = async (sessionId) => {
    const n = ++id;
    const reply = new Promise((ok) => { waiting.set(n, ok); setTimeout(() => ok(null), 500); });
    await cdp.send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id: n, method: "Runtime.getHeapUsage" }) });
    return (await reply)?.result;
  };
  const loop = (async () => {
    while (running) {
      for (const sid of [...sessions]) {
        const u = await ask(sid).catch(() => null);
        if (!u) continue;
        peak.workerSamples++;
        peak.workerJsHeapPeakBytes = Math.max(peak.workerJsHeapPeakBytes, u.usedSize);
      }
      await new Promise((ok) => setTimeout(ok, 10));
    }
  })();
  return {
    stop() {
      running = false;
      loop.catch(() => {});
      cdp.detach().catch(() => {});
      return { ...peak };
    },
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const cold = runs[0];
const warm = runs.slice(1);
const all = runs;
const maxOf = (key) => Math.max(...memRuns.map((r) => r[key] ?? 0)) || null;
const mib = (b) => (b == null ? "n/a" : `${(b / 2 ** 20).toFixed(1)} MiB`);
const summary = {
  chromium: execFileSync(CHROMIUM, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim(),
  wasm: cold.simd,
  model: cold.encoder ? `${m.model.name} (${m.model.bytes} bytes in ${m.model.shards.length} shard(s))` : null,
  catalog: `${m.catalog.name} (${cold.items} items, ${m.catalog.bytes} bytes)`,
  streaming: cold.streaming,
  coldFirstRecMs: cold.firstRecMs,
  warmFirstRecMs: median(warm.map((r) => r.firstRecMs)),
  warmFirstRecMsRange: [Math.min(...warm.map((r) => r.firstRecMs)), Math.max(...warm.map((r) => r.firstRecMs))],
  requests: N,
  context: `5 boards × ${cold.pinsPerBoard} catalog pins, k = 10`,
  p50Ms: median(all.map((r) => r.p50)),
  p95Ms: median(all.map((r) => r.p95)),
  p95MsWorst: Math.max(...all.map((r) => r.p95)),
  workerP50Ms: median(all.map((r) => r.workerP50)),
  workerP95Ms: median(all.map((r) => r.workerP95)),
  peakPageJsHeapBytes: maxOf("peakPageJsHeapBytes"),
  workerJsHeapPeakBytes: maxOf("workerJsHeapPeakBytes"),
  wasmMemoryBytes: maxOf("wasmMemoryBytes"),
  targets: { warmFirstRecMs: 1500, p95Ms: 50 },
  runs,
  memoryRuns: memRuns,
};
writeFileSync(join(outputDir(), "bench.json"), JSON.stringify(summary, null, 2) + "\n");

const row = (k, v) => console.log(`${k.padEnd(52)} ${v}`);
console.log(`edgerec browser benchmark — headless Chromium, wasm ${summary.wasm}, ${summary.model ? "with the edge model" : "no model (catalog pins)"}`);
row("first recommendation, cold (empty caches)", `${summary.coldFirstRecMs.toFixed(0)} ms`);
row(`first recommendation, warm (Cache API; median of ${warm.length})`, `${summary.warmFirstRecMs.toFixed(0)} ms (${summary.warmFirstRecMsRange.map((x) => x.toFixed(0)).join("–")})  target < 1500`);
row(`recommend p50 / p95, round trip (${N} × ${summary.context})`, `${summary.p50Ms.toFixed(2)} / ${summary.p95Ms.toFixed(2)} ms  target p95 < 50 (worst run ${summary.p95MsWorst.toFixed(2)})`);
row("  ranking alone in the worker p50 / p95", `${summary.workerP50Ms.toFixed(2)} / ${summary.workerP95Ms.toFixed(2)} ms`);
row("peak JS heap: page (performance.memory) / worker (CDP)", `${mib(summary.peakPageJsHeapBytes)} / ${mib(summary.workerJsHeapPeakBytes)}`);
row("wasm memory (memory.buffer.byteLength; it never shrinks)", mib(summary.wasmMemoryBytes));
console.log(`(details: www/test-output/bench.json)`);
const misses = [];
if (summary.warmFirstRecMs >= 1500) misses.push("warm first recommendation ≥ 1.5 s");
if (summary.p95Ms >= 50) misses.push("recommend p95 ≥ 50 ms");
if (misses.length) {
  console.log(`TARGET MISSED: ${misses.join("; ")}`);
  process.exitCode = 1;
}
