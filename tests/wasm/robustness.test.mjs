// Robustness of the wasm package against hostile input: random board contexts (wrong types,
// huge arrays, deep nesting, cycles, NaN, unknown fields, long strings), random JSON texts,
// mutated catalog and edge bundles. Every failure must be a JS Error with a known string `code`
// (never a RuntimeError or RangeError, which mean the instance trapped), and after each hostile
// call the same instance must still answer a good request exactly as it did at the start.
//
// Run: node_modules/.bin/node --test tests/wasm/robustness.test.mjs  (Node 22; about 1–2 min)
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { repo, edgeBundlePath, catalogPath, wasmBytesOf } from "./helpers.mjs";

const CONTEXT_CODES = new Set(["invalid_input", "limit_exceeded"]);
/** A recommender without an encoder also refuses text pins. */
const NO_ENCODER_CODES = new Set([...CONTEXT_CODES, "encoder_unavailable"]);
const CATALOG_CODES = new Set(["invalid_catalog", "model_mismatch"]);
const MODEL_CODES = new Set(["invalid_model", "invalid_tokenizer"]);
const EMBED_CODES = new Set(["invalid_input", "limit_exceeded", "inference_failed"]);

const GOOD = {
  boards: [
    { name: "Pixar night", pins: [{ id: "1" }, { id: "3114" }, { id: "2355" }, { id: "6377" }] },
    { name: "Thrillers", pins: [{ id: "296" }, { id: "593" }] },
  ],
  target_board: "Pixar night",
  k: 10,
};
const GOOD_TEXT = { boards: [{ name: "saturday picks", pins: [{ title: "Astronauts stranded on Mars", tags: ["Sci-Fi", "space"] }] }], k: 5 };
const CATALOG_IDS = ["1", "2", "3", "32", "47", "50", "110", "260", "296", "318", "356", "480", "527", "589", "593", "1196", "2355", "2571", "3114", "6377", "no-such-id"];

let catalog, edgeFile;

before(() => {
  catalog = new Uint8Array(readFileSync(catalogPath()));
  edgeFile = new Uint8Array(readFileSync(edgeBundlePath()));
});

const ids = (out) => out.items.map((it) => it.id);

/** A fresh instance of pkg/ (its own linear memory), sharing one compiled module. */
let wasmModule, instances = 0;
async function loadInstance() {
  const wasmPath = join(repo, "pkg", "edgerec_bg.wasm");
  if (!existsSync(wasmPath)) throw new Error("pkg/ is missing: run scripts/build-wasm.sh");
  wasmModule ??= new WebAssembly.Module(readFileSync(wasmPath));
  const pkg = await import(`${pathToFileURL(join(repo, "pkg", "edgerec.js")).href}?robustness-${instances++}`);
  const exports = pkg.initSync({ module: wasmModule });
  return { pkg, memoryBytes: () => exports.memory.buffer.byteLength };
}

/** A fresh instance with a Recommender (and the edge encoder) and its reference answers. */
async function fresh({ encoder = true } = {}) {
  const { pkg, memoryBytes } = await loadInstance();
  const enc = encoder ? pkg.Encoder.fromEdgeBundle(wasmBytesOf(pkg, edgeBundlePath())) : undefined;
  const rec = new pkg.Recommender(catalog, enc);
  const inst = { pkg, rec, memoryBytes, encoder, codes: encoder ? CONTEXT_CODES : NO_ENCODER_CODES };
  inst.ref = ids(rec.recommend(GOOD));
  assert.equal(inst.ref.length, 10);
  if (encoder) inst.refText = ids(rec.recommend(GOOD_TEXT));
  return inst;
}

function describe(e) {
  if (!(e instanceof Error)) return `a thrown non-Error ${typeof e}: ${String(e).slice(0, 200)}`;
  return `${e.constructor?.name ?? "Error"}${e.code !== undefined ? ` [code ${JSON.stringify(e.code)}]` : " [no code]"}: ${String(e.message).slice(0, 300)}`;
}

function assertTyped(e, codes, label) {
  assert.ok(e instanceof Error, `${label}: ${describe(e)}`);
  assert.ok(!(e instanceof WebAssembly.RuntimeError), `${label}: the instance trapped: ${describe(e)}`);
  assert.ok(!(e instanceof RangeError), `${label}: ${describe(e)}`);
  assert.equal(typeof e.code, "string", `${label}: an Error without a string code: ${describe(e)}`);
  assert.ok(codes.has(e.code), `${label}: code ${e.code} is not one of ${[...codes]}: ${describe(e)}`);
}

/** The same instance must still answer the good request(s) exactly as at the start. */
function stillGood(inst, label, { text = false, json = false } = {}) {
  const check = (name, call, want) => {
    let out;
    try {
      out = call();
    } catch (e) {
      assert.fail(`${label}: afterwards, the good ${name} request threw ${describe(e)}`);
    }
    assert.deepEqual(ids(out), want, `${label}: afterwards, the good ${name} request answered other ids`);
  };
  check("catalog-pin", () => inst.rec.recommend(GOOD), inst.ref);
  if (text && inst.encoder) check("text-pin", () => inst.rec.recommend(GOOD_TEXT), inst.refText);
  if (json) check("recommendJson", () => jsonResult(inst.rec.recommendJson(JSON.stringify(GOOD))), inst.ref);
}

/** Runs a hostile call: it may succeed, or throw a typed error in `codes`. A recommend call's
 * answer (`opts.answer`) must have the right shape. */
function hostile(inst, call, codes, label, opts = {}) {
  let out;
  try {
    out = call();
  } catch (e) {
    assertTyped(e, codes, label);
  }
  if (out !== undefined && opts.answer) assert.ok(Array.isArray(out?.items), `${label}: answered without an items array`);
  stillGood(inst, label, opts);
  return out;
}

const jsonResult = (out) => (typeof out === "string" ? JSON.parse(out) : out);

// ----- a seeded PRNG and random values ---------------------------------------------------------

function prng(seed) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    pick: (a) => a[Math.floor(next() * a.length)],
  };
  return r;
}

function deep(kind, n, leaf = "x") {
  let v = leaf;
  for (let i = 0; i < n; i++) v = kind === "array" ? [v] : { a: v };
  return v;
}

function cyclic(kind) {
  if (kind === "array") {
    const a = [1];
    a.push(a);
    return a;
  }
  const o = { id: "1" };
  o.self = o;
  return o;
}

function stringOf(r, bytes) {
  const ch = r.pick(["a", "é", "東", "🚀"]);
  const unit = new TextEncoder().encode(ch).length;
  return ch.repeat(Math.floor(bytes / unit)) + "a".repeat(bytes % unit);
}

const HUGE = {
  pins: Array.from({ length: 100_000 }, (_, i) => ({ id: CATALOG_IDS[i % CATALOG_IDS.length] })),
  strings: Array.from({ length: 100_000 }, (_, i) => `id-${i}`),
  boards: Array.from({ length: 100_000 }, () => ({ name: "b", pins: [] })),
};

const WEIRD = () => [
  undefined, null, true, false, 0, -0, 1, -1, 1.5, 2 ** 53 + 2, 2 ** 64, -(2 ** 63), 1e308, NaN, Infinity, -Infinity,
  "", " ", "1", "NaN", "\u0000", "\ud800", "🚀", [], {}, [1, 2], { id: "1" }, 10n, -1n, 2n ** 70n, Symbol("s"),
  () => 1, new Date(0), new Map([["id", "1"]]), new Set([1]), new Uint8Array(4), new Float64Array([NaN]),
  Object.create(null), new String("boxed"), new Number(5), /re/, new Error("an error as a value"),
];

/** A random value of any type, nested a little. */
function junk(r, depth = 0) {
  switch (r.int(8)) {
    case 0:
    case 1:
    case 2:
      return r.pick(WEIRD());
    case 3:
      return r.pick(CATALOG_IDS);
    case 4:
      return depth < 3 ? Array.from({ length: r.int(4) }, () => junk(r, depth + 1)) : [];
    case 5:
      if (depth >= 3) return {};
      return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(KEYS), junk(r, depth + 1)]));
    case 6:
      return stringOf(r, r.pick([4095, 4096, 4097, 10, 70_000]));
    default:
      return r.int(1000) - 5;
  }
}

const KEYS = ["boards", "name", "pins", "id", "title", "description", "tags", "saved_at", "target_board", "k", "exclude", "diversity", "recency_half_life", "kk", "__proto__", "constructor", "", "é"];

/** One attack placed somewhere in a context. */
const ATTACKS = {
  deepArray: () => deep("array", 5000),
  deepObject: () => deep("object", 5000),
  cyclicObject: () => cyclic("object"),
  cyclicArray: () => cyclic("array"),
  hugePins: () => HUGE.pins,
  hugeStrings: () => HUGE.strings,
  longString: (r) => stringOf(r, r.pick([4097, 1 << 20])),
  nonFinite: (r) => r.pick([NaN, Infinity, -Infinity]),
};

function pinOf(r, attack) {
  const p = {};
  if (r.chance(0.8)) p.id = r.chance(0.85) ? r.pick(CATALOG_IDS) : junk(r);
  if (r.chance(0.05)) p.title = r.chance(0.8) ? r.pick(["space", "a heist", "robots in love"]) : junk(r);
  if (r.chance(0.05)) p.description = junk(r);
  if (r.chance(0.15)) p.tags = r.chance(0.7) ? [r.pick(["Sci-Fi", "drama", ""])] : junk(r);
  if (r.chance(0.2)) p.saved_at = r.chance(0.6) ? r.int(1e9) : junk(r);
  if (r.chance(0.03)) p[r.pick(KEYS)] = junk(r);
  if (attack) p[r.pick(["id", "title", "description", "tags", "saved_at", "extra"])] = r.chance(0.5) || attack === ATTACKS.hugePins ? attack(r) : [attack(r)];
  return p;
}

/** A context-shaped value with wrong types here and there, and at most one attack somewhere. */
function randomContext(r) {
  const names = Object.keys(ATTACKS);
  // Huge arrays are rare (each costs a few hundred ms); the others are common.
  let attackName = null;
  if (r.chance(0.35)) {
    attackName = r.pick(names);
    if (attackName.startsWith("huge") && !r.chance(0.08)) attackName = r.pick(["deepArray", "deepObject", "cyclicObject", "cyclicArray", "nonFinite"]);
  }
  const attack = attackName && ATTACKS[attackName];
  // Where the attack goes: 0 top-level field, 1 a board field, 2 a pin field, 3 a list element.
  const where = r.int(4);
  const boards = Array.from({ length: 1 + r.int(3) }, (_, b) => {
    const board = {};
    if (r.chance(0.95)) board.name = r.chance(0.9) ? r.pick(["Pixar night", "Thrillers", "Space", "", `b${b}`]) : junk(r);
    if (r.chance(0.95)) board.pins = r.chance(0.95) ? Array.from({ length: r.int(6) }, () => pinOf(r, null)) : junk(r);
    if (r.chance(0.03)) board[r.pick(KEYS)] = junk(r);
    return board;
  });
  const ctx = { boards: r.chance(0.97) ? boards : junk(r) };
  if (r.chance(0.2)) ctx.target_board = r.chance(0.7) ? r.pick(["Pixar night", "Thrillers", "nope"]) : junk(r);
  if (r.chance(0.3)) ctx.k = r.chance(0.6) ? r.int(600) - 5 : junk(r);
  if (r.chance(0.15)) ctx.exclude = r.chance(0.7) ? [r.pick(CATALOG_IDS)] : junk(r);
  if (r.chance(0.15)) ctx.diversity = r.chance(0.6) ? r.next() * 1.4 - 0.2 : junk(r);
  if (r.chance(0.15)) ctx.recency_half_life = r.chance(0.6) ? r.next() * 20 - 2 : junk(r);
  if (r.chance(0.04)) ctx[r.pick(KEYS)] = junk(r);
  if (attack) {
    const objects = Array.isArray(ctx.boards) ? ctx.boards.filter((b) => b !== null && typeof b === "object") : [];
    const board = objects.length ? objects[r.int(objects.length)] : null;
    if (where === 0 || !board) ctx[r.pick(["boards", "exclude", "k", "target_board", "diversity", "extra"])] = attack(r);
    else if (where === 1) board[r.pick(["name", "pins", "extra"])] = attack(r);
    else if (where === 2) {
      if (!Array.isArray(board.pins)) board.pins = [];
      board.pins.push(pinOf(r, attack));
    } else {
      if (!Array.isArray(board.pins)) board.pins = [];
      board.pins.push(attack(r));
    }
  }
  return { ctx, attackName, where };
}

/** JSON text of a random context (cycles cut, BigInt and Symbol as strings). */
function toJsonText(value) {
  const seen = new WeakSet();
  return JSON.stringify(value, function (k, v) {
    if (typeof v === "bigint" || typeof v === "symbol") return String(v);
    if (v && typeof v === "object") {
      if (seen.has(v)) return "[cycle]";
      seen.add(v);
    }
    return v;
  });
}

function mutateText(r, text) {
  const pieces = ["{", "}", "[", "]", ",", ":", '"', "\\", "null", "1e999", "-", "NaN", "Infinity", "\\u0000", "\\ud800", "\ud800", "\u0000", "é", "🚀", '"k":1,', '"boards":', '"pins":[', '"id":', '"tags":[', "99999999999999999999999", "[[[[[[[[", '{"a":{"a":', "\ufeff", "//", "/*"];
  let s = text;
  for (let n = 1 + r.int(5); n > 0; n--) {
    const at = r.int(s.length + 1);
    switch (r.int(4)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + 1 + r.int(16));
        break;
      case 1:
        s = s.slice(0, at) + r.pick(pieces) + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at) + String.fromCharCode(r.int(0x10000)) + s.slice(at + 1);
        break;
      default: {
        const from = r.int(s.length + 1);
        s = s.slice(0, at) + s.slice(from, from + 1 + r.int(32)) + s.slice(at);
      }
    }
  }
  return s;
}

// ----- XXH3-128 (the bundles' trailer), to reseal mutated bundles ------------------------------
// A port of the long-input path of xxh3_128 (inputs > 240 bytes), in 32-bit halves. Checked at
// the start against the trailers of the real bundles.

const SECRET = new Uint8Array([
  0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
  0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
  0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
  0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
  0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
  0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
  0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
  0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
  0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
  0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
  0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
  0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
]);
const SDV = new DataView(SECRET.buffer);
const words = (from, n) => Uint32Array.from({ length: n }, (_, i) => SDV.getUint32(from + 4 * i, true));
const S_STRIPES = words(0, 48);
const S_SCRAMBLE = words(128, 16);
const S_LAST = words(121, 16);
const P32_1 = 0x9e3779b1;
const INIT_ACC = Uint32Array.from([
  0xc2b2ae3d, 0, 0x85ebca87, 0x9e3779b1, 0x27d4eb4f, 0xc2b2ae3d, 0x9e3779f9, 0x165667b1,
  0xc2b2ae63, 0x85ebca77, 0x85ebca77, 0, 0x165667c5, 0x27d4eb2f, 0x9e3779b1, 0,
]);
const BLOCK = 1024;
let mulLo = 0, mulHi = 0;
function mul32(a, b) {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const mid = a0 * b1 + a1 * b0;
  const lo = a0 * b0 + (mid % 65536) * 65536;
  mulLo = lo >>> 0;
  mulHi = (a1 * b1 + Math.floor(mid / 65536) + (lo >= 4294967296 ? 1 : 0)) >>> 0;
}
function accumulate(acc, dv, off, sec, soff) {
  for (let i = 0; i < 8; i++) {
    const vlo = dv.getUint32(off + 8 * i, true), vhi = dv.getUint32(off + 8 * i + 4, true);
    const j = (i ^ 1) * 2;
    let lo = acc[j] + vlo;
    acc[j] = lo;
    acc[j + 1] = acc[j + 1] + vhi + (lo >= 4294967296 ? 1 : 0);
    mul32((vlo ^ sec[soff + 2 * i]) >>> 0, (vhi ^ sec[soff + 2 * i + 1]) >>> 0);
    lo = acc[2 * i] + mulLo;
    acc[2 * i] = lo;
    acc[2 * i + 1] = acc[2 * i + 1] + mulHi + (lo >= 4294967296 ? 1 : 0);
  }
}
function scramble(acc) {
  for (let i = 0; i < 8; i++) {
    let lo = acc[2 * i], hi = acc[2 * i + 1];
    lo = (lo ^ (hi >>> 15) ^ S_SCRAMBLE[2 * i]) >>> 0;
    hi = (hi ^ S_SCRAMBLE[2 * i + 1]) >>> 0;
    mul32(lo, P32_1);
    acc[2 * i] = mulLo;
    acc[2 * i + 1] = mulHi + Math.imul(hi, P32_1);
  }
}
const M64 = (1n << 64n) - 1n;
const big = (acc, i) => BigInt(acc[2 * i]) | (BigInt(acc[2 * i + 1]) << 32n);
const secret64 = (off) => BigInt(SDV.getUint32(off, true)) | (BigInt(SDV.getUint32(off + 4, true)) << 32n);
function merge(acc, soff, start) {
  let r = start;
  for (let i = 0; i < 4; i++) {
    const p = (big(acc, 2 * i) ^ secret64(soff + 16 * i)) * (big(acc, 2 * i + 1) ^ secret64(soff + 16 * i + 8));
    r = (r + ((p & M64) ^ (p >> 64n))) & M64;
  }
  r ^= r >> 37n;
  r = (r * 0x165667919e3779f9n) & M64;
  return r ^ (r >> 32n);
}

/** Hashes `input` (> 240 bytes); `from` = { block, acc } resumes after that many 1 KiB blocks. */
function xxh3_128(input, from = null, checkpoints = null) {
  const len = input.length;
  assert.ok(len > 240, "the JS xxh3 port covers inputs over 240 bytes only");
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const acc = Uint32Array.from(from ? from.acc : INIT_ACC);
  const nbBlocks = Math.floor((len - 1) / BLOCK);
  for (let n = from ? from.block : 0; n < nbBlocks; n++) {
    for (let s = 0; s < 16; s++) accumulate(acc, dv, n * BLOCK + s * 64, S_STRIPES, 2 * s);
    scramble(acc);
    if (checkpoints && (n + 1) % 64 === 0) checkpoints.set(n + 1, Uint32Array.from(acc));
  }
  const stripes = Math.floor((len - 1 - BLOCK * nbBlocks) / 64);
  for (let s = 0; s < stripes; s++) accumulate(acc, dv, nbBlocks * BLOCK + s * 64, S_STRIPES, 2 * s);
  accumulate(acc, dv, len - 64, S_LAST, 0);
  const lo = merge(acc, 11, (BigInt(len) * 0x9e3779b185ebca87n) & M64);
  const hi = merge(acc, 192 - 64 - 11, ~(BigInt(len) * 0xc2b2ae3d27d4eb4fn) & M64);
  const out = new Uint8Array(16);
  const odv = new DataView(out.buffer);
  odv.setBigUint64(0, lo, true);
  odv.setBigUint64(8, hi, true);
  return out;
}

/** Reseals bundles derived from `file`, rehashing only from the first changed 64 KiB. */
class Sealer {
  constructor(file) {
    this.body = file.subarray(0, file.length - 16);
    this.checkpoints = new Map();
    const digest = xxh3_128(this.body, null, this.checkpoints);
    assert.deepEqual(digest, file.subarray(file.length - 16), "the JS XXH3-128 port does not reproduce the bundle's trailer");
  }
  /** `body` (without trailer) + its digest; `changedAt`: its first byte that differs from the original. */
  seal(body, changedAt = 0) {
    const nbBlocks = Math.floor((body.length - 1) / BLOCK);
    let block = Math.min(Math.floor(changedAt / BLOCK), nbBlocks);
    block -= block % 64;
    while (block > 0 && !this.checkpoints.has(block)) block -= 64;
    const from = block > 0 ? { block, acc: this.checkpoints.get(block) } : null;
    const out = new Uint8Array(body.length + 16);
    out.set(body);
    out.set(xxh3_128(body, from), body.length);
    return out;
  }
}

// ----- tests -------------------------------------------------------------------------------------

test("3,000 random board contexts on ONE instance, each followed by the good request", async () => {
  const inst = await fresh();
  const r = prng(0xed6e2ec);
  const counts = {};
  const t0 = Date.now();
  for (let i = 0; i < 3000; i++) {
    const { ctx, attackName, where } = randomContext(r);
    const label = `random context #${i} (attack ${attackName ?? "none"} at place ${where})`;
    try {
      let out;
      try {
        out = inst.rec.recommend(ctx);
      } catch (e) {
        assertTyped(e, CONTEXT_CODES, label);
        counts[e.code] = (counts[e.code] ?? 0) + 1;
      }
      if (out !== undefined) {
        assert.ok(Array.isArray(out.items), `${label}: answered without an items array`);
        counts.ok = (counts.ok ?? 0) + 1;
      }
      stillGood(inst, label, { text: i % 100 === 0 });
    } catch (failure) {
      failure.message += `\n  the context (as JSON, cycles cut, first 400 chars): ${toJsonText(ctx)?.slice(0, 400)}`;
      throw failure;
    }
  }
  console.log(`random contexts: ${JSON.stringify(counts)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

// One attack per test, each on its own fresh instance, so that every kind of input that breaks
// an instance is reported on its own.
const PLACES = {
  "a pin's tags": (v) => ({ boards: [{ name: "x", pins: [{ id: "1", tags: v }] }] }),
  "a pin's tags[0]": (v) => ({ boards: [{ name: "x", pins: [{ id: "1", tags: [v] }] }] }),
  "a pin's id": (v) => ({ boards: [{ name: "x", pins: [{ id: v }] }] }),
  "a pin": (v) => ({ boards: [{ name: "x", pins: [v] }] }),
  "a board's pins": (v) => ({ boards: [{ name: "x", pins: v }] }),
  "a board's name": (v) => ({ boards: [{ name: v, pins: [{ id: "1" }] }] }),
  boards: (v) => ({ boards: v }),
  exclude: (v) => ({ boards: [{ name: "x", pins: [{ id: "1" }] }], exclude: v }),
  "an unknown top-level field": (v) => ({ boards: [{ name: "x", pins: [{ id: "1" }] }], extra: v }),
  "an unknown pin field": (v) => ({ boards: [{ name: "x", pins: [{ id: "1", extra: v }] }] }),
  "the context itself": (v) => v,
};

const CATEGORIES = {
  "5,000 levels of nested arrays": () => [deep("array", 5000)],
  "5,000 levels of nested objects": () => [deep("object", 5000)],
  "20,000 and 100,000 levels of nested arrays": () => [deep("array", 20_000), deep("array", 100_000)],
  "a cyclic object": () => [cyclic("object")],
  "a cyclic array": () => [cyclic("array")],
  "NaN / ±Infinity / -0 / 2^64 / BigInt": () => [NaN, Infinity, -Infinity, -0, 2 ** 64, 10n, -1n],
  "long strings (4,097 B and 1 MiB)": () => [stringOf(prng(1), 4097), "x".repeat(1 << 20)],
  "odd JS values (Symbol, function, Map, Date, typed array, boxed, null-prototype)": () => [Symbol("s"), () => 1, new Map([["id", "1"]]), new Date(0), new Uint8Array(3), new String("1"), Object.create(null)],
};

for (const [name, make] of Object.entries(CATEGORIES)) {
  test(`${name}, in every place of a context: typed errors, the instance keeps working`, async () => {
    const inst = await fresh({ encoder: false });
    for (const [place, wrap] of Object.entries(PLACES)) {
      for (const v of make()) {
        hostile(inst, () => inst.rec.recommend(wrap(v)), inst.codes, `${name} in ${place}`, { answer: true });
      }
    }
  });
}

/** Hostile JS objects, built in the worker that runs them (Proxies and getters do not cross
 * threads). Self-contained: it is sent to the worker as source text. An exception the caller's
 * own getter or trap threw (marked OWN) may come back as it is; anything else must be typed. */
function hostileCases(OWN) {
  const own = (E, message) => Object.assign(new E(message), { [OWN]: true });
  const ok = { boards: [{ name: "x", pins: [{ id: "1" }] }] };
  const throwing = (key) => Object.defineProperty({ ...ok }, key, { get() { throw own(Error, "a getter threw"); }, enumerable: true });
  const pinGetter = Object.defineProperty({}, "id", { get() { throw own(TypeError, "a pin getter threw"); }, enumerable: true });
  const proxy = new Proxy({}, { get() { throw own(Error, "proxy get"); }, ownKeys() { throw own(Error, "proxy ownKeys"); } });
  const lying = (n) => new Proxy([], { get(t, k) { return k === "length" ? n : { id: "1" }; } });
  const sparse = (n) => { const a = []; a.length = n; return a; };
  let reads = 0;
  const counting = new Proxy({ boards: [{ name: "x", pins: [{ id: "1" }] }] }, { get(t, k, r) { reads++; return Reflect.get(t, k, r); } });
  return {
    "a throwing getter on boards": throwing("boards"),
    "a throwing getter on k": throwing("k"),
    "a throwing getter on a pin's id": { boards: [{ name: "x", pins: [pinGetter] }] },
    "a Proxy with throwing traps as the context": proxy,
    "a Proxy with throwing traps as a pin": { boards: [{ name: "x", pins: [proxy] }] },
    "a Proxy array claiming 1e6 elements as pins": { boards: [{ name: "x", pins: lying(1e6) }] },
    "a Proxy array claiming 2^32-1 elements as pins": { boards: [{ name: "x", pins: lying(2 ** 32 - 1) }] },
    "a Proxy array claiming 2^32-1 elements as tags": { boards: [{ name: "x", pins: [{ id: "1", tags: lying(2 ** 32 - 1) }] }] },
    "a sparse array of length 1,000,000 as pins": { boards: [{ name: "x", pins: sparse(1_000_000) }] },
    "a sparse array of length 2^32-1 as exclude": { ...ok, exclude: sparse(2 ** 32 - 1) },
    "a frozen context": Object.freeze({ boards: Object.freeze([{ name: "x", pins: [{ id: "1" }] }]) }),
    "a Proxy that only counts reads": counting,
  };
}

const HOSTILE_WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { readFileSync } = require("node:fs");
(async () => {
  const pkg = await import(workerData.glue);
  pkg.initSync({ module: new WebAssembly.Module(readFileSync(workerData.wasm)) });
  const rec = new pkg.Recommender(new Uint8Array(readFileSync(workerData.catalog)));
  const GOOD = ${JSON.stringify(GOOD)};
  const ids = (out) => out.items.map((it) => it.id).join(",");
  const ref = ids(rec.recommend(GOOD));
  const OWN = Symbol("own");
  const cases = (${hostileCases.toString()})(OWN);
  const describe = (e) => ({ isError: e instanceof Error, ctor: e?.constructor?.name, code: e?.code, message: String(e?.message ?? e).slice(0, 300), own: !!(e && e[OWN]),
    trap: e instanceof WebAssembly.RuntimeError, range: e instanceof RangeError });
  for (const [label, ctx] of Object.entries(cases)) {
    if (workerData.skip.includes(label)) continue;
    parentPort.postMessage({ start: label });
    const t0 = Date.now();
    let error = null, answered = false;
    try { const out = rec.recommend(ctx); answered = Array.isArray(out?.items); } catch (e) { error = describe(e); }
    let good = null;
    try { good = ids(rec.recommend(GOOD)) === ref ? "same" : "other ids"; } catch (e) { good = describe(e); }
    parentPort.postMessage({ label, error, answered, good, ms: Date.now() - t0 });
  }
  parentPort.postMessage({ done: true });
})().catch((e) => parentPort.postMessage({ fatal: String(e && e.stack || e) }));
`;

test("hostile JS objects (throwing getters, Proxies, huge sparse and lying arrays): typed errors in bounded time, the instance keeps working", async () => {
  const wasm = join(repo, "pkg", "edgerec_bg.wasm");
  const glue = `${pathToFileURL(join(repo, "pkg", "edgerec.js")).href}?hostile`;
  const failures = [];
  const done = [];
  const PER_CASE_MS = 10_000;
  const SLOW_MS = 2_000;
  // One worker runs the cases in order; one stuck in a call is ended and the next worker goes on
  // after that case.
  for (let finished = false; !finished; ) {
    const worker = new Worker(HOSTILE_WORKER, { eval: true, workerData: { glue, wasm, catalog: catalogPath(), skip: done } });
    try {
      finished = await new Promise((resolve, reject) => {
        let timer = null, current = null;
        const arm = () => {
          clearTimeout(timer);
          timer = setTimeout(() => {
            if (current === null) return reject(new Error("the worker did not start"));
            failures.push(`${current}: recommend did not return within ${PER_CASE_MS / 1000} s`);
            done.push(current);
            resolve(false);
          }, PER_CASE_MS);
        };
        arm();
        worker.on("error", (e) => reject(e));
        worker.on("message", (m) => {
          if (m.fatal) return reject(new Error(m.fatal));
          if (m.done) {
            clearTimeout(timer);
            return resolve(true);
          }
          if (m.start) {
            current = m.start;
            return arm();
          }
          done.push(m.label);
          const e = m.error;
          if (e && !(e.isError && e.own)) {
            if (!e.isError || e.trap || e.range || typeof e.code !== "string" || !NO_ENCODER_CODES.has(e.code)) {
              failures.push(`${m.label}: ${e.ctor}${e.code !== undefined ? ` [code ${e.code}]` : " [no code]"}: ${e.message}`);
            }
          }
          if (m.ms > SLOW_MS) failures.push(`${m.label}: took ${m.ms} ms (bound ${SLOW_MS} ms)`);
          if (m.good !== "same") failures.push(`${m.label}: afterwards, the good request ${typeof m.good === "string" ? m.good : `threw ${m.good.ctor}: ${m.good.message}`}`);
          console.log(`hostile: ${m.label}: ${e ? `${e.ctor} [${e.code ?? (e.own ? "own exception" : "no code")}]` : m.answered ? "answered" : "?"}, ${m.ms} ms`);
        });
      });
    } finally {
      await worker.terminate();
    }
  }
  assert.deepEqual(failures, [], failures.join("\n"));
});

test("recommendJson: random and mutated JSON texts and deep nesting in text, on ONE instance", async () => {
  const inst = await fresh();
  assert.equal(typeof inst.rec.recommendJson, "function", "Recommender.recommendJson(text) is missing from this pkg/ build");
  assert.deepEqual(ids(jsonResult(inst.rec.recommendJson(JSON.stringify(GOOD)))), inst.ref, "recommendJson answers like recommend");
  const r = prng(0x5eed);
  const texts = [];
  const wrapText = {
    top: (s) => s,
    boards: (s) => `{"boards":${s}}`,
    pins: (s) => `{"boards":[{"name":"x","pins":${s}}]}`,
    tags: (s) => `{"boards":[{"name":"x","pins":[{"id":"1","tags":${s}}]}]}`,
    unknown: (s) => `{"boards":[{"name":"x","pins":[{"id":"1"}]}],"extra":${s}}`,
    exclude: (s) => `{"boards":[{"name":"x","pins":[{"id":"1"}]}],"exclude":${s}}`,
  };
  for (const depth of [127, 128, 129, 5000, 100_000]) {
    for (const [open, close] of [["[", "]"], ['{"a":', "}"]]) {
      for (const [place, wrap] of Object.entries(wrapText)) {
        texts.push([`depth ${depth} ${open} in ${place}`, wrap(open.repeat(depth) + "1" + close.repeat(depth))]);
        if (depth >= 5000) texts.push([`unclosed depth ${depth} ${open} in ${place}`, wrap(open.repeat(depth))]);
      }
    }
  }
  for (const s of ["", " ", "null", "nul", "{", "}", "[]", "{}", "\ufeff{}", '{"boards":[],}', "// c\n{}", "NaN", '"a string"', "1e999", "\ud800", '{"boards":[{"name":"\ud800","pins":[{"id":"1"}]}]}']) {
    texts.push([`the text ${JSON.stringify(s)}`, s]);
  }
  texts.push(["100k pins as text", JSON.stringify({ boards: [{ name: "x", pins: HUGE.pins }] })]);
  texts.push(["a 1 MiB title as text", JSON.stringify({ boards: [{ name: "x", pins: [{ id: "1", title: "t".repeat(1 << 20) }] }] })]);
  for (let i = 0; i < 1000; i++) {
    const { ctx, attackName } = randomContext(r);
    if (attackName && attackName.startsWith("huge")) continue;
    let text;
    try {
      text = toJsonText(ctx);
    } catch {
      continue; // nested deeper than JSON.stringify itself can go: the text cases cover depth
    }
    if (text === undefined) continue;
    texts.push([`random context text #${i}`, text]);
    texts.push([`mutated text #${i}`, mutateText(r, r.chance(0.5) ? JSON.stringify(GOOD) : text)]);
  }
  for (const [label, text] of texts) {
    hostile(inst, () => jsonResult(inst.rec.recommendJson(text)), CONTEXT_CODES, `recommendJson: ${label}`, { json: true, answer: true });
  }
  for (const v of [undefined, null, 42, {}, GOOD, [], true, 10n]) {
    hostile(inst, () => inst.rec.recommendJson(v), CONTEXT_CODES, `recommendJson(${typeof v})`, { json: true });
  }
  stillGood(inst, "recommendJson at the end", { text: true, json: true });
});

/** Where a catalog bundle's header ends and its length fields are. Format 1: the JSON header,
 * then sections each after a u64 length; format 2 (the shared envelope, src/bundle/mod.rs): the
 * JSON header names each section's offset and length, so the only binary length is the header's. */
function catalogLayout(file) {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const version = dv.getUint32(8, true);
  const headerEnd = 16 + dv.getUint32(12, true);
  const fields = [[12, 4]];
  if (version === 1) {
    let at = headerEnd;
    while (at < file.length - 16) {
      fields.push([at, 8]);
      at += 8 + Number(dv.getBigUint64(at, true));
    }
    assert.equal(at, file.length - 16, "the format-1 catalog bundle layout is not the documented one");
  }
  return { headerEnd, fields };
}

/** The bundle with its JSON header edited by `edit` (re-laid out, not yet sealed). Envelope
 * formats pad the header to 64 bytes before the data region; a format-1 catalog does not. */
function withHeader(file, edit, { padded = true } = {}) {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const hlen = dv.getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(file.subarray(16, 16 + hlen)));
  edit(header);
  const json = new TextEncoder().encode(JSON.stringify(header));
  const align = (n) => (padded ? Math.ceil(n / 64) * 64 : n);
  const data = file.subarray(align(16 + hlen), file.length - 16);
  const start = align(16 + json.length);
  const body = new Uint8Array(start + data.length);
  body.set(file.subarray(0, 12));
  new DataView(body.buffer).setUint32(12, json.length, true);
  body.set(json, 16);
  body.set(data, start);
  return body;
}

/** Paths of the number leaves of a JSON value. */
function numberPaths(v, at = [], out = []) {
  if (typeof v === "number") out.push(at);
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) numberPaths(x, [...at, k], out);
  return out;
}

function setPath(v, path, x) {
  let o = v;
  for (const k of path.slice(0, -1)) o = o[k];
  o[path[path.length - 1]] = x;
}

/** Numbers around the 32-bit boundary (wasm32's usize) and past JSON's exact integers. */
const EVIL_NUMBERS = [2 ** 32, 2 ** 32 - 1, 2 ** 32 + 64, 2 ** 31, 2 ** 31 - 1, 2 ** 53, 2 ** 64, -1, 0, 1, 1e20, 65536, 0.5];

/** `n` bundles with one number of the header set to an evil value, resealed. */
function headerEdits(r, file, sealer, n, opts) {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const header = JSON.parse(new TextDecoder().decode(file.subarray(16, 16 + dv.getUint32(12, true))));
  const paths = numberPaths(header);
  const out = [];
  for (let i = 0; i < n; i++) {
    const path = r.pick(paths);
    const x = r.pick(EVIL_NUMBERS);
    out.push([`header ${path.join(".")} = ${x}`, sealer.seal(withHeader(file, (h) => setPath(h, path, x), opts), 0)]);
  }
  return out;
}

const HUGE_VALUES = [
  [0xff, 0xff, 0xff, 0xff],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],
  [0, 0, 0, 0, 1, 0, 0, 0],
  [0, 0, 0, 0, 0, 0, 0, 0x80],
  [0, 0, 0, 0x80],
  [0, 0, 0, 0, 0, 0, 0, 0],
];

function mutations(r, file, sealer, { headerEnd, fields }, n) {
  const body = file.subarray(0, file.length - 16);
  const out = [];
  for (let i = 0; i < n; i++) {
    const kind = r.int(8);
    const b = new Uint8Array(body);
    switch (kind) {
      case 0: {
        const cut = r.chance(0.5) ? r.int(headerEnd + 4096) : r.int(file.length);
        out.push([`truncated at ${cut}`, file.slice(0, cut)]);
        break;
      }
      case 1: {
        const cut = 241 + r.int(body.length - 241);
        out.push([`truncated at ${cut} and resealed`, sealer.seal(body.subarray(0, cut), cut)]);
        break;
      }
      case 2: {
        const f = new Uint8Array(file);
        const at = r.int(f.length);
        f[at] ^= 1 << r.int(8);
        out.push([`bit flip at ${at}`, f]);
        break;
      }
      case 3:
      case 4: {
        const at = kind === 3 ? r.int(headerEnd) : r.int(b.length);
        b[at] ^= 1 << r.int(8);
        out.push([`bit flip at ${at} resealed`, sealer.seal(b, at)]);
        break;
      }
      case 5: {
        const [at, width] = r.pick(fields);
        const v = r.pick(HUGE_VALUES).slice(0, width);
        b.set(v, at);
        out.push([`length field at ${at} set to ${v}`, sealer.seal(b, at)]);
        break;
      }
      case 6: {
        const at = r.chance(0.5) ? r.int(headerEnd) : r.int(b.length - 8);
        const v = r.pick(HUGE_VALUES);
        b.set(v.slice(0, Math.min(v.length, b.length - at)), at);
        out.push([`huge value at ${at} resealed`, sealer.seal(b, at)]);
        break;
      }
      default: {
        const extra = Uint8Array.from({ length: 1 + r.int(64) }, () => r.int(256));
        if (r.chance(0.5)) {
          const f = new Uint8Array(file.length + extra.length);
          f.set(file);
          f.set(extra, file.length);
          out.push([`${extra.length} bytes appended`, f]);
        } else {
          const nb = new Uint8Array(body.length + extra.length);
          nb.set(body);
          nb.set(extra, body.length);
          out.push([`${extra.length} bytes appended and resealed`, sealer.seal(nb, body.length)]);
        }
      }
    }
  }
  return out;
}

test("200 mutated catalog bundles (truncations, flips, huge values, header edits) through new Recommender(bytes): typed errors, the instance keeps working", async () => {
  const inst = await fresh();
  const sealer = new Sealer(catalog);
  const layout = catalogLayout(catalog);
  const r = prng(0xca7a);
  const t0 = Date.now();
  let loaded = 0;
  const padded = new DataView(catalog.buffer, catalog.byteOffset).getUint32(8, true) !== 1;
  const cases = [...mutations(r, catalog, sealer, layout, 170), ...headerEdits(r, catalog, sealer, 30, { padded })];
  for (const [label, bytes] of cases) {
    const made = hostile(inst, () => new inst.pkg.Recommender(bytes), CATALOG_CODES, `catalog ${label}`);
    if (made) {
      loaded++;
      hostile(inst, () => made.recommend(GOOD), NO_ENCODER_CODES, `catalog ${label}, then recommend`, { answer: true });
      made.free();
    }
  }
  console.log(`mutated catalogs: ${loaded} of ${cases.length} loaded, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

test("70 mutated edge bundles (truncations, flips, huge values, header edits) through Encoder.fromEdgeBundle: typed errors, the instance keeps working", async () => {
  const inst = await fresh();
  const sealer = new Sealer(edgeFile);
  const dv = new DataView(edgeFile.buffer, edgeFile.byteOffset, edgeFile.byteLength);
  const headerEnd = 16 + dv.getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(edgeFile.subarray(16, headerEnd)));
  const dataStart = Math.ceil(headerEnd / 64) * 64;
  const [tokAt, tokLen] = header.tokenizer;
  const r = prng(0xed9e);
  const t0 = Date.now();
  const cases = [...mutations(r, edgeFile, sealer, { headerEnd, fields: [[12, 4]] }, 30), ...headerEdits(r, edgeFile, sealer, 16)];
  // A consistent huge vocabulary (config and the embedding tensors agree): its byte size
  // overflows a 32-bit usize, or lies beyond the file.
  for (const v of [Math.floor(2 ** 32 / header.config.hidden_size) + 1, 2 ** 26, 2 ** 32 - 1, 2 ** 32]) {
    const body = withHeader(edgeFile, (h) => {
      h.config.vocab_size = v;
      for (const t of h.tensors) if (t.name.startsWith("embeddings.word.")) t.shape[0] = v;
    });
    cases.push([`vocab_size ${v} everywhere`, sealer.seal(body, 0)]);
  }
  // Flips in the tokenizer (the end of the file: cheap to reseal).
  for (let i = 0; i < 20; i++) {
    const b = new Uint8Array(edgeFile.subarray(0, edgeFile.length - 16));
    const at = dataStart + tokAt + r.int(tokLen);
    b[at] ^= 1 << r.int(8);
    cases.push([`tokenizer bit flip at ${at} resealed`, sealer.seal(b, at)]);
  }
  let loaded = 0;
  for (const [label, bytes] of cases) {
    const wb = new inst.pkg.WasmBytes(bytes.length);
    wb.push(bytes);
    const enc = hostile(inst, () => inst.pkg.Encoder.fromEdgeBundle(wb), MODEL_CODES, `edge bundle ${label}`);
    if (enc) {
      loaded++;
      hostile(inst, () => enc.embed(["a text", "Astronauts stranded on Mars [UNK] é 東京 🚀"]), EMBED_CODES, `edge bundle ${label}, then embed`);
      enc.free();
    }
  }
  stillGood(inst, "edge bundles at the end", { text: true });
  console.log(`mutated edge bundles: ${loaded} of ${cases.length} loaded, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

// Limits must be checked while decoding: a request far over a limit is refused before it is
// materialised in wasm memory. Each on a fresh instance (wasm memory never shrinks, so an earlier
// high-water mark would hide the growth).
const MEMORY_BOUND = 8 << 20;
const BIG_REQUESTS = {
  "100k pins": () => ({ boards: [{ name: "x", pins: HUGE.pins }] }),
  "100k exclude ids": () => ({ boards: [{ name: "x", pins: [{ id: "1" }] }], exclude: HUGE.strings }),
  "100k tags on one pin": () => ({ boards: [{ name: "x", pins: [{ id: "1", tags: HUGE.strings }] }] }),
  "100k boards": () => ({ boards: HUGE.boards }),
  "a 16 MiB title": () => ({ boards: [{ name: "x", pins: [{ id: "1", title: "t".repeat(16 << 20) }] }] }),
};

for (const [name, make] of Object.entries(BIG_REQUESTS)) {
  test(`wasm memory grows < 8 MiB on a request with ${name} (refused while decoding)`, async () => {
    const inst = await fresh({ encoder: false });
    const ctx = make();
    assert.throws(() => inst.rec.recommend({ boards: [{ name: "x", pins: [{ id: "1", saved_at: NaN }] }] }), (e) => e.code === "invalid_input");
    const before = inst.pkg.wasmMemoryBytes();
    const t0 = Date.now();
    hostile(inst, () => inst.rec.recommend(ctx), inst.codes, name, { answer: true });
    const after = inst.pkg.wasmMemoryBytes();
    console.log(`${name}: wasm memory ${(before / 2 ** 20).toFixed(1)} → ${(after / 2 ** 20).toFixed(1)} MiB, ${Date.now() - t0} ms`);
    assert.ok(after - before < MEMORY_BOUND, `${name}: wasm memory grew by ${((after - before) / 2 ** 20).toFixed(1)} MiB (bound 8 MiB)`);
  });
}

test("wasm memory grows < 8 MiB on recommendJson with 100k pins (refused while parsing)", async () => {
  const inst = await fresh({ encoder: false });
  assert.equal(typeof inst.rec.recommendJson, "function", "Recommender.recommendJson(text) is missing from this pkg/ build");
  const text = JSON.stringify({ boards: [{ name: "x", pins: HUGE.pins }] });
  inst.rec.recommendJson(JSON.stringify(GOOD));
  const before = inst.pkg.wasmMemoryBytes();
  hostile(inst, () => inst.rec.recommendJson(text), inst.codes, "recommendJson 100k pins", { json: true });
  const after = inst.pkg.wasmMemoryBytes();
  console.log(`recommendJson 100k pins (${(text.length / 2 ** 20).toFixed(1)} MiB of text): wasm memory ${(before / 2 ** 20).toFixed(1)} → ${(after / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(after - before < MEMORY_BOUND, `wasm memory grew by ${((after - before) / 2 ** 20).toFixed(1)} MiB (bound 8 MiB)`);
});
