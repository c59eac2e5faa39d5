// A sharded catalog's front (`edgerec index --shards`): it answers /v1/recommend by asking every
// shard over its service binding, twice (lookup, then candidates: see the crate's rank::fanout;
// now and then a third and rarely a fourth time, for what a shard did not send: see `more`);
// the shards answer through their EdgerecShard entrypoint (shard.js, Workers RPC). A shard
// that fails or does not answer in SHARD_TIMEOUT_MS is left out of the rest of that request:
// the answer is then marked partial (`partial: true, missing_shards: [i]`); when no shard
// answers it is a 503. Never a hang.
import { HttpError, respond } from "./http.js";
import { DEFAULT_SHARD_TIMEOUT_MS, callShard, inWasm } from "./load.js";

/** Adds up the time spent in synchronous sections (see load.js CpuMeter: wall time = CPU time there). */
function meter() {
  let ms = 0;
  return {
    run(fn) {
      const t0 = performance.now();
      try {
        return fn();
      } finally {
        ms += performance.now() - t0;
      }
    },
    get ms() {
      return ms;
    },
  };
}

/**
 * Asks every shard not yet `missing`: `message(i)` its body; null for a shard that failed (or,
 * with `some`, that has no message: it is not asked).
 */
async function fanout(env, svc, step, message, missing, timeoutMs, some = false) {
  return Promise.all(
    svc.bindings.map(async (binding, i) => {
      if (missing.has(i) || (some && message(i) === null)) return null;
      try {
        return await callShard(env, binding, step, message(i), timeoutMs);
      } catch (e) {
        console.error(`edgerec: shard ${i} (${binding}) failed at ${step}: ${e.message}`);
        missing.add(i);
        return null;
      }
    }),
  );
}

/** POST /v1/recommend on a front: the board context (`text`, checked by the route) through the shards. */
export async function frontRecommend(text, svc, env) {
  const cpu = meter();
  const timeoutMs = Number(env.SHARD_TIMEOUT_MS ?? DEFAULT_SHARD_TIMEOUT_MS);
  const req = cpu.run(() => inWasm(svc, () => svc.front.beginJson(text)));
  const missing = new Set();
  try {
    const lookup = cpu.run(() => req.lookup());
    const lookups = await fanout(env, svc, "lookup", () => lookup, missing, timeoutMs);
    const query = cpu.run(() => inWasm(svc, () => req.query(lookups)));
    const candidates = await fanout(env, svc, "candidates", () => query, missing, timeoutMs);
    if (missing.size === svc.bindings.length) {
      throw new HttpError(503, "unavailable", "no shard of the catalog answered; try again later", { "retry-after": "5" });
    }
    // What a shard did not send with its candidates (now and then: the features of more of the
    // whole catalog's best than it scored, or vector codes): only those shards asked.
    let asks = cpu.run(() => inWasm(svc, () => req.pick(candidates)));
    while (asks.some((m) => m !== null)) {
      const more = await fanout(env, svc, "more", (i) => asks[i], missing, timeoutMs, true);
      asks = cpu.run(() => inWasm(svc, () => req.more(more)));
    }
    const out = cpu.run(() => inWasm(svc, () => req.finish()));
    const cpuMs = Math.round(cpu.ms);
    const partial = [...missing].sort((a, b) => a - b);
    const flag = partial.length ? `"partial":true,"missing_shards":${JSON.stringify(partial)},` : `"partial":false,`;
    return respond(200, `{"cpu_ms":${cpuMs},${flag}${out.slice(1)}`, { "server-timing": `cpu;dur=${cpuMs}` });
  } finally {
    req.free();
  }
}

