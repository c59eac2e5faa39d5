// The wasm Recommender on the real movielens catalog (built by `edgerec index` in
// scripts/test.sh) with the real encoder: round trips, reasons, typed errors.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repo, loadPkg, modelFiles, defaultModelDir } from "./helpers.mjs";

const catalogPath = process.env.EDGEREC_TEST_CATALOG || join(repo, ".cache", "assets", "movielens.bin");
let pkg, rec, catalog;

before(async () => {
  pkg = await loadPkg();
  catalog = new Uint8Array(readFileSync(catalogPath));
  rec = new pkg.Recommender(catalog, new pkg.Encoder(modelFiles(defaultModelDir())));
});

const pins = (...ids) => ids.map((id) => ({ id }));

test("recommends from catalog pins with reasons, never a saved item", () => {
  assert.equal(rec.items, 9742);
  const ctx = {
    boards: [
      { name: "Pixar night", pins: pins("1", "3114", "2355", "6377") }, // Toy Story 1/2, A Bug's Life, Finding Nemo
      { name: "Thrillers", pins: pins("296", "593") },
    ],
    target_board: "Pixar night",
    k: 8,
  };
  const out = rec.recommend(ctx);
  assert.equal(out.items.length, 8);
  assert.equal(out.embedded_texts, 0);
  assert.equal(out.model_id, rec.modelId);
  const saved = new Set(["1", "3114", "2355", "6377", "296", "593"]);
  for (const it of out.items) {
    assert.ok(!saved.has(it.id), `saved item ${it.id} recommended`);
    assert.equal(typeof it.title, "string");
    assert.ok(Number.isFinite(it.score));
    assert.ok(["co_saved", "similar", "board_name", "popular", "similar_boards"].includes(it.reason.signal));
    assert.ok(it.reason.text.length > 0);
  }
  assert.ok(out.items.some((it) => it.reason.signal === "co_saved" && it.reason.pin), JSON.stringify(out.items));
  for (let i = 1; i < out.items.length; i++) assert.ok(out.items[i - 1].score >= out.items[i].score);
});

test("free-text pins go through the encoder", () => {
  const out = rec.recommend({
    boards: [{ name: "saturday picks", pins: [{ title: "Astronauts stranded on Mars", tags: ["Sci-Fi", "space"] }] }],
    k: 5,
  });
  assert.equal(out.embedded_texts, 1);
  assert.equal(out.items.length, 5);
  assert.equal(out.items[0].reason.signal, "similar");
  assert.equal(out.items[0].reason.pin, "Astronauts stranded on Mars");
});

test("maxTextPins bounds the pins embedded on the fly, unknown ids with text included", () => {
  assert.equal(rec.maxTextPins, 256);
  rec.maxTextPins = 2;
  try {
    const pins = [{ title: "a heist" }, { id: "no-such-id", title: "a robbery" }, { id: null, title: "a caper" }];
    assert.throws(() => rec.recommend({ boards: [{ name: "b", pins }] }),
      (e) => e.code === "limit_exceeded" && /embedded on the fly \(text pins that are not catalog items\) up to boards\[0\]\.pins\[2\] is 3, the limit is 2/.test(e.message));
    assert.equal(rec.recommend({ boards: [{ name: "b", pins: pins.slice(0, 2) }] }).embedded_texts, 2);
    rec.maxTextPins = 10_000; // never above the built-in limit
    assert.equal(rec.maxTextPins, 256);
  } finally {
    rec.maxTextPins = 256;
  }
});

test("limits() states the limits the decoder enforces", () => {
  const limits = pkg.limits();
  assert.equal(typeof limits.field_bytes, "number");
  assert.equal(limits.text_pins, 256);
  // A title of exactly field_bytes UTF-8 bytes is taken; one byte more is refused by that name.
  const exact = "é".repeat(limits.field_bytes / 2);
  assert.equal(rec.recommend({ boards: [{ name: "b", pins: [{ id: "1" }, { title: exact }] }], k: 1 }).items.length, 1);
  assert.throws(() => rec.recommend({ boards: [{ name: "b", pins: [{ title: exact + "x" }] }] }),
    (e) => e.code === "limit_exceeded" && new RegExp(`the limit is ${limits.field_bytes}`).test(e.message));
  assert.throws(() => rec.recommend({ boards: [], k: limits.k + 1 }), (e) => e.code === "limit_exceeded" || e.code === "invalid_input");
});

test("a board named like other users' boards draws on them", () => {
  const out = rec.recommend({ boards: [{ name: "Space", pins: [] }], k: 3 });
  assert.equal(out.items[0].reason.signal, "board_name");
  assert.equal(out.items[0].reason.board, "Space");
});

test("bad requests are typed errors and the recommender keeps working", () => {
  const cases = [
    [{ boards: [] }, "invalid_input", /boards is empty/],
    [{}, "invalid_input", /board context/],
    [null, "invalid_input", /board context/],
    [{ boards: [{ name: "x", pins: "nope" }] }, "invalid_input", /board context/],
    [{ boards: [{ name: "x", pins: [{ id: 5 }] }] }, "invalid_input", /board context/],
    [{ boards: [{ name: "x", pins: [{ id: "1" }] }], kk: 3 }, "invalid_input", /unknown field/],
    [{ boards: [{ name: "x", pins: [{ title: "t".repeat(1 << 20) }] }] }, "limit_exceeded", /pins\[0\]\.title length in bytes/],
    [{ boards: [{ name: "x", pins: [{ id: "1", saved_at: NaN }] }] }, "invalid_input", /saved_at/],
    [{ boards: [{ name: "x", pins: Array.from({ length: 10000 }, () => ({ id: "1" })) }] }, "limit_exceeded", /boards\[0\]\.pins is 10000/],
    [{ boards: [{ name: "x", pins: [{ id: "1" }] }], k: 0 }, "invalid_input", /k must be at least 1/],
  ];
  for (const [ctx, code, message] of cases) {
    assert.throws(() => rec.recommend(ctx), (e) => e instanceof Error && e.code === code && message.test(e.message), `${code} ${message}`);
  }
  assert.equal(rec.recommend({ boards: [{ name: "x", pins: pins("1") }], k: 3 }).items.length, 3);
});

test("bad catalogs and another model's encoder are refused", () => {
  const attempts = [
    [catalog.subarray(0, catalog.length >> 1), "invalid_catalog", /truncated|checksum/],
    [new TextEncoder().encode("hello, not a catalog"), "invalid_catalog", /not an edgerec catalog/],
    ["catalog.bin", "invalid_input", /must be a Uint8Array/],
  ];
  for (const [bytes, code, message] of attempts) {
    assert.throws(() => new pkg.Recommender(bytes), (e) => e.code === code && message.test(e.message), code);
  }
  const files = modelFiles(defaultModelDir());
  const cfg = JSON.parse(new TextDecoder().decode(files.config));
  cfg.layer_norm_eps = 1e-6; // same shapes, another model
  const other = new pkg.Encoder({ ...files, config: new TextEncoder().encode(JSON.stringify(cfg)) });
  assert.throws(() => new pkg.Recommender(catalog, other), (e) => e.code === "model_mismatch");
  // Without an encoder, catalog pins work and text pins are a clear error.
  const bare = new pkg.Recommender(catalog);
  assert.equal(bare.recommend({ boards: [{ name: "x", pins: pins("1") }] }).items.length, 10);
  assert.throws(() => bare.recommend({ boards: [{ name: "x", pins: [{ title: "robots" }] }] }), (e) => /text encoder/.test(e.message));
  bare.free();
});
