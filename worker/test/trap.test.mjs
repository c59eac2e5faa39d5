// A wasm trap (a panic: a bug, since every input is validated) marks the isolate failed for
// good: it is logged, what can be freed is freed, and every request from then on is answered
// 503 `unavailable` (the instance is never reused or reloaded). The real module cannot be made
// to trap, so a stand-in glue wraps it: `k: 499` traps in recommend, and with TRAP_IN_LOAD the
// first Recommender.fromBundle traps (a second one, were the Worker to reload, would work).
import { test } from "node:test";
import assert from "node:assert/strict";
import { PATIENT, startWorker } from "../scripts/miniflare.mjs";
import { FIVE_BOARDS, get, post } from "../scripts/client.mjs";

const standIn = ({ trapInLoad }) => `
export * from "edgerec/wasm";
import * as real from "edgerec/wasm";
const TRAP_IN_LOAD = ${trapInLoad};
let built = 0;
class Trapping extends real.Recommender {
  recommendJson(text) {
    if (/"k":499[,}]/.test(text)) throw new WebAssembly.RuntimeError("unreachable (stand-in trap in recommend)");
    return super.recommendJson(text);
  }
  free() {
    console.log("stand-in: recommender freed");
    super.free();
  }
}
export class Recommender {
  static fromBundle(bytes, encoder) {
    built++;
    if (TRAP_IN_LOAD && built === 1) {
      bytes.free();
      encoder?.free();
      throw new WebAssembly.RuntimeError("unreachable (stand-in trap in fromBundle)");
    }
    const rec = real.Recommender.fromBundle(bytes, encoder);
    Object.setPrototypeOf(rec, Trapping.prototype);
    return rec;
  }
}
`;

function assertFailed(res) {
  assert.equal(res.status, 503, res.text);
  assert.deepEqual(Object.keys(res.json), ["error"], res.text);
  assert.equal(res.json.error.code, "unavailable", res.text);
  assert.match(res.json.error.message, /must be restarted/);
  assert.doesNotMatch(res.text, /unreachable|stand-in|RuntimeError|wasm-function/, "no internals in the message");
}

async function withStandIn(trapInLoad, fn) {
  let output = "";
  const { mf, url } = await startWorker({ vars: PATIENT, glue: standIn({ trapInLoad }), output: (text) => (output += text) });
  try {
    await fn(url, () => output);
  } finally {
    await mf.dispose();
  }
}

/** Waits (up to 5 s) for workerd's output to match, since its stdio arrives asynchronously. */
async function waitForOutput(read, re) {
  for (let i = 0; i < 100 && !re.test(read()); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(read(), re);
}

test("a trap in a request: 503 unavailable for it and every later request, no reload, logged, the recommender freed", async () => {
  await withStandIn(false, async (url, output) => {
    const ok = await post(url, "/v1/recommend", FIVE_BOARDS);
    assert.equal(ok.status, 200, ok.text);
    assert.equal((await get(url, "/v1/health")).json.loads, 1);
    assertFailed(await post(url, "/v1/recommend", { ...FIVE_BOARDS, k: 499 }));
    // The same request that worked before the trap is refused now: the isolate did not reload.
    assertFailed(await post(url, "/v1/recommend", FIVE_BOARDS));
    assertFailed(await post(url, "/v1/embed", { texts: ["robots"] }));
    assertFailed(await get(url, "/v1/health"));
    // Requests that never reach the wasm are still answered as before (an empty body: 400).
    assert.equal((await post(url, "/v1/recommend", "")).status, 400);
    await waitForOutput(output, /edgerec: wasm trap in a request: .*marked failed/);
    await waitForOutput(output, /stand-in: recommender freed/);
    assert.equal(output().match(/edgerec: wasm trap/g).length, 1, "the trap is logged once");
  });
});

test("a trap inside the load: 503 unavailable, and the load is not tried again", async () => {
  await withStandIn(true, async (url, output) => {
    assertFailed(await get(url, "/v1/health"));
    // A second load would succeed (the stand-in traps only once): it must not happen.
    assertFailed(await post(url, "/v1/recommend", FIVE_BOARDS));
    assertFailed(await get(url, "/v1/health"));
    await waitForOutput(output, /edgerec: wasm trap in the load: /);
    assert.doesNotMatch(output(), /edgerec: load failed/, "a trap is not reported as an ordinary failed load");
  });
});
