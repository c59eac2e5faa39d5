// `npm --prefix worker test`: every test/*.test.mjs under node's test runner, one file at a time
// (each starts its own workerd). Files are listed explicitly: node 20 and node 22 disagree on
// what a directory argument to --test means.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const testDir = join(dirname(fileURLToPath(import.meta.url)), "..", "test");
const files = readdirSync(testDir).filter((f) => f.endsWith(".test.mjs")).sort().map((f) => join(testDir, f));
if (files.length === 0) throw new Error(`no test files in ${testDir}`);
const { status, signal } = spawnSync(process.execPath, ["--test", "--test-reporter=spec", "--test-concurrency=1", ...process.argv.slice(2), ...files], {
  stdio: "inherit",
});
process.exit(signal ? 1 : status);
