// The per-isolate load: a burst of requests on a cold isolate sharing one load (streamed from
// many small shards), 503 `loading` while it runs, a deployment without the model (501
// `model_unavailable`), and a broken asset (503 `unavailable`, retried by the next request).
// Every test but the LOAD_WAIT_MS=0 one waits as long as the load takes (PATIENT).
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { PATIENT, startWorker } from "../scripts/miniflare.mjs";
import { FIVE_BOARDS, get, ids, post } from "../scripts/client.mjs";
import { corruptModelAssets, reshardedAssets, truncatedCatalogAssets } from "./assets.mjs";
import { fullBuild } from "./gate.mjs";

fullBuild(); // the model is deployed: the text-pin context and the corrupt-model test need it

function assertError(res, status, code) {
  assert.equal(res.status, status, res.text);
  assert.deepEqual(Object.keys(res.json), ["error"], res.text);
  assert.equal(res.json.error.code, code, res.text);
  assert.doesNotMatch(res.text, /\n\s+at |\.m?js:\d+|HTTP \d{3}|shard|bytes/, "no internals in the message");
}

async function withWorker(options, fn) {
  const { mf, url } = await startWorker({ ...options, vars: { ...PATIENT, ...options.vars } });
  try {
    return await fn(url);
  } finally {
    await mf.dispose();
  }
}

test("cold isolate: 24 concurrent requests share one load from 1 MiB shards and all get the right answer", async (t) => {
  const contexts = [
    FIVE_BOARDS,
    { ...FIVE_BOARDS, target_board: "Thrillers", k: 7 },
    { boards: [{ name: "Pixar night", pins: ids("1 3114 2355") }], k: 4 },
    { boards: [{ name: "Someday", pins: [{ title: "Astronauts stranded on Mars" }] }], k: 3 },
  ];
  // The reference answers, from the build's own assets.
  const expected = await withWorker({}, async (url) => {
    const out = [];
    for (const c of contexts) out.push((await post(url, "/v1/recommend", c)).json);
    return out;
  });
  const shards = await reshardedAssets(1024 * 1024);
  try {
    assert.ok(shards.manifest.catalog.shards.length >= 3, "the catalog is in several shards");
    assert.ok(shards.manifest.model.shards.length >= 2, "the model is in several shards");
    await withWorker({ assetsDir: shards.dir }, async (url) => {
      const t0 = Date.now();
      const order = Array.from({ length: 24 }, (_, i) => i % contexts.length);
      const answers = await Promise.all([...order.map((i) => post(url, "/v1/recommend", contexts[i])), get(url, "/v1/health")]);
      t.diagnostic(`24 recommendations + health on a cold isolate: ${Date.now() - t0} ms`);
      const health = answers.pop();
      assert.equal(health.status, 200, health.text);
      assert.equal(health.json.model, "loaded");
      assert.equal(health.json.loads, 1, "the 25 requests shared one load");
      assert.equal((await get(url, "/v1/health")).json.loads, 1, "and later requests use it too");
      answers.forEach((res, n) => {
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.json.items, expected[order[n]].items, `request ${n}`);
        assert.equal(res.json.embedded_texts, expected[order[n]].embedded_texts);
      });
    });
  } finally {
    shards.cleanup();
  }
});

test("503 loading while the isolate loads (LOAD_WAIT_MS=0), then served; without the model, text needs are 501 model_unavailable", async () => {
  await withWorker({ vars: { LOAD_WAIT_MS: "0", EDGEREC_MODEL: "off" } }, async (url) => {
    const first = await post(url, "/v1/recommend", FIVE_BOARDS);
    assertError(first, 503, "loading");
    assert.equal(first.headers.get("retry-after"), "1");
    let health;
    for (let i = 0; i < 200; i++) {
      health = await get(url, "/v1/health");
      if (health.status !== 503) break;
      assert.equal(health.json.error.code, "loading");
      await sleep(50);
    }
    assert.equal(health.status, 200, health.text);
    assert.equal(health.json.model, "disabled");
    assert.equal(health.json.model_id, null);
    const ok = await post(url, "/v1/recommend", FIVE_BOARDS);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.items.length, 10);
    assert.equal(health.json.loads, 1, "the requests answered 503 loading started no load of their own");
    const embed = await post(url, "/v1/embed", { texts: ["robots"] });
    assertError(embed, 501, "model_unavailable");
    assert.equal(embed.headers.get("retry-after"), null, "not a transient condition");
    const text = await post(url, "/v1/recommend", { boards: [{ name: "x", pins: [{ title: "robots in love" }, { id: "1" }] }] });
    assertError(text, 501, "model_unavailable");
    assert.match(text.json.error.message, /catalog items/);
    assert.equal(text.headers.get("retry-after"), null, "not a transient condition");
    // By code only: a bad request whose message quotes the word "encoder" (here an unknown field
    // of that name) stays a 400 on a deployment without the model.
    assertError(await post(url, "/v1/recommend", { boards: [{ name: "x", pins: ids("1") }], encoder: "on" }), 400, "invalid_input");
    // The wasm counts the pins it would embed before it looks for an encoder: over the limit is
    // 413 with or without the model.
    const many = { boards: [{ name: "x", pins: Array.from({ length: 33 }, (_, i) => ({ id: `no-such-${i}`, title: `robots ${i}` })) }] };
    assertError(await post(url, "/v1/recommend", many), 413, "limit_exceeded");
  });
});

test("a broken asset fails the load with 503 unavailable, and the next request tries again", async () => {
  const broken = truncatedCatalogAssets();
  try {
    await withWorker({ assetsDir: broken.dir }, async (url) => {
      for (let i = 0; i < 2; i++) {
        const health = await get(url, "/v1/health");
        assertError(health, 503, "unavailable");
        assert.equal(health.headers.get("retry-after"), "5");
        assertError(await post(url, "/v1/recommend", FIVE_BOARDS), 503, "unavailable");
      }
      // Client errors are still answered as such without a load: those found before the body
      // reaches the wasm (an empty body, the content type, the size). Unparseable JSON is not one
      // of them any more: the wasm parses the body (recommendJson), so "{" needs the load.
      assertError(await post(url, "/v1/recommend", ""), 400, "invalid_json");
      assertError(await post(url, "/v1/recommend", FIVE_BOARDS, { contentType: "text/plain" }), 415, "unsupported_media_type");
      // Once the asset is whole again, the next request loads it: a failed load is not cached.
      broken.repair();
      const ok = await post(url, "/v1/recommend", FIVE_BOARDS);
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json.items.length, 10);
      // Four failed loads (one per request that needed the service), then the one that worked.
      assert.equal((await get(url, "/v1/health")).json.loads, 5);
    });
  } finally {
    broken.cleanup();
  }
});

test("a corrupt model of the right size is refused by its checksum: 503 unavailable", async () => {
  const corrupt = corruptModelAssets();
  try {
    await withWorker({ assetsDir: corrupt.dir }, async (url) => {
      assertError(await get(url, "/v1/health"), 503, "unavailable");
      assertError(await post(url, "/v1/recommend", FIVE_BOARDS), 503, "unavailable");
    });
    // The same files with the model switched off load fine: the failure was the model's.
    await withWorker({ assetsDir: corrupt.dir, vars: { EDGEREC_MODEL: "off" } }, async (url) => {
      assert.equal((await post(url, "/v1/recommend", FIVE_BOARDS)).status, 200);
    });
  } finally {
    corrupt.cleanup();
  }
});

test("EDGEREC_MODEL=lite: the manifest's lite pair serves, text pins and /v1/embed included; an unknown value is 503 unavailable", async () => {
  await withWorker({ vars: { EDGEREC_MODEL: "lite" } }, async (url) => {
    const health = await get(url, "/v1/health");
    assert.equal(health.status, 200, health.text);
    assert.equal(health.json.model, "loaded");
    assert.equal(health.json.model_kind, "lite");
    assert.match(health.json.model_id, /^static-30522x240:/);
    assert.equal(health.json.catalog_model_id, health.json.model_id, "the lite catalog was embedded by the lite model");
    const res = await post(url, "/v1/recommend", { boards: [{ name: "Someday", pins: [{ id: "1" }, { title: "Astronauts stranded on Mars" }] }], k: 10 });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.embedded_texts, 1);
    assert.equal(res.json.items.length, 10);
    assert.ok(res.json.items.some((it) => it.reason.pin === "Astronauts stranded on Mars"), res.text);
    const emb = await post(url, "/v1/embed", { texts: ["cozy reading nook", "vegetarian pasta"] });
    assert.equal(emb.status, 200, emb.text);
    assert.equal(emb.json.dim, 240);
    assert.equal(emb.json.vectors.length, 2);
  });
  await withWorker({ vars: { EDGEREC_MODEL: "large" } }, async (url) => {
    assertError(await get(url, "/v1/health"), 503, "unavailable");
  });
});
