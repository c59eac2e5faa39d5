// The typed error both sides of the harness use. The worker sends `{ code, message }` across
// postMessage; the page rebuilds an `EdgerecError` from it.

/**
 * The codes the wasm module throws: its Rust error enum (`errorCodes()` of `edgerec/wasm`) without the
 * native-only `io`. tests/wasm/error_codes.test.mjs checks that this list is exactly that.
 * @type {readonly string[]}
 */
export const WASM_ERROR_CODES = Object.freeze([
  "invalid_model", // the model bundle is not a valid edge model
  "invalid_tokenizer",
  "invalid_input", // a bad request or bad options (wrong types, empty context, ...)
  "limit_exceeded", // a request over a documented limit (the message names it)
  "invalid_catalog", // the catalog bundle is truncated, foreign or corrupt
  "model_mismatch", // the catalog was built with another model
  "inference_failed",
  "encoder_unavailable", // text pins without a model loaded
  "resource_exhausted", // wasm memory could not grow for this request
]);

/** The harness's own codes. */
export const HARNESS_ERROR_CODES = Object.freeze([
  "load_failed", // a download failed (network error, HTTP status) or the cache could not be read
  "integrity_error", // downloaded bytes do not match the expected SHA-256 or size
  "unsupported", // this browser lacks something the harness needs
  "worker_failed", // the Web Worker could not start, or its wasm instance trapped
  "closed", // the recommender was closed
  "aborted", // the AbortSignal passed to createRecommender fired
  "internal", // an error without a code: a bug, please report it
]);

/**
 * Every error code the harness can reject with: the wasm module's, then the harness's own.
 * @type {readonly string[]}
 */
export const ERROR_CODES = Object.freeze([...WASM_ERROR_CODES, ...HARNESS_ERROR_CODES]);

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
