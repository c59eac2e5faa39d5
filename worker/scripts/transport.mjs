// `node worker/scripts/transport.mjs`: what the sharded Workers' transport costs alone, in one workerd:
// a front calling 8 shards that do nothing, twice a request, with load:sharded's message sizes
// (23 KB in, 38 KB out), by fetch to the shards' default entrypoint and by Workers RPC to a named
// one (what sharded.js does), 1 and 4 in flight. Each shard has Static Assets with
// run_worker_first, as the built shard Workers do: a fetch passes the assets router first, an RPC
// call to a named entrypoint does not.
import { Miniflare } from "miniflare";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OFFLINE_ENV } from "./offline.mjs";

Object.assign(process.env, OFFLINE_ENV);
const SHARD = `
import { WorkerEntrypoint } from "cloudflare:workers";
const reply = new Uint8Array(38000).fill(7);
export default {
  async fetch(request) { const b = new Uint8Array(await request.arrayBuffer()); return new Response(reply.slice(), { headers: { "content-type": "application/octet-stream" } }); },
};
export class Shard extends WorkerEntrypoint {
  step(bytes) { return reply.slice(); }
}`;
const FRONT = `
const body = new Uint8Array(23000).fill(3);
export default {
  async fetch(request, env) {
    const mode = new URL(request.url).searchParams.get("mode");
    let total = 0;
    for (let round = 0; round < 2; round++) {
      const outs = await Promise.all([0,1,2,3,4,5,6,7].map(async (i) => {
        if (mode === "rpc") return await env["R" + i].step(body);
        const res = await env["S" + i].fetch(new Request("https://shard.invalid/x", { method: "POST", body, headers: { "content-type": "application/octet-stream" } }));
        return new Uint8Array(await res.arrayBuffer());
      }));
      total += outs.reduce((a, o) => a + o.length, 0);
    }
    return new Response(String(total));
  },
};`;
const assetsDir = mkdtempSync(join(tmpdir(), "edgerec-transport-"));
writeFileSync(join(assetsDir, "manifest.json"), "{}");
const assets = { directory: assetsDir, binding: "ASSETS", routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true } };
const shards = Array.from({ length: 8 }, (_, i) => ({ name: "shard" + i, modules: true, script: SHARD, compatibilityDate: "2026-04-01", assets }));
// S<i>: the default entrypoint (fetch); R<i>: the named one (RPC).
const bindings = Object.fromEntries(shards.flatMap((s, i) => [["S" + i, s.name], ["R" + i, { name: s.name, entrypoint: "Shard" }]]));
const mf = new Miniflare({ workers: [{ name: "front", modules: true, script: FRONT, compatibilityDate: "2026-04-01", serviceBindings: bindings }, ...shards] });
const url = await mf.ready;
for (const conc of [1, 4]) for (const mode of ["fetch", "rpc", "fetch", "rpc"]) {
  const n = 400; let done = 0; const t0 = performance.now(); const lat = [];
  await Promise.all(Array.from({ length: conc }, async () => { while (done < n) { done++; const t = performance.now(); const r = await fetch(new URL("/?mode=" + mode, url)); await r.text(); lat.push(performance.now() - t); } }));
  const s = (performance.now() - t0) / 1000; lat.sort((a, b) => a - b);
  console.log(`${mode} ${conc} in flight: ${(n / s).toFixed(1)} req/s, ${(1000 * s / n).toFixed(2)} ms per request, p50 ${lat[lat.length >> 1].toFixed(2)} p99 ${lat[Math.floor(lat.length * 0.99)].toFixed(2)}`);
}
await mf.dispose();
rmSync(assetsDir, { recursive: true, force: true });
