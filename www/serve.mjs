#!/usr/bin/env node
// A tiny dependency-free static file server for the demo (www/dist by default), on 127.0.0.1.
//
//   node serve.mjs [port] [--port N] [--root DIR] [--host H]     (env: PORT, EDGEREC_WWW_ROOT)
//
// 127.0.0.1 is a secure context, so the page gets the Cache API. Files are sent with
// `Cache-Control: no-cache` and an ETag (a reload revalidates with a 304; model and catalog are
// kept by the harness in the Cache API and not requested at all).

import { createServer } from "node:http";
import { createReadStream, promises as fs } from "node:fs";
import { extname, join, normalize, resolve, sep, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

export const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".bin": "application/octet-stream",
  ".edgerec": "application/octet-stream",
  ".ts": "text/plain; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

/**
 * Starts the server (`port` 0: a free one; the URL says which). `onRequest(method, path, status)`
 * is called for every request (tests use it to count what the browser asked for).
 * `delivery(req)`, for tests, may return `{ chunkBytes, delayMs, noLength }` to send a file in
 * pieces with pauses between them and/or without a content-length (chunked), or null: at once.
 * @returns {Promise<{ server: import("node:http").Server, url: string, close(): Promise<void> }>}
 */
export function startServer({ root = join(here, "dist"), port = 8080, host = "127.0.0.1", onRequest, delivery } = {}) {
  const rootDir = resolve(root);
  const server = createServer(async (req, res) => {
    let status = 500;
    let path = "?";
    try {
      const raw = new URL(req.url, "http://x").pathname;
      path = decodeURIComponent(raw);
      status = await handle(req, res, rootDir, path, raw, delivery?.(req) ?? null);
    } catch {
      status = 400;
      if (!res.headersSent) res.writeHead(400, { "content-type": "text/plain" });
      res.end("bad request\n");
    }
    onRequest?.(req.method, path, status);
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => {
      server.off("error", fail);
      const url = `http://${host}:${server.address().port}/`;
      ok({ server, url, close: () => new Promise((done) => { server.closeAllConnections?.(); server.close(() => done()); }) });
    });
  });
}

/**
 * `path` is the decoded pathname (to find the file), `raw` the pathname as sent (percent-encoded:
 * what a redirect must echo, since a decoded `/%2Fevil.com/..` would read as `//evil.com/..`).
 */
async function handle(req, res, rootDir, path, raw, shape) {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" });
    res.end("method not allowed\n");
    return 405;
  }
  if (path.includes("\0")) throw new Error("nul");
  // A pathname starting with "//" (only dot-segment tricks such as "/.//host" make one) would be
  // a protocol-relative URL if ever echoed: refuse it.
  if (raw.startsWith("//")) throw new Error("protocol-relative path");
  let file = normalize(join(rootDir, path));
  if (file !== rootDir && !file.startsWith(rootDir + sep)) {
    res.writeHead(403, { "content-type": "text/plain" });
    res.end("forbidden\n");
    return 403;
  }
  let st = await fs.stat(file).catch(() => null);
  if (st && st.isDirectory()) {
    if (!raw.endsWith("/")) {
      res.writeHead(301, { location: raw + "/" });
      res.end();
      return 301;
    }
    file = join(file, "index.html");
    st = await fs.stat(file).catch(() => null);
  }
  if (!st || !st.isFile()) {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found\n");
    return 404;
  }
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const headers = {
    "content-type": MIME[extname(file).toLowerCase()] ?? "application/octet-stream",
    "cache-control": "no-cache",
    etag,
    "x-content-type-options": "nosniff",
  };
  if (req.headers["if-none-match"] === etag) {
    res.writeHead(304, headers);
    res.end();
    return 304;
  }
  res.writeHead(200, shape?.noLength ? headers : { ...headers, "content-length": st.size });
  if (req.method === "HEAD") {
    res.end();
    return 200;
  }
  if (shape) {
    await sendSlowly(res, file, shape);
    return 200;
  }
  await new Promise((done) => {
    const stream = createReadStream(file);
    stream.on("error", () => { res.destroy(); done(); });
    res.on("close", () => { stream.destroy(); done(); });
    stream.pipe(res);
  });
  return 200;
}

/** Sends a file in `chunkBytes` pieces with `delayMs` between them (tests: see download progress). */
async function sendSlowly(res, file, { chunkBytes = 256 * 1024, delayMs = 0 }) {
  const fh = await fs.open(file);
  try {
    const buf = Buffer.alloc(chunkBytes);
    for (;;) {
      if (res.destroyed) return;
      const { bytesRead } = await fh.read(buf, 0, chunkBytes, null);
      if (bytesRead === 0) break;
      if (!res.write(Buffer.from(buf.subarray(0, bytesRead)))) await drained(res);
      if (delayMs > 0) await new Promise((ok) => setTimeout(ok, delayMs));
    }
    res.end();
  } catch {
    res.destroy();
  } finally {
    await fh.close();
  }
}

/** Resolves when `res` can take more (or has closed). */
function drained(res) {
  return new Promise((ok) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      ok();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

function parseArgs(argv) {
  const out = { port: Number(process.env.PORT) || 8080, root: process.env.EDGEREC_WWW_ROOT || join(here, "dist"), host: "127.0.0.1" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--port" || a === "-p") out.port = Number(argv[++i]);
    else if (a === "--root") out.root = argv[++i];
    else if (a === "--host") out.host = argv[++i];
    else if (a === "--help" || a === "-h") {
      console.log("usage: node serve.mjs [port] [--port N] [--root DIR] [--host H]   (env PORT, EDGEREC_WWW_ROOT)");
      process.exit(0);
    } else if (/^\d+$/.test(a)) out.port = Number(a);
    else {
      console.error(`serve.mjs: unknown argument ${a}`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) {
    console.error("serve.mjs: the port must be 0..65535");
    process.exit(2);
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { port, root, host } = parseArgs(process.argv.slice(2));
  try {
    await fs.access(join(root, "index.html"));
  } catch {
    console.error(`serve.mjs: ${root}/index.html is missing: run \`npm --prefix www run build\` first`);
    process.exit(1);
  }
  try {
    const { url } = await startServer({ root, port, host });
    console.log(`edgerec demo: ${url}  (serving ${root}; Ctrl-C to stop)`);
  } catch (err) {
    console.error(`serve.mjs: cannot listen on ${host}:${port}: ${err.message}`);
    process.exit(1);
  }
}
