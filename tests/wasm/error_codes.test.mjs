// One list of error codes: the Rust enum (the wasm's errorCodes()), the TypeScript type it
// generates (pkg/edgerec.d.ts `ErrorCode`), the browser harness's codes (packages/edgerec/browser/errors.js and its
// edgerec.d.ts) and the Worker's HTTP mapping (packages/edgerec/cloudflare/errors.js) must all name the same
// codes. A code added in Rust and forgotten in JS fails here, not in production as a 500.
//
// `io` and the fine-tuning codes are excluded from the JS lists: they are native only (files,
// `edgerec finetune`); nothing the wasm module does can raise them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadPkg, repo } from "./helpers.mjs";
import { ERROR_CODES, HARNESS_ERROR_CODES, WASM_ERROR_CODES } from "../../packages/edgerec/browser/errors.js";
import { WASM_ERROR_HTTP } from "../../packages/edgerec/cloudflare/errors.js";

const NATIVE_ONLY = ["io", "invalid_checkpoint", "output_exists", "gate_refused"];
const sorted = (codes) => [...codes].sort();

/** The string literals of `export type <name> = "a" | "b" ...;` in a .d.ts file. */
function unionOf(dtsPath, name) {
  const dts = readFileSync(dtsPath, "utf8");
  const m = new RegExp(`export type ${name}\\s*=([^;]*);`).exec(dts);
  assert.ok(m, `${dtsPath} declares no type ${name}`);
  const body = m[1].replace(/\/\*[\s\S]*?\*\//g, ""); // doc comments between the members
  return [...body.matchAll(/"([a-z_]+)"/g)].map((x) => x[1]);
}

let rust;

test("the wasm lists every Rust error code once, io (native only) among them", async () => {
  const pkg = await loadPkg();
  assert.equal(typeof pkg.errorCodes, "function", "pkg/ exports errorCodes()");
  rust = Array.from(pkg.errorCodes());
  assert.ok(rust.length >= 10, JSON.stringify(rust));
  assert.equal(new Set(rust).size, rust.length, `duplicates in ${rust}`);
  for (const c of rust) assert.match(c, /^[a-z]+(_[a-z]+)*$/, "codes are snake_case");
  for (const c of [...NATIVE_ONLY, "encoder_unavailable", "resource_exhausted"]) assert.ok(rust.includes(c), `${c} in ${rust}`);
});

test("pkg/edgerec.d.ts ErrorCode is the Rust list (io may be left out: native only)", async () => {
  rust ??= Array.from((await loadPkg()).errorCodes());
  const dts = unionOf(join(repo, "pkg", "edgerec.d.ts"), "ErrorCode");
  assert.deepEqual(sorted(dts.filter((c) => !NATIVE_ONLY.includes(c))), sorted(rust.filter((c) => !NATIVE_ONLY.includes(c))));
});

test("the browser harness knows every wasm code (errors.js and its edgerec.d.ts)", async () => {
  rust ??= Array.from((await loadPkg()).errorCodes());
  const wasmCodes = sorted(rust.filter((c) => !NATIVE_ONLY.includes(c)));
  assert.deepEqual(sorted(WASM_ERROR_CODES), wasmCodes);
  assert.deepEqual(sorted(unionOf(join(repo, "packages", "edgerec", "browser", "edgerec.d.ts"), "WasmErrorCode")), wasmCodes);
  // The harness's own codes are not wasm codes, and ERROR_CODES is both lists.
  for (const c of HARNESS_ERROR_CODES) assert.ok(!rust.includes(c), `${c} is the harness's and the wasm's`);
  assert.deepEqual(sorted(ERROR_CODES), sorted([...WASM_ERROR_CODES, ...HARNESS_ERROR_CODES]));
});

test("the Worker maps every wasm code to an HTTP answer, and only those", async () => {
  rust ??= Array.from((await loadPkg()).errorCodes());
  assert.deepEqual(sorted(Object.keys(WASM_ERROR_HTTP)), sorted(rust.filter((c) => !NATIVE_ONLY.includes(c))));
  for (const [code, answer] of Object.entries(WASM_ERROR_HTTP)) {
    assert.ok(Number.isInteger(answer.status) && answer.status >= 400 && answer.status < 600, `${code}: ${answer.status}`);
    assert.match(answer.code, /^[a-z_]+$/, code);
  }
});
