// The npm package as users get it: `npm pack packages/edgerec`, then the tarball installed in
// fresh projects written here (no template download), with assets written by `edgerec bundle`:
// - a Vite app: `vite build`, served, recommendations with reasons in headless Chromium, and no
//   request at all while recommending;
// - a wrangler project (`src/index.js` of two lines on `edgerec/cloudflare`) under
//   `wrangler dev --local`: /v1/health, one /v1/recommend, and a bad request's typed error;
// - the package's .d.ts under `tsc --noEmit --strict`, with a typed usage file.
// Needs: pkg/ built (scripts/build-wasm.sh), the CLI built (cargo build), the catalog and model of
// scripts/build-assets.sh (or EDGEREC_CATALOG / EDGEREC_EDGE_MODEL), and the npm registry or its
// cache for the apps' lockfiles (vite-app/, wrangler-app/: `npm ci`, then the tarball).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { locateInputs } from "../../scripts/assets.mjs";
import { buildPackage, packageDir } from "../../scripts/build-package.mjs";
import { startServer } from "../../www/serve.mjs";
import { launch, watchErrors } from "../../www/test/helpers.mjs";
import { startWranglerDev } from "../../worker/scripts/wrangler-dev.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const here = dirname(fileURLToPath(import.meta.url));
const TYPESCRIPT = join(repo, "node_modules", "typescript", "bin", "tsc");
/** The CLI cargo built, wherever CARGO_TARGET_DIR (or a config) puts it. */
const CLI = join(JSON.parse(execFileSync("cargo", ["metadata", "--format-version", "1", "--no-deps"], { cwd: repo, encoding: "utf8" })).target_directory, "debug", "edgerec");

let work; // a temporary folder for the tarball and the projects
let tarball; // { path, size, unpackedSize, files }

const run = (cmd, args, opts = {}) => {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: "pipe", ...opts });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
};
const npm = (cwd, args) => run("npm", [...args, "--no-audit", "--no-fund", "--prefer-offline", "--loglevel", "error"], { cwd });

/** The folder a user serves, written by the CLI from a catalog (and model) it built; its manifest. */
function bundleAssets(out) {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: cargo build --bin edgerec`);
  const { catalog, model } = locateInputs();
  run(CLI, ["bundle", "--catalog", catalog, "--model", model, "--out", out]);
  return JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
}

/** A fresh project from a fixture (package.json + lockfile: `npm ci`), with the tarball added. */
function project(name) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const f of ["package.json", "package-lock.json"]) copyFileSync(join(here, name, f), join(dir, f));
  npm(dir, ["ci"]);
  npm(dir, ["install", "--no-save", tarball.path]);
  return dir;
}

before(() => {
  buildPackage();
  work = mkdtempSync(join(tmpdir(), "edgerec-package-"));
  const [info] = JSON.parse(run("npm", ["pack", packageDir, "--pack-destination", work, "--json", "--loglevel", "error"]));
  tarball = { path: join(work, info.filename), size: info.size, unpackedSize: info.unpackedSize, files: info.files.map((f) => f.path) };
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test("the tarball holds the harness, the Worker handler, the wasm API and both builds, with types; no model or catalog", (t) => {
  t.diagnostic(`tarball ${tarball.size} bytes, unpacked ${tarball.unpackedSize} bytes, ${tarball.files.length} files`);
  const pkg = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
  for (const [sub, target] of Object.entries(pkg.exports)) {
    const paths = typeof target === "string" ? [target] : Object.values(target);
    for (const p of paths) assert.ok(tarball.files.includes(p.replace(/^\.\//, "")), `${sub} → ${p} is not in the tarball`);
  }
  for (const sub of [".", "./worker", "./wasm", "./cloudflare", "./edgerec_bg.wasm", "./edgerec_relaxed_bg.wasm"]) {
    assert.ok(sub in pkg.exports, `no export ${sub}`);
  }
  for (const f of ["README.md", "LICENSE-MIT", "LICENSE-APACHE", "browser/edgerec.d.ts", "cloudflare/index.d.ts", "edgerec.d.ts"]) {
    assert.ok(tarball.files.includes(f), `${f} is missing`);
  }
  assert.ok(!tarball.files.some((f) => /\.(edgerec|bin|safetensors)$|manifest\.json$|catalog|model\//.test(f)), tarball.files.join(", "));
  // Two ~3.9 MB wasm builds and some JS: a model (24 MB) or a catalog would be far over.
  assert.ok(tarball.unpackedSize < 10e6, `unpacked ${tarball.unpackedSize} bytes`);
});

test("a fresh Vite app: install the tarball, vite build, and recommendations with reasons in Chromium, no request while recommending", async (t) => {
  const app = project("vite-app");
  mkdirSync(join(app, "public"), { recursive: true });
  writeFileSync(
    join(app, "index.html"),
    '<!doctype html>\n<html><head><meta charset="utf-8"><title>edgerec in a Vite app</title></head>\n' +
      '<body><pre id="out">loading…</pre><script type="module" src="/main.js"></script></body></html>\n',
  );
  // What the README's "Use it in your app" shows.
  writeFileSync(
    join(app, "main.js"),
    `import { createRecommender } from "edgerec";

try {
  const rec = await createRecommender({ manifest: "/edgerec/manifest.json" });
  window.recommend = (context) => rec.recommend(context);
  const { items } = await rec.recommend({
    boards: [{ name: "Pixar night", pins: [{ id: "1" }, { id: "3114" }, { title: "animated toys that come to life" }] }],
  });
  document.querySelector("#out").textContent = items.map((it) => \`\${it.title}: \${it.reason.text}\`).join("\\n");
  window.first = items;
} catch (e) {
  document.querySelector("#out").textContent = \`Error: \${e.code ?? ""} \${e.message}\`;
}
`,
  );
  bundleAssets(join(app, "public", "edgerec"));
  run(join(app, "node_modules", ".bin", "vite"), ["build", "--logLevel", "warn"], { cwd: app });
  const built = run("find", [join(app, "dist"), "-type", "f"]).split("\n").filter(Boolean).map((p) => p.slice(app.length + 6));
  t.diagnostic(`vite build: ${built.join(", ")}`);
  assert.ok(built.some((f) => /^assets\/.*\.wasm$/.test(f)), "vite emitted the wasm builds");
  assert.ok(built.some((f) => /^assets\/worker.*\.js$/.test(f)), "vite emitted the Web Worker");

  const log = [];
  const server = await startServer({ root: join(app, "dist"), port: 0, onRequest: (method, path, status) => log.push({ method, path, status }) });
  const { context, close } = await launch();
  const outside = [];
  try {
    const page = await context.newPage();
    const errors = watchErrors(page);
    // Every request the page or its worker makes, wherever it goes.
    context.on("request", (r) => {
      if (!r.url().startsWith(server.url)) outside.push(r.url());
    });
    await page.goto(server.url);
    await page.waitForFunction(() => window.first || document.querySelector("#out").textContent.startsWith("Error"), null, { timeout: 120_000 });
    const first = await page.evaluate(() => window.first ?? document.querySelector("#out").textContent);
    assert.ok(Array.isArray(first) && first.length === 10, JSON.stringify(first));
    for (const it of first) {
      assert.ok(it.id && it.title && Number.isFinite(it.score), JSON.stringify(it));
      assert.ok(it.reason && typeof it.reason.text === "string" && it.reason.text.length > 0, JSON.stringify(it));
    }
    assert.ok(!first.some((it) => ["1", "3114"].includes(it.id)), "pinned items are not recommended");
    assert.ok(log.some((e) => e.path.startsWith("/edgerec/model/") && e.status === 200), "the model came from the CLI's folder");
    assert.ok(log.some((e) => e.path.startsWith("/edgerec/catalog/") && e.status === 200), "the catalog came from the CLI's folder");
    assert.ok(log.some((e) => /^\/assets\/edgerec.*\.wasm$/.test(e.path) && e.status === 200), "the wasm came from the app's build");

    const before = log.length;
    const again = await page.evaluate(() =>
      window.recommend({ boards: [{ name: "Space", pins: [{ id: "260" }, { id: "1196" }, { title: "a crew stranded on Mars" }] }], k: 5 }),
    );
    assert.equal(again.items.length, 5);
    assert.ok(again.embedded_texts === 1, JSON.stringify(again));
    assert.deepEqual(log.slice(before), [], "no request while recommending");
    assert.deepEqual(outside, [], "nothing left the page's own origin");
    // The page asks for /favicon.ico (the app has none): the one 404 there may be.
    assert.deepEqual(log.filter((e) => e.status !== 200 && e.path !== "/favicon.ico"), []);
    assert.deepEqual(errors.filter((e) => !(e.includes("404") && log.some((l) => l.path === "/favicon.ico"))), []);
  } finally {
    await close();
    await server.close();
  }
});

test("a fresh wrangler project: two lines on edgerec/cloudflare answer /v1/health, /v1/recommend and a typed error", async (t) => {
  const proj = project("wrangler-app");
  mkdirSync(join(proj, "src"), { recursive: true });
  // What the README's "Use it in your app" shows.
  writeFileSync(join(proj, "src", "index.js"), 'import { createHandler } from "edgerec/cloudflare";\n\nexport default createHandler();\n');
  writeFileSync(
    join(proj, "wrangler.toml"),
    'name = "my-recommender"\nmain = "src/index.js"\ncompatibility_date = "2026-04-01"\n\n' +
      '[assets]\ndirectory = "edgerec"\nbinding = "ASSETS"\nrun_worker_first = true\n',
  );
  const served = bundleAssets(join(proj, "edgerec"));

  const dev = await startWranglerDev({ cwd: proj, vars: { LOAD_WAIT_MS: "600000" } });
  const call = (path, init) => dev.request(path, init);
  try {
    let health = null;
    for (let i = 0; i < 360 && !dev.exited() && !health; i++) {
      health = await call("/v1/health").catch(() => null);
      if (health?.json === undefined) health = null; // not the Worker answering yet
      if (!health) await sleep(250);
    }
    assert.ok(health, `wrangler dev did not answer within 90 s:\n${dev.output()}`);
    assert.equal(health.status, 200, health.text);
    assert.equal(health.json.catalog_items, served.items, health.text);
    assert.equal(health.json.catalog_id, served.catalog_id, health.text);
    const post = (body) => call("/v1/recommend", { method: "POST", headers: { "content-type": "application/json" }, body });
    const rec = await post(JSON.stringify({ boards: [{ name: "Pixar night", pins: [{ id: "1" }, { title: "toys that come to life" }] }], k: 5 }));
    assert.equal(rec.status, 200, rec.text);
    assert.equal(rec.json.items.length, 5);
    assert.ok(rec.json.items.every((it) => it.reason?.text), rec.text);
    assert.equal(rec.json.embedded_texts, 1);
    const bad = await post(JSON.stringify({ boards: [{ name: "x", pins: [{ id: "1" }] }], k: 0 }));
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.json.error.code, "invalid_input", bad.text);
    t.diagnostic(`bad request: ${bad.json.error.message}`);
  } finally {
    await dev.stop();
  }
});

test("the package's .d.ts compile under tsc --strict with a typed usage of every entry point", () => {
  const proj = join(work, "types-app");
  mkdirSync(proj, { recursive: true });
  writeFileSync(join(proj, "package.json"), JSON.stringify({ name: "types-app", private: true, type: "module" }));
  npm(proj, ["install", tarball.path]); // the package alone: no dependencies to lock
  const usage = join(proj, "usage.ts");
  writeFileSync(usage, readFileSync(join(repo, "tests", "package", "usage.ts"), "utf8"));
  const args = [TYPESCRIPT, "--noEmit", "--strict", "--target", "es2022", "--module", "es2022", "--moduleResolution", "bundler",
    "--skipLibCheck", "false", "--lib", "esnext,dom,webworker.importscripts", usage];
  try {
    execFileSync(process.execPath, args, { cwd: proj, encoding: "utf8", stdio: "pipe" });
  } catch (e) {
    assert.fail(`tsc failed:\n${e.stdout}${e.stderr}`);
  }
});
