// The edgerec Cloudflare Worker: the npm package's handler with this project's wrangler.toml
// (the Static Assets binding, the vars). A Worker of your own is these same lines.
//
//   POST /v1/recommend   board context (JSON) → ranked catalog items with scores and reasons
//   POST /v1/embed       { "texts": [...] } → one vector per text
//   GET  /v1/health      model id, catalog id, versions, wasm memory in use, loads so far
import { createHandler } from "edgerec/cloudflare";

// A sharded catalog's shard answers its front over Workers RPC through this entrypoint (the
// front's service bindings name it); a Worker that is not a shard never hears from it.
export { EdgerecShard } from "edgerec/cloudflare";
export default createHandler();
