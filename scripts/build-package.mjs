#!/usr/bin/env node
// Completes the npm package `edgerec` in packages/edgerec/: its sources (browser/, cloudflare/,
// package.json, README.md) are committed there; this copies in what scripts/build-wasm.sh built
// into pkg/ (the wasm-bindgen glue, its .d.ts, both wasm builds) and the licenses. Then
// `npm pack packages/edgerec` makes the tarball users install, and worker/ and www/ consume the
// folder as a dependency. (The version must equal Cargo.toml's; after changing it, run
// `npm install --prefix worker` so worker/package-lock.json records it too.) Cheap (file copies): every build that needs the package runs it.
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BuildError } from "./assets.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = join(repo, "pkg");
export const packageDir = join(repo, "packages", "edgerec");

/** The files this script copies in: from pkg/ and from the repository's root. */
export const BUILT_FILES = ["edgerec.js", "edgerec.d.ts", "edgerec_bg.wasm.d.ts", "edgerec_bg.wasm", "edgerec_relaxed_bg.wasm"];
const LICENSES = ["LICENSE-MIT", "LICENSE-APACHE"];

export function buildPackage() {
  const cargoVersion = /^version = "(.*)"/m.exec(readFileSync(join(repo, "Cargo.toml"), "utf8"))?.[1];
  const version = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")).version;
  // One version for the crate and the package (the wasm's version() is the crate's).
  if (version !== cargoVersion) throw new BuildError(`packages/edgerec/package.json is version ${version}, Cargo.toml ${cargoVersion}: make them equal`);
  for (const f of BUILT_FILES) {
    if (!existsSync(join(pkg, f))) throw new BuildError(`pkg/${f} is missing: run scripts/build-wasm.sh`);
    copyFileSync(join(pkg, f), join(packageDir, f));
  }
  for (const f of LICENSES) copyFileSync(join(repo, f), join(packageDir, f));
  return { dir: packageDir, version };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const { version } = buildPackage();
    console.error(`packages/edgerec: edgerec ${version} complete (npm pack packages/edgerec makes the tarball)`);
  } catch (e) {
    console.error(`build-package: ${e.message}`);
    process.exit(1);
  }
}
