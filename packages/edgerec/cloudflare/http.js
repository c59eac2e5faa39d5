// HTTP plumbing of the Worker: typed errors, JSON responses with CORS, and reading a bounded
// body. Nothing here touches the wasm.

/** An error answered as `{ error: { code, message } }` with `status` (and extra headers). */
export class HttpError extends Error {
  constructor(status, code, message, headers = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

const CORS_COMMON = Object.freeze({
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-allow-headers": "content-type",
  "access-control-max-age": "86400",
});

/**
 * The CORS headers for `request` under the `CORS_ORIGINS` variable: `*` (the default) lets
 * pages of any origin call the Worker; a comma-separated list of origins
 * (`https://shop.example, https://www.shop.example`) lets those only (the caller's origin is
 * echoed, with `Vary: Origin`); `none` sends no CORS headers (same-origin pages and servers only).
 */
export function corsHeaders(request, env) {
  const setting = String(env?.CORS_ORIGINS ?? "*").trim();
  if (setting === "*") return { "access-control-allow-origin": "*", ...CORS_COMMON };
  if (setting === "" || setting.toLowerCase() === "none") return {};
  // Origins compare case-insensitively (browsers send them lower-cased).
  const allowed = setting.split(",").map((o) => o.trim().replace(/\/+$/, "").toLowerCase()).filter(Boolean);
  const origin = request.headers.get("origin");
  if (origin && allowed.includes(origin.toLowerCase())) return { "access-control-allow-origin": origin, vary: "Origin", ...CORS_COMMON };
  return { vary: "Origin" };
}

/** `response` with the CORS headers for `request` (a Response the Worker made: its headers are mutable). */
export function withCors(response, request, env) {
  for (const [name, value] of Object.entries(corsHeaders(request, env))) response.headers.set(name, value);
  return response;
}

/** How much of an oversized body is read and dropped before answering 413. */
const DRAIN_BYTES = 4 * 1024 * 1024;

export function respond(status, bodyText, headers = {}) {
  return new Response(bodyText, {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers },
  });
}

export function errorResponse(e) {
  return respond(e.status, JSON.stringify({ error: { code: e.code, message: e.message } }), e.headers);
}

export function requireJson(request) {
  const type = (request.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") {
    throw new HttpError(415, "unsupported_media_type", "send the body as JSON with content-type: application/json");
  }
}

/** The body as text, refusing more than `limit` bytes (by content-length, or while reading). */
export async function readBody(request, limit) {
  const all = await readBytes(request, limit);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(all);
  } catch {
    throw new HttpError(400, "invalid_json", "the body is not valid UTF-8");
  }
}

/** The body's bytes, refusing more than `limit` (by content-length, or while reading). */
export async function readBytes(request, limit) {
  const declared = request.headers.get("content-length");
  const tooLarge = () => new HttpError(413, "body_too_large", `the body is over the ${limit} byte limit of this route`);
  // A body declared far too large is refused unread; one a little too large is drained below.
  if (declared !== null && Number(declared) > limit + DRAIN_BYTES) throw tooLarge();
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      // Read (and drop) a bounded rest, so that a client still sending gets the 413 rather than
      // a reset connection; past that, stop reading.
      while (size <= limit + DRAIN_BYTES) {
        const next = await reader.read();
        if (next.done) break;
        size += next.value.byteLength;
      }
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return all;
}

/** A body that must be there: an empty one is refused without reaching the wasm. */
export function requireBody(text) {
  if (text.length === 0) throw new HttpError(400, "invalid_json", "the body is empty");
  return text;
}

export function parseJson(text) {
  requireBody(text);
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "invalid_json", "the body is not valid JSON");
  }
}
