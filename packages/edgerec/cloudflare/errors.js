// How the wasm's errors become HTTP answers: by their `code` alone, never by their message (a
// message quotes the request, so matching it would let user text change the status).
import { HttpError } from "./http.js";

/** Any failed load: the model or catalog is missing, truncated, corrupt or mismatched. */
export const LOAD_FAILED = Object.freeze({
  status: 503,
  code: "unavailable",
  message: "the model or catalog could not be loaded; try again later",
  retryAfter: "5",
});

const atLoad = Object.freeze({ ...LOAD_FAILED, when: "load" });

/**
 * Every code the wasm module throws (its Rust enum, `errorCodes()`, less the native-only `io`)
 * and the answer it gets. `message: null` sends the wasm's own message, which describes the
 * request and is safe to show; a string replaces it (the wasm's is then logged). The codes
 * marked `when: "load"` come from loading the assets: that load fails and every request waiting
 * for it gets the load's 503. tests/wasm/error_codes.test.mjs checks that these keys are the
 * wasm's codes, exactly.
 */
export const WASM_ERROR_HTTP = Object.freeze({
  invalid_input: Object.freeze({ status: 400, code: "invalid_input", message: null }),
  limit_exceeded: Object.freeze({ status: 413, code: "limit_exceeded", message: null }),
  inference_failed: Object.freeze({ status: 500, code: "inference_failed", message: "the model failed on this input" }),
  // Text pins on a deployment without the text model: permanent for it, so 501 and no Retry-After.
  encoder_unavailable: Object.freeze({ status: 501, code: "model_unavailable", message: "only pins that are catalog items can be used" }),
  // Wasm memory could not grow for this request: the instance is intact, a later retry may fit.
  resource_exhausted: Object.freeze({
    status: 503, code: "resource_exhausted", message: "not enough memory for this request right now; try again later", retryAfter: "5",
  }),
  invalid_model: atLoad,
  invalid_tokenizer: atLoad,
  invalid_catalog: atLoad,
  model_mismatch: atLoad,
});

/** Why this deployment has no text model (`svc.model`: "disabled" | "not_deployed" | "loaded"). */
function noModelReason(model) {
  return {
    disabled: "this deployment runs without the text model (EDGEREC_MODEL=off)",
    not_deployed: "this deployment has no text model",
  }[model] ?? "this deployment has no text model loaded";
}

/** The 501 for a request that needs the text model on a deployment without it. */
export function modelUnavailable(svc) {
  const { status, code, message } = WASM_ERROR_HTTP.encoder_unavailable;
  return new HttpError(status, code, `${noModelReason(svc.model)}: ${message}`);
}

/**
 * A wasm error (not a trap: see load.js) as an HttpError, by its code. Anything without a known
 * code is returned as it is: a bug, answered 500 `internal` and logged by the entry point.
 */
export function fromWasmError(e, svc) {
  const answer = Object.hasOwn(WASM_ERROR_HTTP, e?.code ?? "") ? WASM_ERROR_HTTP[e.code] : null;
  if (!answer) return e;
  if (e.code === "encoder_unavailable") return modelUnavailable(svc);
  if (answer.message !== null) console.error(`edgerec: ${e.code}:`, e.message);
  const headers = answer.retryAfter ? { "retry-after": answer.retryAfter } : {};
  return new HttpError(answer.status, answer.code, answer.message ?? e.message, headers);
}
