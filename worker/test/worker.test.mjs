// The Worker in workerd (Miniflare), on the real catalog with the real edge model from dist/:
// recommendation and embedding round trips, every error code, a concurrent burst.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { PATIENT, startWorker, workerDir } from "../scripts/miniflare.mjs";
import { FIVE_BOARDS, get, ids, post } from "../scripts/client.mjs";
import { fullBuild } from "./gate.mjs";

fullBuild(); // the model and the relaxed-simd build: the tests below need both
let mf, url;

before(async () => {
  ({ mf, url } = await startWorker({ vars: PATIENT }));
});
after(async () => {
  await mf?.dispose();
});

const SIGNALS = ["co_saved", "similar", "board_name", "popular", "similar_boards"];

/** The body of an error: exactly { error: { code, message } }, and no stack trace in it. */
function assertError(res, status, code, message) {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers.get("content-type"), /^application\/json/);
  assert.deepEqual(Object.keys(res.json), ["error"], res.text);
  assert.deepEqual(Object.keys(res.json.error).sort(), ["code", "message"], res.text);
  assert.equal(res.json.error.code, code, res.text);
  assert.equal(typeof res.json.error.message, "string");
  assert.doesNotMatch(res.text, /\n\s+at |\.m?js:\d+|\.rs:\d+|wasm-function|RuntimeError/, "no stack traces");
  if (message) assert.match(res.json.error.message, message);
}

function assertRecommendations(json, k, saved) {
  assert.equal(json.items.length, k);
  assert.ok(Number.isInteger(json.cpu_ms) && json.cpu_ms >= 0, `cpu_ms ${json.cpu_ms}`);
  assert.ok(Number.isInteger(json.embedded_texts));
  for (const it of json.items) {
    assert.ok(!saved.has(it.id), `saved item ${it.id} recommended`);
    assert.equal(typeof it.title, "string");
    assert.ok(it.title.length > 0);
    assert.ok(Number.isFinite(it.score));
    assert.ok(SIGNALS.includes(it.reason.signal), it.reason.signal);
    assert.ok(it.reason.text.length > 0);
  }
  for (let i = 1; i < json.items.length; i++) assert.ok(json.items[i - 1].score >= json.items[i].score, "sorted by score");
}

/**
 * A board of two catalog pins and `n` pins the wasm must embed: by default a mix of the three
 * kinds (no id, `id: null`, an unknown id with a title); `"unknown"`: unknown ids only.
 */
function textPins(n, kind = "mixed") {
  const pin = (i) => {
    const title = `idea ${i}: a heist comedy set on a space station`;
    const k = kind === "unknown" ? 2 : i % 3;
    return k === 0 ? { title } : k === 1 ? { id: null, title } : { id: `no-such-movie-${i}`, title };
  };
  return { boards: [{ name: "x", pins: [...ids("1 2"), ...Array.from({ length: n }, (_, i) => pin(i))] }], k: 5 };
}

test("health: ids, versions, wasm memory", async () => {
  const res = await get(url, "/v1/health");
  assert.equal(res.status, 200, res.text);
  const h = res.json;
  assert.equal(h.status, "ok");
  assert.match(h.catalog_id, /^[0-9a-f]{16}$/);
  assert.equal(h.catalog_items, 9742);
  assert.match(h.catalog_model_id, /^bert-\d+x\d+-\w+:[0-9a-f]+$/);
  assert.match(h.versions.edgerec, /^\d+\.\d+\.\d+/);
  assert.equal(h.versions.worker, JSON.parse(readFileSync(join(workerDir, "package.json"), "utf8")).version);
  // The instruction set the running wasm reports (edgerec's isa()): the Worker ships relaxed-simd.
  assert.match(h.versions.wasm, /^wasm-relaxed-simd$/);
  assert.equal(h.versions.manifest, 2);
  assert.ok(h.memory.wasm_bytes > 10 * 1024 * 1024 && h.memory.wasm_bytes % 65536 === 0, String(h.memory.wasm_bytes));
  assert.ok(h.load_ms >= 0);
  assert.equal(h.loads, 1, "one load per isolate");
});

test("recommend: five boards of real catalog items, ranked with reasons, no encoder pass", async () => {
  const res = await post(url, "/v1/recommend", FIVE_BOARDS);
  assert.equal(res.status, 200, res.text);
  assert.match(res.headers.get("server-timing"), /^cpu;dur=\d+$/);
  const saved = new Set(FIVE_BOARDS.boards.flatMap((b) => b.pins.map((p) => p.id)));
  assertRecommendations(res.json, 10, saved);
  assert.equal(res.json.embedded_texts, 0);
  assert.equal(res.json.unknown_pins, 0);
  const health = (await get(url, "/v1/health")).json;
  assert.equal(res.json.catalog_id, health.catalog_id);
  // The target board is animation: the co-saved reasons name its pins.
  const coSaved = res.json.items.filter((it) => it.reason.signal === "co_saved");
  assert.ok(coSaved.length >= 3, JSON.stringify(res.json.items.map((i) => [i.title, i.reason.signal])));
  assert.ok(coSaved.every((it) => typeof it.reason.pin === "string" && it.reason.pin.length > 0));
});

test("recommend: k, exclude and unknown pins are honoured", async () => {
  const first = await post(url, "/v1/recommend", { boards: [{ name: "Pixar night", pins: ids("1 3114 2355") }], k: 5 });
  assert.equal(first.status, 200, first.text);
  const top = first.json.items[0].id;
  const res = await post(url, "/v1/recommend", {
    boards: [{ name: "Pixar night", pins: [...ids("1 3114 2355"), { id: "no-such-movie" }] }],
    k: 3,
    exclude: [top],
  });
  assert.equal(res.status, 200, res.text);
  assertRecommendations(res.json, 3, new Set(["1", "3114", "2355", top]));
  assert.equal(res.json.unknown_pins, 1);
});

test("errors: each has its status and stable code, without stack traces, and the service keeps working", async () => {
  const recommend = (body, opts) => post(url, "/v1/recommend", body, opts);
  const embed = (body, opts) => post(url, "/v1/embed", body, opts);
  const pins1 = { boards: [{ name: "x", pins: ids("1") }] };

  // 415: the body must be declared JSON.
  assertError(await recommend(pins1, { contentType: null }), 415, "unsupported_media_type");
  assertError(await recommend(JSON.stringify(pins1), { contentType: "text/plain" }), 415, "unsupported_media_type");
  assertError(await embed({ texts: ["a"] }, { contentType: "application/x-www-form-urlencoded" }), 415, "unsupported_media_type");
  assert.equal((await recommend(pins1, { contentType: "Application/JSON; charset=utf-8" })).status, 200);

  // 400: not JSON, not UTF-8, or not a valid request. /v1/recommend hands the body's text to the
  // wasm (recommendJson) without parsing it in JS first, so JSON the wasm cannot parse is its
  // invalid_input ("board context is not valid JSON: ..."), mapped by code like every wasm
  // error; an empty body and bytes that are not UTF-8 never reach the wasm: invalid_json.
  assertError(await recommend("{"), 400, "invalid_input", /not valid JSON/);
  assertError(await recommend(""), 400, "invalid_json", /empty/);
  assertError(await recommend(new Uint8Array([0x7b, 0xff, 0x7d])), 400, "invalid_json", /UTF-8/);
  assertError(await recommend([]), 400, "invalid_input", /board context/);
  assertError(await recommend({ boards: [] }), 400, "invalid_input", /boards is empty/);
  assertError(await recommend({ ...pins1, kk: 3 }), 400, "invalid_input", /unknown field/);
  assertError(await recommend({ ...pins1, k: 0 }), 400, "invalid_input", /k must be at least 1/);
  assertError(await recommend({ boards: [{ name: "x", pins: [{ id: 5 }] }] }), 400, "invalid_input");
  assertError(await embed("{"), 400, "invalid_json", /not valid JSON/);
  assertError(await embed(""), 400, "invalid_json", /empty/);
  assertError(await embed({ texts: "a" }), 400, "invalid_input", /non-empty array/);
  assertError(await embed({ texts: [] }), 400, "invalid_input", /non-empty array/);
  assertError(await embed({ texts: ["a", 2] }), 400, "invalid_input", /texts\[1\]/);
  assertError(await embed({ texts: ["a"], normalize: true }), 400, "invalid_input", /unknown field/);
  assertError(await embed(null), 400, "invalid_input");

  // 413: over the body limit (declared, or streamed without a length), or over a count limit.
  const big = JSON.stringify({ boards: [{ name: "x".repeat(1024 * 1024), pins: [] }] });
  assertError(await recommend(big), 413, "body_too_large", /1048576 byte limit/);
  const chunk = new TextEncoder().encode(" ".repeat(64 * 1024));
  assertError(await recommend(null, { chunks: Array.from({ length: 40 }, () => chunk) }), 413, "body_too_large"); // 2.5 MiB, chunked
  assertError(await embed({ texts: ["x".repeat(300 * 1024)] }), 413, "body_too_large", /262144 byte limit/);
  // Declared far too large: refused before the body is sent (only its first byte ever is).
  const declared = await new Promise((resolve, reject) => {
    const req = http.request(new URL("/v1/recommend", url), {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(50 * 1024 * 1024) },
    });
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        req.destroy();
        resolve({ status: res.statusCode, headers: new Headers(res.headers), text, json: JSON.parse(text) });
      });
    });
    req.on("error", reject);
    req.write("{");
  });
  assertError(declared, 413, "body_too_large");
  const tenThousand = { boards: [{ name: "x", pins: Array.from({ length: 10000 }, () => ({ id: "1" })) }] };
  // The wasm bounds the pins while it parses the text (recommendJson): it stops one past the
  // limit, so it names the limit it hit and a count of "at least" 5001, not the 10,000 sent.
  assertError(await recommend(tenThousand), 413, "limit_exceeded", /pins of a board \(at least\) is 5001, the limit is 5000/);
  assertError(await embed({ texts: Array.from({ length: 33 }, (_, i) => `t${i}`) }), 413, "limit_exceeded", /limit is 32/);
  // Pins the wasm would embed: no id, `id: null`, or an id that is not a catalog item, with text.
  // The wasm counts them (Recommender.maxTextPins = 32) before any encoder pass.
  assertError(await recommend(textPins(33)), 413, "limit_exceeded", /pins embedded on the fly.* is 33, the limit is 32/);
  assertError(await recommend(textPins(33, "unknown")), 413, "limit_exceeded", /is 33, the limit is 32/);

  // 404 / 405: unknown paths (the asset shards are not reachable by URL) and wrong methods.
  assertError(await get(url, "/"), 404, "not_found");
  assertError(await get(url, "/manifest.json"), 404, "not_found");
  const shard = JSON.parse(readFileSync(join(workerDir, "dist", "assets", "manifest.json"), "utf8")).catalog.shards[0].url;
  assertError(await get(url, `/${shard}`), 404, "not_found");
  const wrong = await get(url, "/v1/recommend");
  assertError(wrong, 405, "method_not_allowed");
  assert.equal(wrong.headers.get("allow"), "POST");
  assertError(await post(url, "/v1/health", {}), 405, "method_not_allowed");

  // Still serving.
  const ok = await recommend({ ...pins1, k: 3 });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.items.length, 3);
});

test("CORS: preflight and headers", async () => {
  const res = await get(url, "/v1/recommend", { method: "OPTIONS", headers: { origin: "http://example.test", "access-control-request-method": "POST" } });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.match(res.headers.get("access-control-allow-methods"), /POST/);
});

test("CORS_ORIGINS: a list of origins lets those pages only; none sends no CORS headers", async () => {
  const listed = await startWorker({ vars: { ...PATIENT, CORS_ORIGINS: "https://shop.example, https://WWW.shop.example/" } });
  const none = await startWorker({ vars: { ...PATIENT, CORS_ORIGINS: "none" } });
  try {
    const from = (origin, method = "GET", path = "/v1/nope") => get(listed.url, path, { method, headers: { origin } });
    for (const origin of ["https://shop.example", "https://www.shop.example"]) {
      const pre = await from(origin, "OPTIONS", "/v1/recommend");
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get("access-control-allow-origin"), origin);
      assert.match(pre.headers.get("vary") ?? "", /Origin/);
      // Errors carry them too (a page must be able to read why).
      const err = await from(origin);
      assert.equal(err.status, 404);
      assert.equal(err.headers.get("access-control-allow-origin"), origin);
    }
    const other = await from("https://evil.example", "OPTIONS", "/v1/recommend");
    assert.equal(other.headers.get("access-control-allow-origin"), null);
    assert.match(other.headers.get("vary") ?? "", /Origin/);
    const off = await get(none.url, "/v1/recommend", { method: "OPTIONS", headers: { origin: "https://shop.example" } });
    assert.equal(off.headers.get("access-control-allow-origin"), null);
    assert.equal(off.headers.get("access-control-allow-methods"), null);
  } finally {
    await listed.mf.dispose();
    await none.mf.dispose();
  }
});

test("a concurrent burst of 48 requests (8 different contexts) each gets its own right answer", async () => {
  const contexts = FIVE_BOARDS.boards.map((b, i) => ({ boards: [b], k: 5 + i }));
  contexts.push(FIVE_BOARDS, { ...FIVE_BOARDS, target_board: "Space", k: 20 }, { ...FIVE_BOARDS, diversity: 0.5 });
  const expected = [];
  for (const c of contexts) {
    const res = await post(url, "/v1/recommend", c);
    assert.equal(res.status, 200, res.text);
    expected.push(res.json.items);
  }
  const order = Array.from({ length: 48 }, (_, i) => i % contexts.length);
  const answers = await Promise.all(order.map((i) => post(url, "/v1/recommend", contexts[i])));
  answers.forEach((res, n) => {
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.items, expected[order[n]], `request ${n} (context ${order[n]})`);
  });
  assert.notDeepEqual(expected[0], expected[1]);
});

// ---- with the edge model ---------------------------------------------------------------------

test("the edge model is deployed and loaded", async () => {
  const h = (await get(url, "/v1/health")).json;
  assert.equal(h.model, "loaded", JSON.stringify(h));
  // The edge model's own id (int8), accepted for a catalog made by the model it was quantized from.
  assert.match(h.model_id, /^bert-\d+x\d+-\w+(-int8)?:[0-9a-f]+$/);
  assert.notEqual(h.model_id, h.catalog_model_id, "the edge model reports its own id");
});

test("embed: unit vectors of the model's dimension that match sentence-transformers", async (t) => {
  const corpus = JSON.parse(readFileSync(join(workerDir, "..", "tests", "golden", "corpus.json"), "utf8"));
  const goldBuf = readFileSync(join(workerDir, "..", "tests", "golden", "embeddings.f32"));
  const gold = new Float32Array(goldBuf.buffer.slice(goldBuf.byteOffset, goldBuf.byteOffset + goldBuf.byteLength));
  const dim = gold.length / corpus.length;
  const picks = [0, 1, 2, 3, 4, 10, 20, 40, 80, 120, 160, 200].filter((i) => i < corpus.length && corpus[i].length > 0);
  const res = await post(url, "/v1/embed", { texts: picks.map((i) => corpus[i]) });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.embedded_texts, picks.length);
  assert.equal(res.json.model_id, (await get(url, "/v1/health")).json.model_id);
  assert.equal(res.json.dim, dim);
  assert.equal(res.json.vectors.length, picks.length);
  let minCos = 1;
  res.json.vectors.forEach((v, n) => {
    assert.equal(v.length, dim);
    const norm = Math.hypot(...v);
    assert.ok(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
    const g = gold.subarray(picks[n] * dim, (picks[n] + 1) * dim);
    minCos = Math.min(minCos, v.reduce((s, x, j) => s + x * g[j], 0));
  });
  t.diagnostic(`min cosine to sentence-transformers (f32) over ${picks.length} texts: ${minCos.toFixed(4)}`);
  assert.ok(minCos > 0.95, `min cosine to the f32 reference ${minCos}`);
  // Meaning: two phrasings of one idea are closer than an unrelated text.
  const three = await post(url, "/v1/embed", { texts: ["astronauts exploring outer space", "a space mission to Mars", "creamy vegetarian pasta recipe"] });
  const [a, b, c] = three.json.vectors;
  const dot = (x, y) => x.reduce((s, v, i) => s + v * y[i], 0);
  assert.ok(dot(a, b) > dot(a, c) + 0.2, `${dot(a, b)} vs ${dot(a, c)}`);
});

test("recommend: free-text pins are embedded on the fly and counted", async () => {
  const res = await post(url, "/v1/recommend", {
    boards: [
      { name: "Someday", pins: [{ title: "Astronauts stranded on Mars", tags: ["Sci-Fi", "space"] }] },
      { name: "Pixar night", pins: ids("1 3114") },
    ],
    target_board: "Someday",
    k: 5,
  });
  assert.equal(res.status, 200, res.text);
  assertRecommendations(res.json, 5, new Set(["1", "3114"]));
  assert.equal(res.json.embedded_texts, 1);
  assert.equal(res.json.items[0].reason.signal, "similar");
  assert.equal(res.json.items[0].reason.pin, "Astronauts stranded on Mars");
});

test("recommend: up to 32 pins embedded per request (no id, id: null, unknown ids with text)", async (t) => {
  const t0 = Date.now();
  const res = await post(url, "/v1/recommend", textPins(32));
  t.diagnostic(`32 text pins: ${Date.now() - t0} ms`);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.embedded_texts, 32);
  assert.equal(res.json.unknown_pins, 0, "an unknown id with a title is embedded, not dropped");
  assertRecommendations(res.json, 5, new Set(["1", "2"]));
  const over = await post(url, "/v1/recommend", textPins(33, "unknown"));
  assertError(over, 413, "limit_exceeded", /is 33, the limit is 32/);
});
