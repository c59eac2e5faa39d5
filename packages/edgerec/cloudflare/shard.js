// A shard of a sharded catalog, reached over Workers RPC: a front's service bindings name this
// entrypoint (`entrypoint = "EdgerecShard"` in its wrangler configuration) and call one method
// per step of a request (see the crate's rank::fanout), bytes in, bytes out. A Worker exports it
// beside its handler:
//
//   import { createHandler } from "edgerec/cloudflare";
//   export { EdgerecShard } from "edgerec/cloudflare";
//   export default createHandler();
//
// RPC rather than fetch: a call goes straight to the Worker's code, with no HTTP request to
// build and parse and no trip through the Static Assets router in front of a Worker's fetch.
// A failed step rejects the call: the front leaves that shard out of the request (partial).
import { WorkerEntrypoint } from "cloudflare:workers";
import { workerEnv } from "./config.js";
import { HttpError } from "./http.js";
import { LIMITS } from "./limits.js";
import { inWasm, ready } from "./load.js";

/** The loaded shard (its first call loads it, as a first request does). */
async function loaded(entry) {
  const svc = await ready(workerEnv(entry.env), entry.ctx);
  if (svc.role !== "shard") throw new HttpError(404, "not_found", "this Worker is not a shard of a sharded catalog");
  return svc;
}

/** One step: the front's message (checked: a Uint8Array within the limit) through the wasm. */
async function step(entry, name, message) {
  if (!(message instanceof Uint8Array)) throw new HttpError(400, "invalid_input", `${name}: a shard step takes a Uint8Array`);
  if (message.byteLength > LIMITS.shardBodyBytes) {
    throw new HttpError(413, "body_too_large", `${name}: the message is over the ${LIMITS.shardBodyBytes} byte limit`);
  }
  const svc = await loaded(entry);
  return inWasm(svc, () => svc.shard[name](message));
}

/** The shard's steps, one method each (the front's `callShard`). */
export class EdgerecShard extends WorkerEntrypoint {
  /** What the front checks at its load: the shard's set, index, item range and protocol. */
  async describe() {
    return (await loaded(this)).description;
  }

  /** Step 1: the pins' vectors and the signals' sums over this shard's items. */
  lookup(message) {
    return step(this, "lookup", message);
  }

  /** Step 2: this shard's candidates. */
  candidates(message) {
    return step(this, "candidates", message);
  }

  /** Now and then: the features or vector codes of candidates the front needs and did not get. */
  more(message) {
    return step(this, "more", message);
  }
}
