// Node-only checks of the pieces that do not need a browser: the streaming SHA-256, the SIMD
// probes, the static server, the demo's titles.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, normalize } from "node:path";
import { Sha256 } from "../../packages/edgerec/browser/sha256.js";
import { RELAXED_SIMD_PROBE, SIMD128_PROBE } from "../../packages/edgerec/browser/simd.js";
import { ERROR_CODES, EdgerecError, fromWire, toWire } from "../../packages/edgerec/browser/errors.js";
import { startServer } from "../serve.mjs";
import { displayTitle, fold, matchRank } from "../demo/titles.js";
import { looksNonEnglish } from "../demo/language.js";
import { www } from "./helpers.mjs";

test("streaming SHA-256 matches node:crypto for every split of the input", () => {
  const sizes = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4096, 65537, 1 << 20];
  for (const n of sizes) {
    const data = randomBytes(n);
    const want = createHash("sha256").update(data).digest("hex");
    for (const step of [1, 7, 64, 1000, n || 1]) {
      if (n > 5000 && step < 64) continue;
      const h = new Sha256();
      for (let off = 0; off < n; off += step) h.update(data.subarray(off, off + step));
      assert.equal(h.hex(), want, `n=${n} step=${step}`);
    }
  }
  assert.equal(new Sha256().update(new TextEncoder().encode("abc")).hex(),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const h = new Sha256();
  h.hex();
  assert.throws(() => h.update(new Uint8Array(1)), /after hex/);
});

test("the SIMD probes: simd128 validates; relaxed SIMD only where the engine has it", () => {
  assert.equal(WebAssembly.validate(SIMD128_PROBE), true);
  // Node 20's V8 has relaxed SIMD behind a flag (off by default); Node 22's has it always on
  // and no flag. Where the flag exists, the probe must say no without it and yes with it (a
  // probe that always said yes would fail here); where it does not, the probe must say yes.
  const code = `import("${join(www, "..", "packages", "edgerec", "browser", "simd.js")}").then(m => console.log(m.relaxedSimdSupported()))`;
  const plain = spawnSync(process.execPath, ["-e", code], { encoding: "utf8" });
  const flags = spawnSync(process.execPath, ["--v8-options"], { encoding: "utf8" }).stdout;
  if (flags.includes("--experimental-wasm-relaxed-simd")) {
    const flagged = spawnSync(process.execPath, ["--experimental-wasm-relaxed-simd", "-e", code], { encoding: "utf8" });
    assert.equal(flagged.stdout.trim(), "true", flagged.stderr);
    assert.equal(plain.stdout.trim(), "false", plain.stderr);
  } else {
    assert.equal(plain.stdout.trim(), "true", plain.stderr);
  }
  // A module with a byte flipped in the opcode is not valid: validate() really parses the probe.
  const broken = RELAXED_SIMD_PROBE.slice();
  broken[broken.length - 4] = 0xff; // 0xfd 0xff 0x02: no such SIMD opcode
  assert.equal(WebAssembly.validate(broken), false);
});

test("errors cross postMessage as { code, message }", () => {
  const e = fromWire(toWire(new EdgerecError("limit_exceeded", "too long")));
  assert.ok(e instanceof EdgerecError && e instanceof Error);
  assert.equal(e.code, "limit_exceeded");
  assert.equal(e.message, "too long");
  assert.deepEqual(toWire(new TypeError("boom")), { code: "internal", message: "boom" });
  assert.equal(toWire(new WebAssembly.RuntimeError("unreachable")).code, "worker_failed");
  assert.equal(toWire(Object.assign(new Error("x"), { code: "invalid_catalog" })).code, "invalid_catalog");
  assert.equal(toWire(Object.assign(new Error("x"), { code: "ENOENT" })).code, "internal");
  for (const c of ["invalid_input", "limit_exceeded", "load_failed", "integrity_error", "closed"]) assert.ok(ERROR_CODES.includes(c));
});

test("serve.mjs: MIME types, 404, 304, HEAD, no escaping the root, no open redirect", async () => {
  // The secret sits beside the root, so a traversal that got past the check would serve it.
  const parent = mkdtempSync(join(tmpdir(), "edgerec-serve-"));
  const root = join(parent, "root");
  mkdirSync(join(root, "sub"), { recursive: true });
  const files = { "index.html": "<!doctype html>", "a.js": "export{}", "m.wasm": "\0asm", "d.json": "{}", "c.bin": "x", "sub/index.html": "sub", "e.edgerec": "y" };
  for (const [f, body] of Object.entries(files)) writeFileSync(join(root, f), body);
  const secret = join(parent, "edgerec-secret.txt");
  writeFileSync(secret, "secret");
  const log = [];
  const srv = await startServer({ root, port: 0, onRequest: (m, p, s) => log.push(s) });
  const port = Number(new URL(srv.url).port);
  try {
    assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.ok(port > 0);
    const type = async (p) => (await fetch(srv.url + p)).headers.get("content-type");
    assert.equal(await type("m.wasm"), "application/wasm");
    assert.match(await type("a.js"), /^text\/javascript/);
    assert.match(await type("d.json"), /^application\/json/);
    assert.equal(await type("c.bin"), "application/octet-stream");
    assert.equal(await type("e.edgerec"), "application/octet-stream");
    assert.match(await type(""), /^text\/html/);
    const home = await fetch(srv.url);
    assert.equal(await home.text(), "<!doctype html>");
    assert.equal((await fetch(srv.url + "nope.js")).status, 404);
    const sub = await fetch(srv.url + "sub", { redirect: "manual" });
    assert.equal(sub.status, 301);
    assert.equal(sub.headers.get("location"), "/sub/");
    assert.equal(await (await fetch(srv.url + "sub/")).text(), "sub");
    const etag = home.headers.get("etag");
    assert.ok(etag);
    assert.equal((await fetch(srv.url, { headers: { "if-none-match": etag } })).status, 304);
    const head = await fetch(srv.url + "m.wasm", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), "4");
    assert.equal((await fetch(srv.url, { method: "POST" })).status, 405);

    // Traversal, sent raw (fetch() would normalise the path). Each of these decodes to a path
    // that resolves to the secret: only the root check stands between it and the client.
    for (const raw of ["/..%2fedgerec-secret.txt", "/sub/..%2f..%2fedgerec-secret.txt", "/%2e%2e%2fedgerec-secret.txt"]) {
      const decoded = decodeURIComponent(new URL(raw, "http://x").pathname);
      assert.equal(normalize(join(root, decoded)), secret, `${raw} is a real escape attempt`);
      const res = await rawGet(port, raw);
      assert.equal(res.status, 403, `${raw}: ${res.status}`);
      assert.doesNotMatch(res.body, /secret/);
    }
    // Normalised by the URL parser before it reaches the server's check: served from the root.
    assert.equal((await rawGet(port, "/../edgerec-secret.txt")).status, 404);
    assert.equal((await rawGet(port, "/%E0%A4%A")).status, 400);

    // Open redirect: "/%2Fevil.com/..%2Fsub" decodes to "//evil.com/../sub" (the sub directory);
    // its redirect must echo the encoded path, never a protocol-relative "//evil.com/...".
    const tricky = await rawGet(port, "/%2Fevil.com/..%2Fsub");
    assert.equal(tricky.status, 301);
    assert.equal(tricky.headers.location, "/%2Fevil.com/..%2Fsub/");
    assert.equal(new URL(tricky.headers.location, srv.url).origin, new URL(srv.url).origin);
    // A pathname that is "//host/..." after dot-segment removal is refused outright.
    const dotted = await rawGet(port, "/.//evil.com/../sub");
    assert.equal(dotted.status, 400);
    assert.equal(dotted.headers.location, undefined);
  } finally {
    await srv.close();
    rmSync(parent, { recursive: true, force: true });
  }
  assert.ok(!existsSync(secret), "the secret file is removed");
});

test("serve.mjs as a command prints the URL (port 0: a free one) and serves www/dist-like roots", async () => {
  const root = mkdtempSync(join(tmpdir(), "edgerec-serve-"));
  writeFileSync(join(root, "index.html"), "hi");
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, [join(www, "serve.mjs"), "0", "--root", root], { stdio: ["ignore", "pipe", "pipe"] });
  try {
    const line = await new Promise((ok, fail) => {
      let out = "";
      child.stdout.on("data", (d) => { out += d; if (out.includes("\n")) ok(out); });
      child.on("exit", (c) => fail(new Error(`exited ${c}`)));
      setTimeout(() => fail(new Error("no output")), 5000);
    });
    const url = line.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
    assert.ok(url && Number(url[1]) > 0, line);
    assert.equal(await (await fetch(url[0])).text(), "hi");
  } finally {
    child.kill();
    rmSync(root, { recursive: true, force: true });
  }
});

/** A GET with the path exactly as given: { status, headers, body }. */
async function rawGet(port, path) {
  const net = await import("node:net");
  return new Promise((ok, fail) => {
    const s = net.connect(port, "127.0.0.1", () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let data = "";
    s.on("data", (d) => { data += d; });
    s.on("end", () => {
      const [head, ...rest] = data.split("\r\n\r\n");
      const [statusLine, ...lines] = head.split("\r\n");
      const headers = {};
      for (const l of lines) {
        const at = l.indexOf(":");
        headers[l.slice(0, at).trim().toLowerCase()] = l.slice(at + 1).trim();
      }
      ok({ status: Number(statusLine.split(" ")[1]), headers, body: rest.join("\r\n\r\n") });
    });
    s.on("error", fail);
  });
}

test("catalogue titles read in natural order, and search finds either form", () => {
  const cases = {
    "Matrix, The (1999)": "The Matrix (1999)",
    "Usual Suspects, The": "The Usual Suspects",
    "Jetée, La (1962)": "La Jetée (1962)",
    "Good, the Bad and the Ugly, The (Buono, il brutto, il cattivo, Il) (1966)": "The Good, the Bad and the Ugly (Buono, il brutto, il cattivo, Il) (1966)",
    "Toy Story (1995)": "Toy Story (1995)",
    "Hellboy II: The Golden Army (2008)": "Hellboy II: The Golden Army (2008)",
    "Crouching Tiger, Hidden Dragon (Wo hu cang long) (2000)": "Crouching Tiger, Hidden Dragon (Wo hu cang long) (2000)",
  };
  for (const [catalog, natural] of Object.entries(cases)) assert.equal(displayTitle(catalog), natural, catalog);
  const forms = (t) => [fold(displayTitle(t)), fold(t)];
  for (const q of ["the matrix", "matrix", "Matrix (1999)", "The Matrix 1999", "MATRIX, the"]) {
    assert.ok(matchRank(fold(q), forms("Matrix, The (1999)")) >= 0, q);
  }
  assert.equal(matchRank(fold("matrix"), forms("Matrix, The (1999)")), 0, "a prefix of the catalogue form");
  assert.equal(matchRank(fold("jetee"), forms("Jetée, La (1962)")), 0, "accents do not matter");
  assert.equal(matchRank(fold("atrix"), forms("Matrix, The (1999)")), 2, "inside a word ranks last");
  assert.equal(matchRank(fold("toy story"), forms("Matrix, The (1999)")), -1);
});

test("text pins that do not look English are noticed, English ones are not", () => {
  for (const t of ["une comédie de cambriolage à Paris", "eine gemütliche Komödie über einen Raub", "una comedia de atracos en París", "宇宙で迷子になった宇宙飛行士", "Космическая одиссея"]) {
    assert.equal(looksNonEnglish(t), true, t);
  }
  for (const t of ["a cozy heist comedy in Paris", "Astronauts stranded on Mars", "Die Hard with a vengeance", "Tour de France documentary", "Amélie", "heist", "la dolce vita"]) {
    assert.equal(looksNonEnglish(t), false, t);
  }
});
