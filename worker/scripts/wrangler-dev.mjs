// `wrangler dev --local` of a wrangler project, offline, on 127.0.0.1 (a free port), for tests:
// this Worker's own (test/wrangler-dev.test.mjs) and a fresh user project (tests/package/).
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { OFFLINE_ENV } from "./offline.mjs";


/** A port that is free now (wrangler dev takes a port number, not 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * wrangler's dev proxy answers a POST with its own 503 ("Your worker restarted mid-request") when
 * its connection to workerd drops, although the Worker never restarted
 * (cloudflare/workers-sdk#14641; it retries GETs itself). Ours are JSON `{ error: { code } }`, so a
 * 503 without that envelope is the proxy's, and the request never reached the Worker.
 */
function isProxyRestart(status, json) {
  return status === 503 && typeof json?.error?.code !== "string";
}

/**
 * Starts `wrangler dev --local` in `cwd` (its node_modules/.bin/wrangler) with `vars` as
 * `--var`s. Returns { url, port, inspectorPort, output(), exited(), request(), stop() }:
 * request(path, init) is fetch() to the Worker answering { status, text, json }, sent again (up to
 * 3 times) when the proxy, not the Worker, answered 503; stop() ends wrangler and its workerd
 * children (their own process group) and waits for them.
 */
export async function startWranglerDev({ cwd, vars = {} }) {
  const port = await freePort();
  const inspectorPort = await freePort();
  const child = spawn(
    join(cwd, "node_modules", ".bin", "wrangler"),
    [
      "dev", "--local", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort),
      "--show-interactive-dev-session=false", "--log-level", "warn",
      ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ],
    { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...OFFLINE_ENV } },
  );
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    inspectorPort,
    output: () => output,
    exited: () => child.exitCode !== null,
    async request(path, init) {
      for (let attempt = 1; ; attempt++) {
        const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
        const text = await res.text();
        let json;
        try {
          json = JSON.parse(text);
        } catch {}
        if (attempt < 3 && isProxyRestart(res.status, json)) continue;
        return { status: res.status, text, json };
      }
    },
    async stop() {
      try {
        process.kill(-child.pid, "SIGINT");
      } catch {}
      await Promise.race([new Promise((r) => child.once("exit", r)), sleep(5000)]);
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    },
  };
}
