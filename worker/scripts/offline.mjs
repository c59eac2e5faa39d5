// The environment that keeps wrangler, Miniflare and workerd off the network (no `Request.cf`
// lookup, no metrics or error reports) and wrangler's banner off: one list for every script here.
export const OFFLINE_ENV = Object.freeze({
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
  WRANGLER_HIDE_BANNER: "true",
});
