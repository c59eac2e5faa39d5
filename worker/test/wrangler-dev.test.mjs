// `wrangler dev --local` (what `npm run dev` runs) serves the Worker from wrangler.toml as is:
// the bundling, the wasm rule, the assets binding, and run_worker_first (no shard by URL).
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { PATIENT, workerDir } from "../scripts/miniflare.mjs";
import { FIVE_BOARDS, get } from "../scripts/client.mjs";
import { startWranglerDev } from "../scripts/wrangler-dev.mjs";

test("wrangler dev --local serves the Worker on 127.0.0.1 (a free port)", async (t) => {
  // The load wait in wrangler.toml (5 s) could answer a cold request 503 on a busy machine.
  const dev = await startWranglerDev({ cwd: workerDir, vars: { LOAD_WAIT_MS: PATIENT.LOAD_WAIT_MS } });
  t.diagnostic(`port ${dev.port}, inspector ${dev.inspectorPort}`);
  try {
    let health;
    for (let i = 0; i < 240 && !dev.exited(); i++) {
      health = await get(dev.url, "/v1/health").catch(() => null);
      if (health) break;
      await sleep(250);
    }
    assert.ok(health, `wrangler dev did not answer within 60 s:\n${dev.output()}`);
    assert.equal(health.status, 200, health.text);
    assert.equal(health.json.catalog_items, 9742);
    assert.equal(health.json.loads, 1);
    const res = await dev.request("/v1/recommend", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(FIVE_BOARDS) });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.items.length, 10);
    const manifest = await get(dev.url, "/manifest.json");
    assert.equal(manifest.status, 404, "assets must not be served by URL");
    assert.equal(manifest.json.error.code, "not_found");
  } finally {
    await dev.stop();
  }
});
