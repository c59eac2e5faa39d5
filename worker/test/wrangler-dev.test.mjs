// `wrangler dev --local` (what `npm run dev` runs) serves the Worker from wrangler.toml as is:
// the bundling, the wasm rule, the assets binding, and run_worker_first (no shard by URL).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { workerDir } from "../scripts/miniflare.mjs";
import { FIVE_BOARDS, get, post } from "../scripts/client.mjs";

const PORT = 8791;

test(`wrangler dev --local serves the Worker on 127.0.0.1:${PORT}`, async () => {
  const child = spawn(
    join(workerDir, "node_modules", ".bin", "wrangler"),
    ["dev", "--local", "--ip", "127.0.0.1", "--port", String(PORT), "--show-interactive-dev-session=false", "--log-level", "warn"],
    {
      cwd: workerDir,
      detached: true, // its own process group, so wrangler and its workerd children stop together
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", WRANGLER_SEND_ERROR_REPORTS: "false" },
    },
  );
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const url = `http://127.0.0.1:${PORT}`;
  try {
    let health;
    for (let i = 0; i < 120 && child.exitCode === null; i++) {
      health = await get(url, "/v1/health").catch(() => null);
      if (health) break;
      await sleep(250);
    }
    assert.ok(health, `wrangler dev did not answer within 30 s:\n${output}`);
    assert.equal(health.status, 200, health.text);
    assert.equal(health.json.catalog_items, 9742);
    const res = await post(url, "/v1/recommend", FIVE_BOARDS);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.items.length, 10);
    const manifest = await get(url, "/manifest.json");
    assert.equal(manifest.status, 404, "assets must not be served by URL");
    assert.equal(manifest.json.error.code, "not_found");
  } finally {
    try {
      process.kill(-child.pid, "SIGINT");
    } catch {}
    await Promise.race([new Promise((r) => child.once("exit", r)), sleep(5000)]);
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
  }
});
