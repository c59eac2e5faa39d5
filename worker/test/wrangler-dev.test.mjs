// `wrangler dev --local` (what `npm run dev` runs) serves the Worker from wrangler.toml as is:
// the bundling, the wasm rule, the assets binding, and run_worker_first (no shard by URL).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { OFFLINE_ENV, PATIENT, workerDir } from "../scripts/miniflare.mjs";
import { FIVE_BOARDS, get, post } from "../scripts/client.mjs";

/** A port that is free now (wrangler dev takes a port number, not 0). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

test("wrangler dev --local serves the Worker on 127.0.0.1 (a free port)", async (t) => {
  const port = await freePort();
  const inspectorPort = await freePort();
  t.diagnostic(`port ${port}, inspector ${inspectorPort}`);
  const child = spawn(
    join(workerDir, "node_modules", ".bin", "wrangler"),
    [
      "dev", "--local", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort),
      "--show-interactive-dev-session=false", "--log-level", "warn",
      // The load wait in wrangler.toml (5 s) could answer a cold request 503 on a busy machine.
      "--var", `LOAD_WAIT_MS:${PATIENT.LOAD_WAIT_MS}`,
    ],
    {
      cwd: workerDir,
      detached: true, // its own process group, so wrangler and its workerd children stop together
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...OFFLINE_ENV },
    },
  );
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  try {
    let health;
    for (let i = 0; i < 240 && child.exitCode === null; i++) {
      health = await get(url, "/v1/health").catch(() => null);
      if (health) break;
      await sleep(250);
    }
    assert.ok(health, `wrangler dev did not answer within 60 s:\n${output}`);
    assert.equal(health.status, 200, health.text);
    assert.equal(health.json.catalog_items, 9742);
    assert.equal(health.json.loads, 1);
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
