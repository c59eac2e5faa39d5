// The browser benchmark page: load → first recommendation, recommend latency, memory.
// Query parameters: n (timed requests, default 300), warmup (default 20), pins (per board, 10).
// The result is put in `window.benchResult` (and shown) for bench/run.mjs.

import { createRecommender } from "edgerec";

const params = new URLSearchParams(location.search);
const N = Number(params.get("n") ?? 300);
const WARMUP = Number(params.get("warmup") ?? 20);
const PINS = Number(params.get("pins") ?? 10);
const CONTEXTS = 20;

let peakPageHeap = 0;
const sampleHeap = () => {
  const m = performance.memory;
  if (m) peakPageHeap = Math.max(peakPageHeap, m.usedJSHeapSize);
};
const sampler = setInterval(sampleHeap, 20);

/** A small deterministic PRNG (mulberry32), so every run ranks the same contexts. */
function rng(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** CONTEXTS requests of 5 boards × PINS catalog pins each, drawn from the catalog's ids. */
function contexts(ids) {
  const r = rng(42);
  const names = ["Pixar night", "Thrillers", "Space", "Date night", "Classics"];
  return Array.from({ length: CONTEXTS }, () => ({
    boards: names.map((name) => ({ name, pins: Array.from({ length: PINS }, () => ({ id: ids[Math.floor(r() * ids.length)] })) })),
    target_board: names[0],
    k: 10,
  }));
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

async function main() {
  const phases = {};
  // The catalog ids for the contexts load beside the recommender, as the demo's titles do. Both
  // are awaited to the end, so a recommender that loaded is closed if the titles failed.
  const [loaded, titles] = await Promise.allSettled([
    createRecommender({
      manifest: "../assets/manifest.json",
      onProgress: (p) => { phases[p.phase] = p.source ?? phases[p.phase] ?? null; },
    }),
    fetch("../assets/titles.json").then((r) => {
      if (!r.ok) throw new Error(`titles.json: HTTP ${r.status}`);
      return r.json();
    }).then((rows) => rows.map((row) => row[0])),
  ]);
  if (loaded.status === "rejected" || titles.status === "rejected") {
    if (loaded.status === "fulfilled") loaded.value.close();
    throw loaded.status === "rejected" ? loaded.reason : titles.reason;
  }
  const rec = loaded.value;
  const ids = titles.value;
  try {
    const readyMs = performance.now();
    const ctxs = contexts(ids);
    // The first recommendation, timed from navigation start (performance.now()'s origin).
    const first = await rec.recommend(ctxs[0]);
    const firstRecMs = performance.now();
    if (!first.items.length) throw new Error("the first recommendation is empty");

    for (let i = 0; i < WARMUP; i++) await rec.recommend(ctxs[i % CONTEXTS]);
    const rt = [], inWorker = [];
    for (let i = 0; i < N; i++) {
      const t = performance.now();
      await rec.recommend(ctxs[i % CONTEXTS]);
      rt.push(performance.now() - t);
      inWorker.push(rec.lastTiming.workerMs);
      if (i % 25 === 0) sampleHeap();
    }
    rt.sort((a, b) => a - b);
    inWorker.sort((a, b) => a - b);
    sampleHeap();
    clearInterval(sampler);
    const stats = await rec.stats();
    const result = {
      firstRecMs,
      readyMs,
      sources: rec.info.sources,
      wasmSource: phases.wasm,
      simd: rec.info.simd,
      encoder: rec.info.encoder,
      items: rec.info.items,
      streaming: rec.info.streaming,
      n: N,
      boards: 5,
      pinsPerBoard: PINS,
      p50: pct(rt, 50),
      p95: pct(rt, 95),
      max: rt[rt.length - 1],
      workerP50: pct(inWorker, 50),
      workerP95: pct(inWorker, 95),
      peakPageJsHeapBytes: performance.memory ? peakPageHeap : null,
      workerJsHeapBytes: stats.workerJsHeapBytes,
      wasmMemoryBytes: stats.wasmMemoryBytes,
    };
    return result;
  } finally {
    rec.close();
  }
}

const show = (r) => {
  const mb = (n) => (n == null ? "n/a" : `${(n / 2 ** 20).toFixed(1)} MiB`);
  const rows = [
    ["first recommendation (from navigation)", `${r.firstRecMs.toFixed(0)} ms`],
    ["loaded from", `catalog: ${r.sources.catalog}, model: ${r.sources.model ?? "none"}`],
    ["wasm build", r.simd],
    [`recommend p50 / p95 (${r.n} × 5 boards × ${r.pinsPerBoard} pins, round trip)`, `${r.p50.toFixed(2)} / ${r.p95.toFixed(2)} ms`],
    ["ranking alone in the worker p50 / p95", `${r.workerP50.toFixed(2)} / ${r.workerP95.toFixed(2)} ms`],
    ["wasm memory", mb(r.wasmMemoryBytes)],
    ["peak page JS heap", mb(r.peakPageJsHeapBytes)],
    ["worker JS heap", mb(r.workerJsHeapBytes)],
  ];
  const table = document.getElementById("out");
  table.replaceChildren(...rows.map(([k, v]) => {
    const tr = document.createElement("tr");
    const a = document.createElement("th");
    a.textContent = k;
    const b = document.createElement("td");
    b.textContent = v;
    tr.append(a, b);
    return tr;
  }));
  document.getElementById("raw").textContent = JSON.stringify(r, null, 2);
};

main().then(
  (r) => { window.benchResult = r; show(r); document.body.dataset.state = "done"; },
  (err) => {
    clearInterval(sampler);
    window.benchResult = { error: `${err.code ?? "error"}: ${err.message}` };
    document.getElementById("out").textContent = window.benchResult.error;
    document.body.dataset.state = "error";
  },
);
