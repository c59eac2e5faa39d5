// edgerec on Cloudflare Workers: a fetch handler that a Worker's `fetch` delegates to.
//
//   import { createHandler } from "edgerec/cloudflare";
//   export default createHandler();              // { fetch(request, env, ctx) }
//
//   POST /v1/recommend   board context (JSON) → ranked catalog items with scores and reasons
//   POST /v1/embed       { "texts": [...] } → one vector per text
//   GET  /v1/health      model id, catalog id, versions, wasm memory in use, loads so far
//
// routes.js has the routes, load.js the isolate's wasm instance and its one load of the model
// and catalog (Static Assets: the folder `edgerec bundle` writes), shard.js a sharded catalog's
// shard entrypoint (Workers RPC), config.js the variables, errors.js how wasm errors map to
// HTTP, http.js the plumbing. See index.d.ts for the options.
import { configure, workerEnv } from "./config.js";
import { HttpError, errorResponse, withCors } from "./http.js";
import { afterTrap, isolateFailed, useWasm } from "./load.js";
import { ROUTES } from "./routes.js";

export { DEFAULT_VARS } from "./config.js";
export { LIMITS } from "./limits.js";
export { WASM_ERROR_HTTP } from "./errors.js";
export { EdgerecShard } from "./shard.js";

const OPTIONS = new Set(["assets", "env", "wasm"]);

/**
 * The Worker's handler. `assets`: the Static Assets binding holding manifest.json and its shards
 * (its name in the Worker's env, default "ASSETS", or the binding itself); `env`: defaults for
 * the variables (`EDGEREC_MODEL`, `LOAD_WAIT_MS`, `CORS_ORIGINS`), which the Worker's own vars
 * override. One handler per Worker: an isolate loads one model and catalog.
 */
export function createHandler(options = {}) {
  if (options === null || typeof options !== "object") throw new TypeError("createHandler takes an options object");
  for (const k of Object.keys(options)) if (!OPTIONS.has(k)) throw new TypeError(`createHandler: unknown option ${k}`);
  const { assets = "ASSETS", env: defaults = {}, wasm } = options;
  if (!(typeof assets === "string" || typeof assets?.fetch === "function")) {
    throw new TypeError("createHandler: assets must be a binding name or a binding (with fetch)");
  }
  if (defaults === null || typeof defaults !== "object") throw new TypeError("createHandler: env must be an object of variables");
  if (wasm) useWasm(wasm);
  configure(assets, defaults);
  return {
    async fetch(request, env, ctx) {
      const e = workerEnv(env);
      return withCors(await answer(request, e, ctx), request, e);
    },
  };
}

async function route(request, env, ctx) {
  const { pathname } = new URL(request.url);
  const methods = Object.hasOwn(ROUTES, pathname) ? ROUTES[pathname] : null;
  if (!methods) throw new HttpError(404, "not_found", `no route ${pathname}; see /v1/recommend, /v1/embed, /v1/health`);
  if (request.method === "OPTIONS") return new Response(null, { status: 204 });
  const handler = Object.hasOwn(methods, request.method) ? methods[request.method] : null;
  if (!handler) {
    const allow = Object.keys(methods).join(", ");
    throw new HttpError(405, "method_not_allowed", `${pathname} takes ${allow}`, { allow });
  }
  if (!env.ASSETS) throw new HttpError(500, "internal", "the Worker has no Static Assets binding for edgerec's files (createHandler's assets option)");
  return handler(request, env, ctx);
}

/** The answer to `request`, errors included (CORS headers are added to either). */
async function answer(request, env, ctx) {
  try {
    return await route(request, env, ctx);
  } catch (e) {
    if (e instanceof HttpError) return errorResponse(e);
    if (e instanceof WebAssembly.RuntimeError) {
      afterTrap(e, "a request");
      return errorResponse(isolateFailed());
    }
    // Anything else is a bug: log it whole, tell the client nothing about it.
    console.error("edgerec: unexpected error:", e?.stack ?? e);
    return errorResponse(new HttpError(500, "internal", "internal error"));
  }
}
