// The TypeScript declarations in pkg/edgerec.d.ts are generated from the Rust types (tsify):
// a typed usage file must compile against them under --strict, and the shapes Rust refuses must
// stay type errors (types/usage.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repo } from "./helpers.mjs";

test("pkg/edgerec.d.ts declares the request and response types from Rust", () => {
  const dts = readFileSync(join(repo, "pkg", "edgerec.d.ts"), "utf8");
  for (const name of ["BoardContext", "Board", "Pin", "Recommendations", "Recommendation", "Reason"]) {
    assert.match(dts, new RegExp(`export interface ${name} \\{`), name);
  }
  assert.match(dts, /export type Signal = /);
  // Optional inputs accept null, as the Rust decoder does.
  assert.match(dts, /id\?: string \| null;/);
});

test("a typed usage file compiles with tsc --strict against pkg/edgerec.d.ts", () => {
  const tsc = join(repo, "node_modules", "typescript", "bin", "tsc");
  const args = [tsc, "--noEmit", "--strict", "--target", "es2022", "--module", "es2022",
    "--moduleResolution", "bundler", "--skipLibCheck", "false", "--lib", "esnext,dom",
    join(repo, "tests", "wasm", "types", "usage.ts")];
  try {
    execFileSync(process.execPath, args, { encoding: "utf8", stdio: "pipe" });
  } catch (e) {
    assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`);
  }
});
