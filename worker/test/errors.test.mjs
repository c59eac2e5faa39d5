// Every wasm error code gets its HTTP answer by the code alone (WASM_ERROR_HTTP in
// src/errors.js), whatever its message says. The real module cannot be made to throw most codes
// on purpose (resource_exhausted, inference_failed, ...), so a stand-in glue wraps it: a
// recommend body with `"throw": "<code>"` makes recommendJson throw an error with that code and a
// message that mentions the encoder (which must change nothing).
import { test } from "node:test";
import assert from "node:assert/strict";
import { PATIENT, startWorker } from "../scripts/miniflare.mjs";
import { FIVE_BOARDS, post } from "../scripts/client.mjs";
import { WASM_ERROR_HTTP } from "../../packages/edgerec/cloudflare/errors.js";

const standIn = `
export * from "edgerec/wasm";
import * as real from "edgerec/wasm";
class Throwing extends real.Recommender {
  recommendJson(text) {
    const m = /"throw":"(\\w+)"/.exec(text);
    if (m) throw Object.assign(new Error("stand-in " + m[1] + ": the encoder said no"), { code: m[1] });
    return super.recommendJson(text);
  }
}
export class Recommender {
  static fromBundle(bytes, encoder) {
    const rec = real.Recommender.fromBundle(bytes, encoder);
    Object.setPrototypeOf(rec, Throwing.prototype);
    return rec;
  }
}
`;

test("each wasm error code has its status, code and Retry-After; an unknown code is a 500 internal", async () => {
  let output = "";
  const { mf, url } = await startWorker({ vars: PATIENT, glue: standIn, output: (text) => (output += text) });
  try {
    for (const [wasmCode, answer] of Object.entries(WASM_ERROR_HTTP)) {
      const res = await post(url, "/v1/recommend", { ...FIVE_BOARDS, throw: wasmCode });
      assert.equal(res.status, answer.status, `${wasmCode}: ${res.text}`);
      assert.deepEqual(Object.keys(res.json), ["error"], res.text);
      assert.equal(res.json.error.code, answer.code, wasmCode);
      assert.equal(res.headers.get("retry-after"), answer.retryAfter ?? null, wasmCode);
      if (answer.message === null) assert.equal(res.json.error.message, `stand-in ${wasmCode}: the encoder said no`);
      else assert.doesNotMatch(res.json.error.message, /stand-in/, `${wasmCode}: the wasm's message is replaced`);
    }
    // The five answers the issue names.
    const status = (code) => WASM_ERROR_HTTP[code].status;
    assert.deepEqual(
      ["invalid_input", "limit_exceeded", "inference_failed", "encoder_unavailable", "resource_exhausted"].map(status),
      [400, 413, 500, 501, 503],
    );
    assert.equal(WASM_ERROR_HTTP.encoder_unavailable.code, "model_unavailable");
    assert.equal(WASM_ERROR_HTTP.resource_exhausted.code, "resource_exhausted");
    for (const code of ["invalid_catalog", "invalid_model", "model_mismatch"]) assert.equal(WASM_ERROR_HTTP[code].code, "unavailable");

    const unknown = await post(url, "/v1/recommend", { ...FIVE_BOARDS, throw: "no_such_code" });
    assert.equal(unknown.status, 500, unknown.text);
    assert.equal(unknown.json.error.code, "internal");
    // None of these is a trap: the isolate goes on serving.
    const ok = await post(url, "/v1/recommend", FIVE_BOARDS);
    assert.equal(ok.status, 200, ok.text);
    assert.doesNotMatch(output, /wasm trap/);
  } finally {
    await mf.dispose();
  }
});
