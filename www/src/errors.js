// The typed error both sides of the harness use. The worker sends `{ code, message }` across
// postMessage; the page rebuilds an `EdgerecError` from it.

/**
 * Every error code the harness can reject with. The first seven come from the wasm module
 * (see pkg/edgerec.d.ts); the rest are the harness's own.
 * @type {readonly string[]}
 */
export const ERROR_CODES = Object.freeze([
  // from the wasm module
  "invalid_model", // the model bundle is not a valid edge model
  "invalid_tokenizer",
  "invalid_catalog", // the catalog bundle is truncated, foreign or corrupt
  "model_mismatch", // the catalog was built with another model
  "invalid_input", // a bad request or bad options (wrong types, empty context, ...)
  "limit_exceeded", // a request over a documented limit (the message names it)
  "inference_failed",
  // from the harness
  "load_failed", // a download failed (network error, HTTP status) or the cache could not be read
  "integrity_error", // downloaded bytes do not match the expected SHA-256 or size
  "unsupported", // this browser (or this build of pkg/) lacks something the harness needs
  "worker_failed", // the Web Worker could not start, or its wasm instance trapped
  "closed", // the recommender was closed
  "aborted", // the AbortSignal passed to createRecommender fired
  "internal", // an error without a code: a bug, please report it
]);

/** An Error with a stable `code` (one of ERROR_CODES). */
export class EdgerecError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = "EdgerecError";
    this.code = code;
  }
}

/** Turns anything thrown into `{ code, message }` for postMessage. */
export function toWire(err) {
  if (err && typeof err === "object" && typeof err.code === "string" && ERROR_CODES.includes(err.code)) {
    return { code: err.code, message: String(err.message) };
  }
  if (err instanceof WebAssembly.RuntimeError) {
    return { code: "worker_failed", message: `the wasm instance trapped: ${err.message}` };
  }
  const message = err && typeof err === "object" && "message" in err ? String(err.message) : String(err);
  return { code: "internal", message };
}

/** Rebuilds an EdgerecError from `{ code, message }`. */
export function fromWire(e) {
  return new EdgerecError(e.code, e.message);
}
