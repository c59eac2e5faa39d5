// Bundles a Worker entry the way `wrangler deploy` does (`wrangler deploy --dry-run --outdir`),
// with this project's wrangler.toml (its module rules, assets and vars): the script and the wasm
// module it imports, as uploaded. The build bundles src/index.js; tests bundle entries of their own.
import { execFileSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { OFFLINE_ENV } from "./offline.mjs";

const workerDir = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Bundles `entry` (default src/index.js) into `outDir`; returns `{ script, wasm }` (absolute paths). */
export function bundleWorker({ entry = join(workerDir, "src", "index.js"), outDir }) {
  rmSync(outDir, { recursive: true, force: true });
  const args = ["deploy", entry, "--dry-run", "--outdir", outDir, "--config", join(workerDir, "wrangler.toml")];
  try {
    execFileSync(join(workerDir, "node_modules", ".bin", "wrangler"), args, { cwd: workerDir, env: { ...process.env, ...OFFLINE_ENV }, stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    throw new Error(`wrangler ${args.join(" ")} failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
  const files = readdirSync(outDir);
  const wasm = files.filter((f) => f.endsWith(".wasm"));
  if (!files.includes("index.js") || wasm.length !== 1) throw new Error(`${outDir}: expected index.js and one .wasm, found ${files.join(", ")}`);
  return { script: join(outDir, "index.js"), wasm: join(outDir, wasm[0]) };
}
