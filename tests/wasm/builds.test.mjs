// The two wasm builds in pkg/ are what they claim: the simd128 module validates on an engine
// without relaxed-simd (Node 20: the fallback for Safari and older engines), the relaxed module
// does not, and they differ.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { repo } from "./helpers.mjs";

const simd128 = join(repo, "pkg", "edgerec_bg.wasm");
const relaxed = join(repo, "pkg", "edgerec_relaxed_bg.wasm");

test("each module is at most 1.5 MB gzipped (level 9), what a phone downloads once", () => {
  for (const file of [simd128, relaxed]) {
    const gz = gzipSync(readFileSync(file), { level: 9 }).length;
    assert.ok(gz <= 1.5e6, `${file}: ${gz} bytes gzipped`);
  }
});

test("the simd128 and relaxed-simd modules differ", () => {
  assert.notDeepEqual(readFileSync(simd128), readFileSync(relaxed));
});

test("an engine without relaxed-simd (node 20) validates the simd128 module and refuses the relaxed one", () => {
  // The system node is 20 (no relaxed-simd without a flag); this test runs under Node 22.
  const node20 = "/usr/bin/node";
  const version = execFileSync(node20, ["--version"], { encoding: "utf8" }).trim();
  assert.match(version, /^v20\./, `expected the system node to be 20, got ${version}`);
  const check = (file) =>
    execFileSync(node20, ["-e", `process.stdout.write(String(WebAssembly.validate(require("fs").readFileSync(${JSON.stringify(file)}))))`], { encoding: "utf8" });
  assert.equal(check(simd128), "true", "the simd128 module must validate without relaxed-simd");
  assert.equal(check(relaxed), "false", "the relaxed module must use relaxed-simd");
  assert.equal(WebAssembly.validate(readFileSync(relaxed)), true, "Node 22 validates the relaxed module");
});
