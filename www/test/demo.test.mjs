// The demo page end to end in headless Chromium: progress while loading, boards and pins
// changing the recommendations, reasons shown, no network traffic while recommending, the
// reload served from the Cache API, typed errors from bad input, a phone-sized layout.
// Screenshots go to www/test-output/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { checkDist, manifest, serve, launch, watchErrors, outputDir, assetPaths } from "./helpers.mjs";

let srv, browser, page, errors, m;

before(async () => {
  checkDist();
  m = manifest();
  // The catalog comes in 256 KiB pieces 40 ms apart (it is downloaded once, then cached), so
  // the bar's byte-level progress can be seen however fast the machine.
  const catalogPaths = new Set(m.catalog.shards.map((s) => `/assets/${s.url}`));
  srv = await serve(0, {
    delivery: (req) => (catalogPaths.has(new URL(req.url, "http://x").pathname) ? { chunkBytes: 256 * 1024, delayMs: 40 } : null),
  });
  browser = await launch();
  page = await browser.context.newPage();
  errors = watchErrors(page);
  // Record every width the progress bar takes while loading, with the text shown beside it.
  await page.addInitScript(() => {
    window.progressStates = [];
    new MutationObserver(() => {
      const fill = document.getElementById("progress-fill");
      const text = document.getElementById("progress-text");
      if (fill && fill.style.width) window.progressStates.push({ w: parseFloat(fill.style.width), text: text ? text.textContent : "" });
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ["style"] });
  });
});

after(async () => {
  await browser?.close();
  await srv?.close();
});

const board = (name) => page.locator(`.board[data-name="${name}"]`);
const generation = () => page.locator("#recs").getAttribute("data-generation").then(Number);
const recIds = () => page.locator("#recs .rec").evaluateAll((els) => els.map((e) => e.dataset.id));
const pinTitles = (name) => board(name).locator(".pin-title").allInnerTexts();

async function ready() {
  await page.waitForFunction(() => document.body.dataset.state !== "loading", null, { timeout: 60_000 });
  assert.equal(await page.evaluate(() => document.body.dataset.state), "ready", await page.locator("#progress-text").innerText());
  await page.waitForFunction(() => Number(document.getElementById("recs").dataset.generation) > 0);
}

/** Runs `action`, then waits until the recommendations were rendered again. */
async function rerendered(action) {
  const g = await generation();
  await action();
  await page.waitForFunction((g0) => Number(document.getElementById("recs").dataset.generation) > g0, g);
}

test("the demo loads with a progress bar and shows recommendations with reasons", async () => {
  await page.goto(srv.url);
  await ready();
  const states = await page.evaluate(() => window.progressStates);
  const widths = states.map((s) => s.w);
  for (let i = 1; i < widths.length; i++) assert.ok(widths[i] >= widths[i - 1], `the bar never moves back: ${widths}`);
  // While the catalog was part-way in (its text says so), the bar stood part-way too: strictly
  // between the start and the 97% of the step after the downloads.
  const partial = states.filter((s) => {
    const c = /catalog ([\d.]+) \/ ([\d.]+) MB/.exec(s.text);
    return c && Number(c[1]) > 0 && Number(c[1]) < Number(c[2]);
  });
  assert.ok(partial.length >= 2, `byte-level progress of the catalog download: ${JSON.stringify(states)}`);
  assert.ok(partial.every((s) => s.w > 0 && s.w < 97), JSON.stringify(partial));
  assert.ok(new Set(partial.map((s) => s.w)).size >= 2, `the bar moved during the download: ${JSON.stringify(partial)}`);
  assert.equal(widths.at(-1), 100);
  assert.ok(await page.locator("#loader.done").count(), "the bar is hidden once ready");
  const recs = page.locator("#recs .rec");
  assert.equal(await recs.count(), 12);
  for (const r of await recs.all()) {
    assert.ok((await r.locator(".rec-title").innerText()).length > 0);
    assert.ok((await r.locator(".reason-text").innerText()).length > 0, "every result shows its reason");
    assert.ok(await r.locator(".signal").isVisible());
  }
  assert.deepEqual(await pinTitles("Pixar night"), ["Toy Story (1995)", "Toy Story 2 (1999)", "Finding Nemo (2003)"]);
  assert.match(await page.locator("#recs-title").innerText(), /Pixar night/);
  assert.match(await page.locator("#timing").innerText(), /ranked 9,742 in [\d.]+ ms/);
  const info = await page.evaluate(() => window.edgerecDemo.rec.info);
  assert.equal(info.sources.catalog, "network");
});

test("adding a pin changes the recommendations and shows why", async () => {
  const before = await recIds();
  const search = board("Pixar night").locator(".pin-search");
  await search.fill("toy story 3");
  const suggestion = board("Pixar night").locator(".suggestion").first();
  await suggestion.waitFor();
  assert.match(await suggestion.innerText(), /Toy Story 3 \(2010\)/);
  await rerendered(() => search.press("Enter"));
  assert.deepEqual(await pinTitles("Pixar night"), ["Toy Story (1995)", "Toy Story 2 (1999)", "Finding Nemo (2003)", "Toy Story 3 (2010)"]);
  const after = await recIds();
  assert.notDeepEqual(after, before, "the recommendations changed");
  assert.ok(!after.includes("78499"), "the pinned movie is not recommended");
  const first = page.locator("#recs .rec").first();
  const reason = await first.locator(".reason-text").innerText();
  assert.ok(reason.length > 0 && (await first.locator(".reason-text").isVisible()));
  assert.ok(
    (await page.locator("#recs .reason-text").allInnerTexts()).some((t) => t.includes("Toy Story 3 (2010)")),
    "a reason names the new pin",
  );
  await page.screenshot({ path: join(outputDir(), "demo-desktop.png"), fullPage: true, animations: "disabled" });
});

test("boards can be added, renamed, targeted and removed; results follow", async () => {
  const boards = page.locator(".board");
  const n = await boards.count();
  await rerendered(() => page.locator("#add-board").click());
  assert.equal(await boards.count(), n + 1);
  const fresh = boards.last();
  assert.equal(await fresh.locator(".target").getAttribute("aria-pressed"), "true", "a new board is the target");
  const name = fresh.locator(".board-name");
  const freshName = await fresh.getAttribute("data-name");
  // Names are unique (a request names its target board): another board's name is refused.
  await name.fill("Space");
  assert.equal(await name.getAttribute("aria-invalid"), "true");
  assert.ok(await fresh.locator(".name-taken").isVisible(), "the demo says why");
  assert.equal(await fresh.getAttribute("data-name"), freshName, "the board keeps its name");
  assert.equal(await page.locator('.board[data-name="Space"]').count(), 1);
  await name.blur(); // leaving the field puts the board's name back
  assert.equal(await name.inputValue(), freshName);
  assert.equal(await name.getAttribute("aria-invalid"), "false");
  assert.equal(await fresh.locator(".name-taken").isVisible(), false);
  // A name of its own, one other users' boards have.
  await rerendered(() => name.fill("Sci-Fi"));
  await page.waitForFunction(() => /Sci-Fi/.test(document.getElementById("recs-title").textContent));
  // A board named like other users' boards draws on them.
  await page.waitForFunction(() => [...document.querySelectorAll("#recs .signal")].some((s) => s.classList.contains("board_name")));
  const sciFiRecs = await recIds();
  await rerendered(() => name.fill("Zzqx Board"));
  assert.notDeepEqual(await recIds(), sciFiRecs, "renaming the board changed its recommendations");
  // Pin a recommendation straight from the list.
  const firstRec = page.locator("#recs .rec").first();
  const title = await firstRec.locator(".rec-title").innerText();
  await rerendered(() => firstRec.locator(".pin-it").click());
  assert.deepEqual(await boards.last().locator(".pin-title").allInnerTexts(), [title]);
  // Remove a pin, then the board; the target falls back to the first board.
  await rerendered(() => boards.last().locator(".pin .icon").click());
  assert.equal(await boards.last().locator(".pin").count(), 0);
  await rerendered(() => boards.last().locator(".remove-board").click());
  assert.equal(await boards.count(), n);
  assert.equal(await boards.first().locator(".target").getAttribute("aria-pressed"), "true");
  // Target another board.
  const before = await recIds();
  await rerendered(() => board("Thrillers").locator(".target").click());
  assert.match(await page.locator("#recs-title").innerText(), /Thrillers/);
  assert.notDeepEqual(await recIds(), before);
  await rerendered(() => board("Pixar night").locator(".target").click());
});

test("after loading, recommending makes zero network requests", async () => {
  // The same two instruments saw the catalog being downloaded during the load, so they work.
  const shard = `/assets/${m.catalog.shards[0].url}`;
  assert.ok(srv.log.some((r) => r.path === shard));
  assert.ok(browser.requests.some((u) => u.endsWith(shard)));
  const server0 = srv.log.length, browser0 = browser.requests.length;
  const g0 = await generation();
  // Through the UI: pins, boards, names, variety.
  const search = board("Thrillers").locator(".pin-search");
  await search.fill("seven");
  await board("Thrillers").locator(".suggestion").first().waitFor();
  await rerendered(() => search.press("Enter"));
  await rerendered(() => board("Thrillers").locator(".pin .icon").last().click());
  await rerendered(() => board("Thrillers").locator(".board-name").fill("Thrillers!"));
  await rerendered(() => board("Thrillers!").locator(".board-name").fill("Thrillers"));
  await rerendered(() => page.locator("#variety").fill("0.6"));
  await rerendered(() => page.locator("#variety").fill("0"));
  // Through the API, 50 more.
  const n = await page.evaluate(async () => {
    let items = 0;
    for (let i = 0; i < 50; i++) {
      const out = await window.edgerecDemo.rec.recommend({ boards: [{ name: "x", pins: [{ id: String(1 + i) }] }], k: 5 });
      items += out.items.length;
    }
    return items;
  });
  assert.equal(n, 250);
  assert.ok((await generation()) >= g0 + 6);
  await page.waitForTimeout(300); // anything late would show up here
  assert.deepEqual(srv.log.slice(server0), [], "the server saw no request");
  assert.deepEqual(browser.requests.slice(browser0), [], "Chromium reported no request");
});

test("a reload is served from the Cache API: no request for the model, the catalog, the wasm or the titles", async () => {
  const pinsBefore = await pinTitles("Pixar night");
  const first = await page.evaluate(() => window.edgerecDemo.rec.info);
  const info0 = () => first;
  // The first visit downloaded them (the cache starts empty).
  assert.equal(first.sources.wasm, "network");
  assert.doesNotMatch(await page.locator("#engine").innerText(), /from cache/);
  const server0 = srv.log.length, browser0 = browser.requests.length;
  await page.reload();
  await ready();
  const paths = srv.log.slice(server0).map((r) => r.path);
  assert.ok(paths.includes("/assets/manifest.json"), "the page did load (the server saw it)");
  const wasmPath = `/pkg/${info0().simd === "relaxed" ? "edgerec_relaxed_bg.wasm" : "edgerec_bg.wasm"}`;
  for (const p of [...assetPaths(), wasmPath, "/assets/titles.json"]) {
    assert.ok(!paths.includes(p), `${p} was requested again`);
    assert.ok(!browser.requests.slice(browser0).some((u) => new URL(u).pathname === p), `${p} in Chromium's requests`);
  }
  const info = await page.evaluate(() => window.edgerecDemo.rec.info);
  assert.equal(info.sources.catalog, "cache");
  assert.equal(info.sources.model, "cache");
  assert.equal(info.sources.wasm, "cache");
  assert.match(await page.locator("#engine").innerText(), /from cache: engine, catalog, model, titles/);
  const keys = await page.evaluate(async () => (await (await caches.open("edgerec-v1")).keys()).map((r) => new URL(r.url).pathname));
  assert.ok(keys.includes(`/.edgerec-cache/sha256/${m.catalog.sha256}`), `cache keys: ${keys}`);
  assert.deepEqual(await pinTitles("Pixar night"), pinsBefore, "the boards survive the reload");
  assert.equal(await page.locator("#recs .rec").count(), 12);
});

test("bad input from the page rejects with typed errors and the demo keeps working", async () => {
  const r = await page.evaluate(async () => {
    const rec = window.edgerecDemo.rec;
    const failure = async (p) => {
      try { await p; return null; } catch (e) { return { code: e.code, message: e.message, name: e.name }; }
    };
    return {
      empty: await failure(rec.recommend({})),
      noBoards: await failure(rec.recommend({ boards: [] })),
      megaTitle: await failure(rec.recommend({ boards: [{ name: "x", pins: [{ id: "1", title: "t".repeat(1 << 20) }] }] })),
      wrongTypes: await failure(rec.recommend({ boards: [{ name: 7, pins: [{ id: "1" }] }] })),
      pinsString: await failure(rec.recommend({ boards: [{ name: "x", pins: "1,2,3" }] })),
      notSendable: await failure(rec.recommend({ boards: [{ name: "x", pins: [{ id: "1" }] }], k: Symbol("k") })),
      array: await failure(rec.recommend([1, 2, 3])),
    };
  });
  assert.deepEqual(
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v && v.code])),
    { empty: "invalid_input", noBoards: "invalid_input", megaTitle: "limit_exceeded", wrongTypes: "invalid_input", pinsString: "invalid_input", notSendable: "invalid_input", array: "invalid_input" },
  );
  for (const v of Object.values(r)) assert.equal(v.name, "EdgerecError");
  assert.match(r.megaTitle.message, /title/);
  // Still working: a pin added through the UI changes the results.
  const before = await recIds();
  const search = board("Pixar night").locator(".pin-search");
  await search.fill("Monsters, Inc");
  await board("Pixar night").locator(".suggestion").first().waitFor();
  await rerendered(() => search.press("Enter"));
  assert.notDeepEqual(await recIds(), before);
  assert.equal(await page.locator("#recs-error").isVisible(), false);
});

test("a phone-sized viewport: one column, nothing wider than the screen", async () => {
  const phone = await browser.context.newPage();
  const phoneErrors = watchErrors(phone);
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(srv.url);
  await phone.waitForFunction(() => document.body.dataset.state === "ready" && Number(document.getElementById("recs").dataset.generation) > 0, null, { timeout: 60_000 });
  const layout = await phone.evaluate(() => {
    const box = (sel) => document.querySelector(sel).getBoundingClientRect();
    return {
      scrollWidth: document.documentElement.scrollWidth,
      boards: box(".boards-panel"),
      recs: box(".recs-panel"),
      widest: Math.max(...[...document.querySelectorAll("body *")].map((e) => e.getBoundingClientRect().right)),
    };
  });
  assert.ok(layout.scrollWidth <= 390, `no horizontal scroll (${layout.scrollWidth})`);
  assert.ok(layout.widest <= 391, `no element sticks out (${layout.widest})`);
  assert.ok(layout.recs.top >= layout.boards.bottom - 1, "recommendations stack below the boards");
  assert.ok(layout.recs.width > 300, "and use the width");
  assert.equal(await phone.locator("#recs .rec").count(), 12);
  await phone.screenshot({ path: join(outputDir(), "demo-phone.png"), fullPage: true, animations: "disabled" });
  await phone.close();
  assert.deepEqual(phoneErrors, []);
});

test("free-text pins with the model (the build always has it)", async () => {
  const info = await page.evaluate(() => window.edgerecDemo.rec.info);
  assert.equal(info.encoder, true, "the demo loaded the text model (the manifest lists it)");
  const search = board("Space").locator(".pin-search");
  await search.fill("astronauts stranded on mars");
  const option = board("Space").locator(".suggestion.as-text");
  await option.waitFor();
  await rerendered(() => option.click());
  assert.deepEqual(await board("Space").locator(".pin.text .pin-title").allInnerTexts(), ["astronauts stranded on mars"]);
  assert.match(await page.locator("#recs-title").innerText(), /Space/);
  const reasons = await page.locator("#recs .reason-text").allInnerTexts();
  assert.ok(reasons.some((r) => r.includes("astronauts stranded on mars")), `a reason names the text pin: ${reasons}`);
  assert.equal(await page.locator("#recs-error").isVisible(), false);
});

test("saved boards that are malformed fall back to the examples; repeated names get a suffix", async () => {
  const key = "edgerec-demo-v1";
  const saved = await page.evaluate((k) => localStorage.getItem(k), key);
  const other = await browser.context.newPage();
  const otherErrors = watchErrors(other);
  const boardsAfterLoad = async (value) => {
    await other.evaluate(([k, v]) => localStorage.setItem(k, v), [key, value]);
    await other.reload();
    await other.waitForFunction(() => document.body.dataset.state === "ready" && Number(document.getElementById("recs").dataset.generation) > 0, null, { timeout: 60_000 });
    return other.locator(".board").evaluateAll((els) => els.map((e) => e.dataset.name));
  };
  try {
    await other.goto(srv.url);
    const examples = ["Pixar night", "Thrillers", "Space"];
    for (const bad of ['{"boards":[null]}', '{"boards":[{"name":"x","pins":"1,2"}]}', '{"boards":[{"name":7,"pins":[]}]}', '{"boards":[{"name":"x","pins":[{"id":1}]}]}', "{not json"]) {
      assert.deepEqual(await boardsAfterLoad(bad), examples, bad);
    }
    const twice = JSON.stringify({ boards: [{ name: "Space", pins: [{ id: "260" }] }, { name: "Space", pins: [] }, { name: "Space (2)", pins: [] }] });
    assert.deepEqual(await boardsAfterLoad(twice), ["Space", "Space (3)", "Space (2)"]);
  } finally {
    await page.evaluate(([k, v]) => (v === null ? localStorage.removeItem(k) : localStorage.setItem(k, v)), [key, saved]);
    await other.close();
  }
  assert.deepEqual(otherErrors, []);
});

test("no errors in the console", () => {
  assert.deepEqual(errors, []);
});
