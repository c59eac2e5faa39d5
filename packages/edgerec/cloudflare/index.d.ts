// Types of `edgerec/cloudflare`: the fetch handler a Cloudflare Worker delegates to.

/** A Static Assets binding (what `[assets] binding = "ASSETS"` gives a Worker). */
export interface AssetsBinding {
  fetch(request: Request): Promise<Response>;
}

/** The variables the handler reads (all strings, as Worker vars are). */
export interface EdgerecVars {
  /** "on" (default) loads the int8 model and its catalog; "lite" the manifest's lite pair (the
   *  lite model and the catalog it embedded); "off" no model (catalog pins only). */
  EDGEREC_MODEL?: "on" | "lite" | "off";
  /** Milliseconds a request waits for the isolate's load before a 503 `loading` (default "5000"). */
  LOAD_WAIT_MS?: string;
  /** "*" (default), a comma-separated list of origins, or "none". */
  CORS_ORIGINS?: string;
}

export interface HandlerOptions {
  /** The Static Assets binding with manifest.json and its shards: its name in env (default "ASSETS") or the binding. */
  assets?: string | AssetsBinding;
  /** Defaults for the variables; the Worker's own vars override them. */
  env?: EdgerecVars;
  /** Another wasm-bindgen glue and compiled module than the package's (tests). */
  wasm?: { glue?: unknown; module?: WebAssembly.Module };
}

/** What a Worker exports (or delegates its `fetch` to). */
export interface Handler {
  fetch(request: Request, env: object, ctx: { waitUntil(promise: Promise<unknown>): void }): Promise<Response>;
}

/** Serves POST /v1/recommend, POST /v1/embed and GET /v1/health from the assets `edgerec bundle` wrote. */
export declare function createHandler(options?: HandlerOptions): Handler;

/** The request limits (body bytes, texts, text pins) the handler enforces. */
export declare const LIMITS: Readonly<Record<string, number>>;

/** How each wasm error code is answered: HTTP status, public code, Retry-After. */
export declare const WASM_ERROR_HTTP: Readonly<Record<string, { status: number; code: string; message?: string; retryAfter?: string }>>;

/** The variables' defaults. */
export declare const DEFAULT_VARS: Readonly<Required<EdgerecVars>>;

/**
 * A sharded catalog's shard, reached over Workers RPC: a shard Worker exports it beside its
 * handler (`export { EdgerecShard } from "edgerec/cloudflare"`), and the front's service
 * bindings name it (`entrypoint = "EdgerecShard"`). One method per step of a request; a step
 * that fails rejects (the front then answers without that shard, flagged partial).
 */
export declare class EdgerecShard {
  /** What the front checks at its load: the shard's set, index, item range and protocol. */
  describe(): Promise<Record<string, unknown>>;
  /** Step 1 of a request (the front's message, bytes in, bytes out). */
  lookup(message: Uint8Array): Promise<Uint8Array>;
  /** Step 2: this shard's candidates. */
  candidates(message: Uint8Array): Promise<Uint8Array>;
  /** Now and then: features or vector codes the front needs and did not get. */
  more(message: Uint8Array): Promise<Uint8Array>;
}
