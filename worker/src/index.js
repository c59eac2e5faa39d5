// The edgerec Cloudflare Worker.
//
//   POST /v1/recommend   board context (JSON) → ranked catalog items with scores and reasons
//   POST /v1/embed       { "texts": [...] } → one vector per text
//   GET  /v1/health      model id, catalog id, versions, wasm memory in use, loads so far
//
// routes.js has the routes, load.js the isolate's wasm instance and its one load of the model
// and catalog (Static Assets), errors.js how wasm errors map to HTTP, http.js the plumbing.
import { HttpError, errorResponse, withCors } from "./http.js";
import { afterTrap, isolateFailed } from "./load.js";
import { ROUTES } from "./routes.js";

export { LIMITS } from "./limits.js";

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
  return handler(request, env, ctx);
}

export default {
  async fetch(request, env, ctx) {
    return withCors(await answer(request, env, ctx), request, env);
  },
};

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
