// workerd does not enforce the 128 MB isolate limit locally, so this asserts it: the wasm memory
// (/v1/health memory.wasm_bytes = the instance's memory.buffer.byteLength; wasm memory never
// shrinks, so this is its high-water mark) after the load plus 100 requests stays under
// 100 MB, and does not grow at all across the last 50 requests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PATIENT, startWorker } from "../scripts/miniflare.mjs";
import { FIVE_BOARDS, get, ids, post } from "../scripts/client.mjs";
import { fullBuild } from "./gate.mjs";

fullBuild(); // the traffic below includes text pins and embeddings: the model must be there
const LIMIT = 100 * 1000 * 1000;
const MB = (n) => `${(n / 1e6).toFixed(1)} MB`;

test("wasm memory after load + 100 mixed requests (with the edge model) < 100 MB, flat over the last 50", async (t) => {
  const { mf, url } = await startWorker({ vars: PATIENT });
  try {
    // One cycle of the traffic the Worker serves: catalog pins, text pins and embeddings.
    const cycle = [
      () => post(url, "/v1/recommend", FIVE_BOARDS),
      () => post(url, "/v1/recommend", { ...FIVE_BOARDS, target_board: "Space", k: 50, diversity: 0.3 }),
      () => post(url, "/v1/recommend", { boards: [{ name: "Space", pins: [] }], k: 20 }),
      () => post(url, "/v1/recommend", { boards: [{ name: "x", pins: Array.from({ length: 300 }, (_, i) => ({ id: String(i + 1) })) }], k: 100 }),
      () => post(url, "/v1/recommend", { boards: [{ name: "Someday", pins: [{ title: "Astronauts stranded on Mars", tags: ["space"] }, ...ids("1 260")] }], k: 10 }),
      () => post(url, "/v1/embed", { texts: Array.from({ length: 4 }, (_, i) => `a board about topic number ${i}: ${"more words ".repeat(i * 6)}`) }),
    ];
    const memory = async () => {
      const h = await get(url, "/v1/health");
      assert.equal(h.status, 200, h.text);
      return h.json.memory.wasm_bytes;
    };
    const afterLoad = await memory();
    let at50;
    for (let i = 0; i < 100; i++) {
      const res = await cycle[i % cycle.length]();
      assert.equal(res.status, 200, `request ${i}: ${res.text.slice(0, 300)}`);
      if (i === 49) at50 = await memory();
    }
    const at100 = await memory();
    t.diagnostic(`wasm memory: after load ${MB(afterLoad)}, after 50 requests ${MB(at50)}, after 100 ${MB(at100)}`);
    assert.ok(at100 < LIMIT, `wasm memory ${at100} bytes after 100 requests`);
    assert.equal(at100, at50, "wasm memory grew across the last 50 requests");
  } finally {
    await mf.dispose();
  }
});
