// A sharded catalog in workerd: the movielens catalog cut into 3 shards (edgerec shard), served
// by a front Worker and 3 shard Workers over service bindings (Miniflare `workers`). The front
// answers as the whole-catalog Worker does; a shard that fails or hangs gives flagged partial
// answers, never a hang, and the front recovers when it is back; a shard of another set fails
// the front's load with a typed error.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repo } from "../../scripts/assets.mjs";
import { buildSharded } from "../scripts/build-sharded.mjs";
import { CHAOS_PROXY, PATIENT, startSharded, startWorker } from "../scripts/miniflare.mjs";
import { FIVE_BOARDS, get, ids, post } from "../scripts/client.mjs";
import { fullBuild } from "./gate.mjs";

fullBuild();
const edgerec = join(repo, "target", "debug", "edgerec");
const catalog = join(repo, ".cache", "assets", "movielens.bin");
let tmp, workers;

const CONTEXTS = [
  FIVE_BOARDS,
  { boards: [{ name: "Sci-fi night", pins: [...ids("1200 541 2571"), { title: "a cozy heist comedy in Paris" }] }], k: 12 },
  { ...FIVE_BOARDS, target_board: "Space", exclude: ["1", "2"], diversity: 0.3, k: 25 },
  { boards: [{ name: "liked", pins: ids("1 2 3 4 5 6 7 8 9 10") }, { name: "horror", pins: [] }], k: 10 },
];

before(() => {
  tmp = mkdtempSync(join(tmpdir(), "edgerec-sharded-"));
  execFileSync(edgerec, ["shard", "--catalog", catalog, "--shards", "3", "--out", join(tmp, "set")], { stdio: "pipe" });
  workers = buildSharded({ setDir: join(tmp, "set"), outDir: join(tmp, "workers") });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function assertSameAnswer(whole, sharded, what) {
  assert.equal(sharded.partial, false, `${what}: ${JSON.stringify(sharded.missing_shards)}`);
  assert.deepEqual(sharded.items.map((i) => i.id), whole.items.map((i) => i.id), `${what}: ids and order`);
  sharded.items.forEach((it, n) => {
    assert.ok(Math.abs(it.score - whole.items[n].score) <= 1e-5, `${what}: score of ${it.id}`);
    assert.deepEqual(it.reason, whole.items[n].reason, `${what}: reason of ${it.id}`);
  });
  assert.equal(sharded.embedded_texts, whole.embedded_texts);
  assert.equal(sharded.catalog_id, whole.catalog_id, "the set's id is the whole catalog's");
}

test("the front and 3 shards answer as the whole-catalog Worker, text pins included", async () => {
  const whole = [];
  const single = await startWorker({ vars: PATIENT });
  try {
    for (const c of CONTEXTS) whole.push((await post(single.url, "/v1/recommend", c)).json);
  } finally {
    await single.mf.dispose();
  }
  const { mf, url } = await startSharded({ dir: join(tmp, "workers"), vars: PATIENT });
  try {
    const health = await get(url, "/v1/health");
    assert.equal(health.status, 200, health.text);
    assert.equal(health.json.role, "front");
    assert.equal(health.json.shards, 3);
    assert.equal(health.json.catalog_items, 9742);
    for (const [n, c] of CONTEXTS.entries()) {
      const res = await post(url, "/v1/recommend", c);
      assert.equal(res.status, 200, res.text);
      assertSameAnswer(whole[n], res.json, `context ${n}`);
    }
    // A bad request is the same typed error as on one Worker.
    const bad = await post(url, "/v1/recommend", { boards: "nope" });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, "invalid_input");
    const embed = await post(url, "/v1/embed", { texts: ["cozy reading nook"] });
    assert.equal(embed.status, 200, embed.text);
    assert.equal(embed.json.dim, 384);
    // A shard does not answer the public routes' recommend, and is not a front.
    const shardHealth = await (await mf.getWorker("shard-1")).fetch("http://shard/v1/health");
    assert.equal((await shardHealth.json()).role, "shard");
  } finally {
    await mf.dispose();
  }
});

test("a shard that fails or hangs: flagged partial answers within the timeout, then recovery", async () => {
  const { mf, url } = await startSharded({
    dir: join(tmp, "workers"),
    vars: { ...PATIENT, SHARD_TIMEOUT_MS: "800" },
    proxy: (i) => (i === 1 ? CHAOS_PROXY : null),
  });
  try {
    const full = (await post(url, "/v1/recommend", FIVE_BOARDS)).json;
    assert.equal(full.partial, false);
    const chaos = await mf.getWorker("proxy-1");
    for (const mode of ["down", "hang"]) {
      await chaos.fetch(`http://chaos/chaos/${mode}`);
      const t0 = Date.now();
      const res = await post(url, "/v1/recommend", FIVE_BOARDS);
      const ms = Date.now() - t0;
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.partial, true, mode);
      assert.deepEqual(res.json.missing_shards, [1]);
      assert.equal(res.json.items.length, FIVE_BOARDS.k, "the other shards' items fill the answer");
      // A hung shard costs one timeout per step it misses (it is skipped after the first).
      assert.ok(ms < 800 * 2 + 2000, `${mode}: answered in ${ms} ms`);
      await chaos.fetch("http://chaos/chaos/up");
      const back = await post(url, "/v1/recommend", FIVE_BOARDS);
      assert.equal(back.json.partial, false, `recovered after ${mode}`);
      assert.deepEqual(back.json.items, full.items);
    }
  } finally {
    await mf.dispose();
  }
});

test("a shard of another set fails the front's load with a typed 503", async () => {
  const other = join(tmp, "other");
  execFileSync(edgerec, ["shard", "--catalog", catalog, "--shards", "2", "--out", join(other, "set")], { stdio: "pipe" });
  const otherWorkers = buildSharded({ setDir: join(other, "set"), outDir: join(other, "workers") });
  const mixed = join(tmp, "mixed");
  cpSync(join(tmp, "workers"), mixed, { recursive: true });
  rmSync(join(mixed, "shard-001"), { recursive: true });
  cpSync(otherWorkers.shards[1], join(mixed, "shard-001"), { recursive: true });
  let logs = "";
  const { mf, url } = await startSharded({ dir: mixed, vars: PATIENT, output: (t) => (logs += t) });
  try {
    const res = await post(url, "/v1/recommend", FIVE_BOARDS);
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json.error.code, "unavailable");
    await new Promise((r) => setTimeout(r, 200));
    assert.match(logs, /shard 1 \(SHARD_1\): invalid catalog: shard 1 is shard 1 of 2/, logs);
  } finally {
    await mf.dispose();
  }
});
