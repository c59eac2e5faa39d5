// Types of the browser harness (`edgerec`: browser/edgerec.js of the npm package). The request
// and response shapes are the wasm API's own (`edgerec/wasm`, generated from the Rust types into
// edgerec.d.ts at the package's root), so the harness, the Worker and the wasm share one definition.

import type { BoardContext, Limits, Recommendations } from "../edgerec";

export type { BoardContext, Board, Pin, Limits, Recommendations, Recommendation, Reason, Signal } from "../edgerec";

/**
 * The codes the wasm module throws: `edgerec/wasm`'s `ErrorCode` without the native-only `io`
 * (tests/wasm/error_codes.test.mjs keeps the lists equal).
 */
export type WasmErrorCode =
  | "invalid_model"
  | "invalid_tokenizer"
  | "invalid_input"
  | "limit_exceeded"
  | "invalid_catalog"
  | "model_mismatch"
  | "inference_failed"
  /** Text pins need the model, and none is loaded. */
  | "encoder_unavailable"
  /** Wasm memory could not grow for this request (the recommender keeps working). */
  | "resource_exhausted";

/** Every code an `EdgerecError` can carry: the wasm module's and the harness's own. */
export type ErrorCode =
  | WasmErrorCode
  /** A download failed (network error, HTTP status) or a manifest is malformed. */
  | "load_failed"
  /** The downloaded bytes do not match the expected SHA-256 (or size). */
  | "integrity_error"
  /** The browser lacks Web Workers, WebAssembly or SIMD. */
  | "unsupported"
  /** The Web Worker could not start, or its wasm instance trapped (it cannot be used again). */
  | "worker_failed"
  /** The recommender was closed. */
  | "closed"
  /** The AbortSignal given to createRecommender fired. */
  | "aborted"
  /** An error without a code: a bug. */
  | "internal";

export declare const ERROR_CODES: readonly ErrorCode[];

/** A file in a manifest: the concatenation of its shards (each ≤ 24 MiB), URLs relative to the manifest. */
export interface ManifestEntry {
  name: string;
  bytes: number;
  sha256: string;
  shards: { url: string; bytes: number; sha256: string }[];
}

/** manifest.json as `edgerec bundle` writes it (and the repository's builds, scripts/assets.mjs). */
export interface Manifest {
  format: 2;
  built_at?: string;
  shard_max_bytes: number;
  edgerec_version: string | null;
  /** The wasm builds to load; absent: the package's own. */
  wasm?: { simd128?: ManifestEntry; relaxed?: ManifestEntry };
  catalog: ManifestEntry;
  model: ManifestEntry | null;
  /** `edgerec bundle`: the catalog's content id, its model, its item count. */
  catalog_id?: string;
  model_id?: string;
  items?: number;
  /** www only: the demo's title search. */
  titles?: ManifestEntry;
}

/** The error every promise of the harness rejects with. */
export declare class EdgerecError extends Error {
  readonly name: "EdgerecError";
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string);
}

/** A file by URL and content hash: cached in the Cache API under the hash, verified on download. */
export interface AssetRef {
  url: string | URL;
  /** 64 hex digits. Without it the file is downloaded every time and not cached. */
  sha256?: string | null;
  /** Expected size in bytes (progress total; a mismatch is an `integrity_error`). */
  bytes?: number | null;
}

/** A model or catalog: a URL (downloaded every time), a hashed reference (cached), or the bytes. */
export type Asset = string | URL | AssetRef | Uint8Array | ArrayBuffer | ArrayBufferView;

export type Phase = "wasm" | "catalog" | "model" | "init";

export interface Progress {
  /** `wasm`, `catalog`, `model`: bytes of that file; `init`: 0 of 1, then 1 of 1 when ready. */
  phase: Phase;
  loaded: number;
  /** null when the size is not known in advance. */
  total: number | null;
  /** Where the bytes come from (null for `init`). */
  source: "network" | "cache" | "memory" | null;
}

export interface CreateOptions {
  /**
   * URL of a manifest (`Manifest`: format 2, entries of `{ name, bytes, sha256, shards }`, URLs
   * relative to it). Explicit `catalog`, `model` and `wasm` options win over its entries.
   */
  manifest?: string | URL;
  /** The catalog bundle (`edgerec index`). Required unless the manifest lists one. */
  catalog?: Asset;
  /**
   * The model: `"lite"` loads the manifest's lite pair (the lite model, `edgerec distill`, and
   * the catalog it embedded), `"int8"` its default pair; or a model bundle itself (the int8 edge
   * model, `edgerec quantize`, or a lite model). Without one, pins must be catalog items.
   */
  model?: "int8" | "lite" | Asset | null;
  /** Byte-level download and init progress. */
  onProgress?: (p: Progress) => void;
  /** Aborts loading (rejects with code `aborted`). */
  signal?: AbortSignal;
  /**
   * A folder with another wasm glue (edgerec.js) and builds (default: the package's own). The
   * package's glue is still imported by its worker (statically, so that bundlers include it).
   */
  pkg?: string | URL;
  /** The two wasm builds; `relaxed: null` never tries the relaxed-SIMD build. */
  wasm?: { simd128?: string | URL; relaxed?: string | URL | null };
  /** `auto` (default): relaxed SIMD when the browser has it and the build exists. */
  simd?: "auto" | "relaxed" | "simd128";
  /** Cache API cache name (default `edgerec-v1`), or false to never cache. */
  cache?: boolean | string;
  /** The worker script (default: `./worker.js` next to this file). */
  worker?: string | URL;
  /**
   * Wasm memory never shrinks: when the worker's exceeds this many bytes after a `recommend` or
   * `embed`, a fresh worker is loaded the same way (from the Cache API) and takes over; no call
   * is lost or reordered. Default `DEFAULT_RECYCLE_ABOVE_BYTES` (256 MiB; ~51 MiB after loading
   * the int8 model and the movielens catalog); `Infinity` never recycles. While it is finite, a
   * catalog or model passed as bytes stays referenced, to load the fresh worker with.
   */
  recycleAboveBytes?: number;
}

export interface RecommenderInfo {
  /** The wasm crate version. */
  version: string;
  /** Which wasm build was loaded. */
  simd: "relaxed" | "simd128";
  /** What that build's int8 kernels use, as the wasm reports it. */
  isa: "wasm-relaxed-simd" | "wasm-simd128";
  /** Catalog items. */
  items: number;
  catalogId: string;
  /** The model the catalog was built with. */
  modelId: string;
  /** Whether a model is loaded (free-text pins and `embed` need one). */
  encoder: boolean;
  encoderModelId: string | null;
  /** Which kind of model is loaded: the int8 transformer or the lite static model. */
  encoderKind: "int8" | "lite" | null;
  /** The request limits (e.g. `field_bytes` for a pin's text), to check input before sending it. */
  limits: Limits;
  /** Where each file came from (`wasm`: "cache" when the manifest gave its hash and it was kept). */
  sources: { wasm: "network" | "cache"; catalog: "network" | "cache" | "memory"; model: "network" | "cache" | "memory" | null };
  /** `unavailable` outside secure contexts or when storage is disabled. */
  cache: "on" | "off" | "unavailable";
  /** Always true: files stream straight into wasm memory (`WasmBytes`). */
  streaming: true;
  /** Wasm linear memory after loading, in bytes. */
  wasmMemoryBytes: number;
}

export declare class BrowserRecommender {
  readonly info: Readonly<RecommenderInfo>;
  /** Timing of the last `recommend`: ranking in the worker, and the page's round trip (ms). */
  readonly lastTiming: { workerMs: number; totalMs: number } | null;
  readonly closed: boolean;
  /** Ranks the catalog for a board context. */
  recommend(context: BoardContext): Promise<Recommendations>;
  /** `texts.length × dim` floats, rows of unit norm (needs a model). */
  embed(texts: string[]): Promise<Float32Array>;
  /**
   * Memory in the worker now (the worker's JS heap is null where the browser hides it), and how
   * many times the worker was replaced to give memory back (`recycleError`: why the last
   * replacement failed to load, or null).
   */
  stats(): Promise<{ wasmMemoryBytes: number; workerJsHeapBytes: number | null; recycles: number; recycleError: string | null }>;
  /** Terminates the worker; pending and later calls reject with code `closed`. */
  close(): void;
}

/** Starts the worker, loads wasm, catalog and model, and resolves when it can recommend. */
export declare function createRecommender(options: CreateOptions): Promise<BrowserRecommender>;

export declare const DEFAULT_CACHE_NAME: "edgerec-v1";
export declare const DEFAULT_RECYCLE_ABOVE_BYTES: number;
export declare function relaxedSimdSupported(): boolean;
export declare function simd128Supported(): boolean;
/** Incremental SHA-256 (what the harness keys its cache by: `crypto.subtle` needs a secure context). */
export declare class Sha256 {
  constructor();
  /** Adds bytes; returns this. */
  update(bytes: Uint8Array): Sha256;
  /** The digest as 64 lower-case hex digits (once: the hasher is spent after). */
  hex(): string;
}
