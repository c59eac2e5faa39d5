// The three routes. Each checks what it can without the wasm first (content type, size, shape),
// then waits for the isolate's one load and calls into the wasm through inWasm().
import { modelUnavailable } from "./errors.js";
import { HttpError, parseJson, readBody, requireBody, requireJson, respond } from "./http.js";
import { LIMITS } from "./limits.js";
import { inWasm, isolateStats, ready, wasmVersions } from "./load.js";
import { frontRecommend } from "./sharded.js";

/**
 * Runs the synchronous part of a request, which returns a JSON object's text, and puts `cpu_ms`
 * first in it. The section does no I/O, so its wall time is its CPU time. workerd's clock has a
 * 1 ms resolution; locally (wrangler dev, Miniflare) it advances during computation, but
 * deployed on Cloudflare it only advances at I/O, so there cpu_ms reads 0 and the platform's own
 * CPU time (Workers Logs / `wrangler tail`: cpuTime) is the figure to go by.
 */
function timed(earlierMs, computeText) {
  const t0 = performance.now();
  const text = computeText();
  const cpuMs = Math.round(earlierMs + (performance.now() - t0));
  return respond(200, `{"cpu_ms":${cpuMs},${text.slice(1)}`, { "server-timing": `cpu;dur=${cpuMs}` });
}

/** The board context goes to the wasm as the text it came as: it parses and checks it there. */
async function recommend(request, env, ctx) {
  requireJson(request);
  const text = requireBody(await readBody(request, LIMITS.recommendBodyBytes));
  const svc = await ready(env, ctx);
  // The role is the manifest's: a sharded catalog's front asks its shards.
  if (svc.role === "front") return frontRecommend(text, svc, env);
  return timed(0, () => inWasm(svc, () => svc.recommender.recommendJson(text)));
}

async function embed(request, env, ctx) {
  requireJson(request);
  const body = await readBody(request, LIMITS.embedBodyBytes);
  const t0 = performance.now();
  const value = parseJson(body);
  const parseMs = performance.now() - t0;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new HttpError(400, "invalid_input", 'the body must be an object: { "texts": ["...", ...] }');
  }
  const extra = Object.keys(value).filter((k) => k !== "texts");
  if (extra.length) throw new HttpError(400, "invalid_input", `unknown field ${JSON.stringify(extra[0])}: expected only "texts"`);
  const { texts } = value;
  if (!Array.isArray(texts) || texts.length === 0) throw new HttpError(400, "invalid_input", "texts must be a non-empty array of strings");
  const bad = texts.findIndex((t) => typeof t !== "string");
  if (bad >= 0) throw new HttpError(400, "invalid_input", `texts[${bad}] is not a string`);
  if (texts.length > LIMITS.embedTexts) {
    throw new HttpError(413, "limit_exceeded", `texts has ${texts.length} entries; the limit is ${LIMITS.embedTexts} per request`);
  }
  const svc = await ready(env, ctx);
  if (svc.model !== "loaded" || !svc.embedder) throw modelUnavailable(svc);
  return timed(parseMs, () => {
    const flat = inWasm(svc, () => svc.embedder.embed(texts));
    const dim = flat.length / texts.length;
    const vectors = texts.map((_, i) => Array.from(flat.subarray(i * dim, (i + 1) * dim)));
    return JSON.stringify({ embedded_texts: texts.length, model_id: svc.modelId, dim, vectors });
  });
}

async function health(_request, env, ctx) {
  const svc = await ready(env, ctx);
  const { loads, wasmBytes } = isolateStats();
  const { edgerec, wasm } = wasmVersions();
  return respond(
    200,
    JSON.stringify({
      status: "ok",
      model: svc.model,
      model_kind: svc.modelKind,
      model_id: svc.modelId,
      catalog_model_id: svc.catalogModelId,
      catalog_id: svc.catalogId,
      catalog_items: svc.items,
      role: svc.role,
      ...(svc.role === "front" ? { shards: svc.bindings.length } : {}),
      ...(svc.role === "shard" ? { shard: { index: svc.description.index, count: svc.description.count, set: svc.description.set } } : {}),
      versions: { edgerec, worker: svc.manifest.worker_version ?? null, wasm, manifest: svc.manifest.format },
      memory: { wasm_bytes: wasmBytes },
      loads,
      load_ms: svc.loadMs,
      load_cpu_ms: svc.loadCpuMs,
      loaded_at: svc.loadedAt,
    }),
  );
}

/** path → method → handler(request, env, ctx) */
export const ROUTES = Object.freeze({
  "/v1/recommend": { POST: recommend },
  "/v1/embed": { POST: embed },
  "/v1/health": { GET: health },
});
