// The Worker's variables as the handler reads them: one configuration per isolate, set by
// createHandler and read by every entrypoint (the fetch handler and EdgerecShard alike).

/** The variables the handler reads, and their values when neither the Worker nor `env` sets one. */
export const DEFAULT_VARS = Object.freeze({ EDGEREC_MODEL: "on", LOAD_WAIT_MS: "5000", CORS_ORIGINS: "*" });

let configured = { assets: "ASSETS", defaults: {} };

/** Sets the isolate's configuration (createHandler's checked `assets` and `env` options). */
export function configure(assets, defaults) {
  configured = { assets, defaults };
}

/** `env` with the defaults filled in and the Static Assets binding as `ASSETS`. */
export function workerEnv(env) {
  const { assets, defaults } = configured;
  const binding = typeof assets === "string" ? env?.[assets] : assets;
  return { ...DEFAULT_VARS, ...defaults, ...env, ASSETS: binding };
}
