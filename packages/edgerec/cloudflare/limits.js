/**
 * Request limits. The body sizes and `embedTexts` are checked here, before anything reaches the
 * wasm (which has its own limits besides). The text counts bound the encoder's CPU time per
 * request (up to ~0.5 s for a 256-token text on a slow core) well inside the 30 s default of the
 * Paid plan.
 */
export const LIMITS = Object.freeze({
  recommendBodyBytes: 1024 * 1024,
  embedBodyBytes: 256 * 1024,
  embedTexts: 32,
  /**
   * Pins one recommend request may have embedded on the fly (no `id`, `id: null`, or an id that
   * is not a catalog item, with text). Enforced by the wasm itself (`Recommender.maxTextPins`),
   * where the pins are resolved against the catalog: it answers `limit_exceeded`.
   */
  textPins: 32,
  /** A front's message to a shard (the pins' vectors and the query: a few hundred KiB at most). */
  shardBodyBytes: 8 * 1024 * 1024,
});
