// The demo when people poke it (issue "the first hour"): titles searched and shown as people
// write them, long and over-long text, no bare ids while loading, no stale timing, Reset asks
// first. Screenshots (desktop and phone) go to www/test-output/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { checkDist, serve, launch, watchErrors, outputDir } from "./helpers.mjs";

let srv, browser, page, errors;

before(async () => {
  checkDist();
  srv = await serve(0);
  browser = await launch();
  page = await browser.context.newPage();
  errors = watchErrors(page);
});

after(async () => {
  await browser?.close();
  await srv?.close();
});

const board = (p, name) => p.locator(`.board[data-name="${name}"]`);
const generation = (p) => p.locator("#recs").getAttribute("data-generation").then(Number);

async function ready(p) {
  await p.waitForFunction(() => document.body.dataset.state === "ready" && Number(document.getElementById("recs").dataset.generation) > 0, null, { timeout: 60_000 });
}

async function rerendered(p, action) {
  const g = await generation(p);
  await action();
  await p.waitForFunction((g0) => Number(document.getElementById("recs").dataset.generation) > g0, g);
}

/** The page's boards, replaced by `boards` (as if saved by an earlier visit). */
async function withBoards(p, boards) {
  await p.evaluate((v) => localStorage.setItem("edgerec-demo-v1", JSON.stringify({ boards: v })), boards);
  await p.reload();
  await ready(p);
}

test("pins never show a bare catalog id while the titles load", async () => {
  // The titles are held back until the test has looked: the boards are drawn before them.
  let released;
  const gate = new Promise((r) => { released = r; });
  await page.route("**/assets/titles.json", async (route) => { await gate; await route.continue(); });
  await page.goto(srv.url);
  await page.locator(".board .pin-title").first().waitFor();
  const early = await page.locator(".board .pin-title").allInnerTexts();
  assert.ok(early.length >= 6, `the example pins are drawn: ${early}`);
  assert.ok(early.every((t) => !/#\d/.test(t)), `no #id placeholders: ${early}`);
  assert.ok(early.every((t) => t === "Loading…"), `a loading label instead: ${early}`);
  await page.screenshot({ path: join(outputDir(), "demo-loading-pins-desktop.png"), animations: "disabled" });
  released();
  await ready(page);
  await page.unroute("**/assets/titles.json");
  const titles = await board(page, "Pixar night").locator(".pin-title").allInnerTexts();
  assert.deepEqual(titles, ["Toy Story (1995)", "Toy Story 2 (1999)", "Finding Nemo (2003)"]);
});

test("titles are searched as people type them and shown in natural order", async () => {
  const search = board(page, "Space").locator(".pin-search");
  for (const q of ["the matrix", "matrix", "Matrix (1999)", "The Matrix 1999"]) {
    await search.fill(q);
    const first = board(page, "Space").locator(".suggestion").first();
    await first.waitFor();
    const found = await board(page, "Space").locator(".suggestion:not(.as-text) span").allInnerTexts();
    assert.ok(found.includes("The Matrix (1999)"), `"${q}" finds The Matrix (1999): ${found}`);
    if (q === "the matrix") await page.screenshot({ path: join(outputDir(), "demo-title-search-desktop.png"), animations: "disabled" });
  }
  await search.fill("the matrix");
  await board(page, "Space").locator('.suggestion[data-id="2571"]').waitFor();
  await rerendered(page, () => board(page, "Space").locator('.suggestion[data-id="2571"]').click());
  assert.deepEqual(await board(page, "Space").locator(".pin-title").allInnerTexts(), ["The Matrix (1999)"]);
  // Results and reasons use the same form: no "Title, The (year)" anywhere on the page.
  const shown = [...(await page.locator("#recs .rec-title").allInnerTexts()), ...(await page.locator("#recs .reason-text").allInnerTexts())];
  assert.ok(shown.some((t) => t.includes("The Matrix (1999)")), `a reason names the pin as shown: ${shown}`);
  const library = shown.filter((t) => /, (The|A|An) \(\d{4}\)/.test(t));
  assert.deepEqual(library, [], "no library-style titles");
});

test("a long text pin wraps on desktop and phone; an over-long one is refused with a message", async () => {
  const long = "a cozy heist comedy in Paris with a clever crew and a stolen painting ".repeat(43).trim(); // ~3,000 characters
  const search = board(page, "Space").locator(".pin-search");
  await search.fill(long);
  const option = board(page, "Space").locator(".suggestion.as-text");
  await option.waitFor();
  await rerendered(page, () => option.click());
  assert.equal(await board(page, "Space").locator(".pin.text").count(), 1);
  const desktop = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: innerWidth }));
  assert.ok(desktop.scroll <= desktop.width, `no horizontal scroll on desktop (${desktop.scroll} > ${desktop.width})`);
  await page.screenshot({ path: join(outputDir(), "demo-long-text-desktop.png"), fullPage: true, animations: "disabled" });

  // Over the request's limit on a text field: not pinned, and the page says why in words.
  const limit = await page.evaluate(() => window.edgerecDemo.rec.info.limits.field_bytes);
  await search.fill("x".repeat(limit + 10));
  const message = board(page, "Space").locator(".too-long");
  await message.waitFor();
  assert.match(await message.innerText(), new RegExp(`too long to pin: ${(limit + 10).toLocaleString("en-US")} bytes.*up to ${limit.toLocaleString("en-US")}`));
  assert.doesNotMatch(await message.innerText(), /boards\[|pins\[/, "no internal paths");
  await page.screenshot({ path: join(outputDir(), "demo-text-too-long-desktop.png"), animations: "disabled" });
  const g = await generation(page);
  await search.press("Enter");
  await page.waitForTimeout(300);
  assert.equal(await generation(page), g, "nothing was sent");
  assert.equal(await board(page, "Space").locator(".pin.text").count(), 1, "not pinned");
  assert.equal(await page.locator("#recs-error").isVisible(), false, "no failed request");
  await search.fill("");
  assert.equal(await message.isVisible(), false, "the message goes with the text");

  const phone = await browser.context.newPage();
  const phoneErrors = watchErrors(phone);
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(srv.url);
  await ready(phone);
  await withBoards(phone, [{ name: "Heists", pins: [{ id: "2571" }, { title: long }] }]);
  const size = await phone.evaluate(() => ({ scroll: document.documentElement.scrollWidth, widest: Math.max(...[...document.querySelectorAll("body *")].map((e) => e.getBoundingClientRect().right)) }));
  assert.ok(size.scroll <= 390 && size.widest <= 391, `nothing wider than the phone: ${JSON.stringify(size)}`);
  await phone.screenshot({ path: join(outputDir(), "demo-long-text-phone.png"), fullPage: true, animations: "disabled" });
  await phone.close();
  assert.deepEqual(phoneErrors, []);
});

test("on a phone the results stay within reach: a strip shows what a pin changed and jumps there", async () => {
  const phone = await browser.context.newPage();
  const phoneErrors = watchErrors(phone);
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(srv.url);
  await ready(phone);
  // Three boards, as the examples have: the results start below the first screen.
  await withBoards(phone, [
    { name: "Pixar night", pins: ["1", "3114", "2355", "4886", "6377", "8961"].map((id) => ({ id })) },
    { name: "Thrillers", pins: ["296", "593", "2959", "47", "50", "608"].map((id) => ({ id })) },
    { name: "Space", pins: ["260", "1196", "1210"].map((id) => ({ id })) },
  ]);
  const firstRec = await phone.locator("#recs .rec").first().boundingBox();
  assert.ok(firstRec.y + firstRec.height > 844, `the first result is below the first screen (${firstRec.y})`);
  await phone.evaluate(() => window.scrollTo(0, 0));
  const search = board(phone, "Pixar night").locator(".pin-search");
  await search.fill("ratatouille");
  await board(phone, "Pixar night").locator(".suggestion").first().waitFor();
  await rerendered(phone, () => search.press("Enter"));
  const strip = phone.locator("#recs-strip");
  await strip.waitFor({ state: "visible" });
  const box = await strip.boundingBox();
  assert.ok(box && box.y >= 0 && box.y + box.height <= 844, `the strip is on screen: ${JSON.stringify(box)}`);
  const firstTitle = await phone.locator("#recs .rec-title").first().innerText();
  assert.ok((await strip.innerText()).includes(firstTitle), "it names the first result");
  assert.match(await strip.innerText(), /12 for “Pixar night”/);
  await phone.screenshot({ path: join(outputDir(), "demo-phone-strip.png"), animations: "disabled" });
  await strip.click();
  await phone.waitForFunction(() => { const r = document.querySelector("#recs .rec").getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; });
  await strip.waitFor({ state: "hidden" });
  await phone.screenshot({ path: join(outputDir(), "demo-phone-results.png"), animations: "disabled" });
  await phone.close();
  assert.deepEqual(phoneErrors, []);
  // Wide screens show boards and results side by side: no strip.
  assert.equal(await page.locator("#recs-strip").isVisible(), false);
});

test("a text that does not look English gets a note before it is pinned", async () => {
  const search = board(page, "Space").locator(".pin-search");
  const note = board(page, "Space").locator(".not-english");
  await search.fill("une comédie de cambriolage à Paris");
  await board(page, "Space").locator(".suggestion.as-text").waitFor();
  assert.equal(await note.isVisible(), true);
  assert.match(await note.innerText(), /reads English/);
  await page.screenshot({ path: join(outputDir(), "demo-not-english-desktop.png"), animations: "disabled" });
  await search.fill("a cozy heist comedy in Paris");
  await board(page, "Space").locator(".suggestion.as-text").waitFor();
  assert.equal(await note.isVisible(), false);
  await search.fill("");
});

test("no stale timing once every board is gone", async () => {
  assert.match(await page.locator("#timing").innerText(), /ranked .* in .* ms/);
  while (await page.locator(".board").count()) {
    await rerendered(page, () => page.locator(".board .remove-board").first().click());
  }
  assert.equal(await page.locator("#timing").innerText(), "");
  assert.match(await page.locator("#recs-empty").innerText(), /Add a board/);
  await page.screenshot({ path: join(outputDir(), "demo-no-boards-desktop.png"), animations: "disabled" });
});

test("Reset asks first: dismissed it keeps the boards, accepted it restores the examples", async () => {
  await withBoards(page, [{ name: "Mine", pins: [{ id: "1" }, { id: "2571" }] }]);
  let asked = null;
  page.once("dialog", (d) => { asked = d.message(); d.dismiss(); });
  await page.locator("#reset").click();
  assert.match(asked ?? "", /Replace your 1 board and 2 pins with the example boards/);
  assert.deepEqual(await page.locator(".board").evaluateAll((els) => els.map((e) => e.dataset.name)), ["Mine"]);
  page.once("dialog", (d) => d.accept());
  await rerendered(page, () => page.locator("#reset").click());
  assert.deepEqual(await page.locator(".board").evaluateAll((els) => els.map((e) => e.dataset.name)), ["Pixar night", "Thrillers", "Space"]);
});

test("no errors in the console", () => {
  assert.deepEqual(errors, []);
});
