// The demo: boards of movies (add, rename, remove; pins added and removed) and recommendations
// that follow every change, ranked on this device by the harness's Web Worker.

import { Sha256, createRecommender } from "edgerec";
import { displayTitle, fold, matchRank } from "./titles.js";
import { looksNonEnglish } from "./language.js";

const STORAGE_KEY = "edgerec-demo-v1";
const K = 12;
const EXAMPLE = [
  { name: "Pixar night", pins: [{ id: "1" }, { id: "3114" }, { id: "6377" }] },
  { name: "Thrillers", pins: [{ id: "296" }, { id: "593" }, { id: "2959" }] },
  { name: "Space", pins: [] },
];

const $ = (id) => document.getElementById(id);
const state = {
  boards: [], // { key, name, pins: [{ id?, title }] }
  target: null, // key of the board recommended for
  titles: new Map(), // id -> { title, tags }: the title as people write it
  display: new Map(), // catalog title -> title as people write it (for reasons)
  index: [], // [{ id, title, forms, tags }] for search: forms are the folded titles, both orders
  rec: null,
  running: false,
  dirty: false,
  generation: 0,
  diversity: 0, // 0..1: MMR diversification of the results
};
let nextKey = 1;

// For the tests and the curious: the recommender and the demo state.
window.edgerecDemo = state;

// ------------------------------------------------------------------------------------ loading

const phases = new Map(); // phase -> { loaded, total, source }
let shownPct = 0; // the bar never moves back

/**
 * The bar: the engine (wasm) is the first 10%, the catalog and model bytes together up to 95%
 * (a phase counts once it has reported its size), starting the model 97%, ready 100%.
 */
function onProgress(p) {
  phases.set(p.phase, p);
  const fraction = (q) => (q && q.total ? Math.min(1, q.loaded / q.total) : 0);
  let loaded = 0, total = 0;
  for (const phase of ["catalog", "model"]) {
    const q = phases.get(phase);
    if (!q || !q.total) continue;
    loaded += q.loaded;
    total += q.total;
  }
  const init = phases.get("init");
  const data = total > 0 ? Math.min(1, loaded / total) : 0;
  const pct = init ? (init.loaded >= 1 ? 100 : 97) : 10 * fraction(phases.get("wasm")) + 85 * data;
  shownPct = Math.max(shownPct, pct);
  $("progress-fill").style.width = `${shownPct.toFixed(1)}%`;
  $("progressbar").setAttribute("aria-valuenow", shownPct.toFixed(0));
  const parts = [];
  for (const [phase, q] of phases) {
    if (phase === "init") continue;
    const from = q.source === "cache" ? " from cache" : q.source === "memory" ? "" : "";
    parts.push(`${label(phase)} ${mb(q.loaded)}${q.total ? ` / ${mb(q.total)}` : ""} MB${from}`);
  }
  if (init) parts.push(init.loaded >= 1 ? "ready" : "starting the model…");
  $("progress-text").textContent = parts.join(" · ");
  $("status").textContent = init && init.loaded >= 1 ? "Ready" : `Loading ${shownPct.toFixed(0)}%`;
}

const label = (phase) => ({ wasm: "engine", catalog: "catalog", model: "model" })[phase] ?? phase;
const mb = (n) => (n / 1e6).toFixed(1);

async function start() {
  restore();
  renderBoards();
  // Both are awaited to the end: if the titles fail, a recommender that did load is closed
  // (its worker and wasm memory freed), not left running unreferenced.
  const [rec, titles] = await Promise.allSettled([
    createRecommender({ manifest: "assets/manifest.json", onProgress }),
    loadTitles(),
  ]);
  const failure = [rec, titles].find((r) => r.status === "rejected");
  if (failure) {
    if (rec.status === "fulfilled") rec.value.close();
    const err = failure.reason;
    document.body.dataset.state = "error";
    $("status").textContent = "Failed to load";
    $("progress-text").textContent = `${err?.code ?? "error"}: ${err?.message ?? err}`;
    $("loader").classList.add("failed");
    return;
  }
  state.rec = rec.value;
  const info = state.rec.info;
  const cached = [["engine", info.sources.wasm], ["catalog", info.sources.catalog], ["model", info.sources.model], ["titles", state.titlesSource]]
    .filter(([, source]) => source === "cache").map(([name]) => name);
  $("engine").textContent =
    `${info.items.toLocaleString()} movies · wasm ${info.simd === "relaxed" ? "relaxed-SIMD" : "SIMD128"} · ` +
    (info.encoder ? "text model loaded" : "no text model") +
    (cached.length ? ` · from cache: ${cached.join(", ")}` : "");
  $("mode-hint").textContent = info.encoder
    ? "Add movies from the catalog, or any text (“cozy heist comedy”) as a pin."
    : "Add movies from the catalog. (This build has no text model, so pins must be catalog movies.)";
  $("loader").classList.add("done");
  document.body.dataset.state = "ready";
  renderBoards();
  refresh();
}

const TITLES_CACHE = "edgerec-demo-v1";

/**
 * titles.json by its SHA-256 in the manifest, as the harness keeps the model and the catalog:
 * from the Cache API when kept, else downloaded, checked and kept (replacing older versions).
 */
async function fetchTitles() {
  const fail = (code, message) => Object.assign(new Error(message), { code });
  const manifestUrl = new URL("assets/manifest.json", location.href);
  const res = await fetch(manifestUrl, { cache: "no-cache" });
  if (!res.ok) throw fail("load_failed", `manifest.json: HTTP ${res.status}`);
  const entry = (await res.json()).titles;
  if (!entry?.sha256 || entry.shards?.length !== 1) throw fail("load_failed", "manifest.json lists no titles");
  const key = new URL(`/.edgerec-demo/sha256/${entry.sha256}`, location.origin).href;
  const cache = typeof caches === "undefined" ? null : await caches.open(TITLES_CACHE).catch(() => null);
  const hit = cache ? await cache.match(key).catch(() => null) : null;
  if (hit) {
    try {
      const rows = await hit.json();
      state.titlesSource = "cache";
      return rows;
    } catch {
      await cache.delete(key).catch(() => {}); // unreadable: the network has it
    }
  }
  const file = await fetch(new URL(entry.shards[0].url, manifestUrl));
  if (!file.ok) throw fail("load_failed", `titles.json: HTTP ${file.status}`);
  const bytes = new Uint8Array(await file.arrayBuffer());
  // The harness's SHA-256 (crypto.subtle exists only in secure contexts; this works anywhere).
  const hasher = new Sha256();
  hasher.update(bytes);
  const hex = hasher.hex();
  if (hex !== entry.sha256) throw fail("integrity_error", `titles.json has SHA-256 ${hex}, the manifest says ${entry.sha256}`);
  if (cache) {
    try {
      await cache.put(key, new Response(bytes, { headers: { "content-type": "application/json" } }));
      for (const req of await cache.keys()) if (req.url !== key) await cache.delete(req);
    } catch { /* the cache is best effort */ }
  }
  state.titlesSource = "network";
  return JSON.parse(new TextDecoder().decode(bytes));
}

async function loadTitles() {
  const rows = await fetchTitles(); // [[id, title, tags, catalog title], ...]
  for (const [id, title, tags, catalogTitle = title] of rows) {
    state.titles.set(id, { title, tags });
    state.display.set(catalogTitle, title);
    state.index.push({ id, title, forms: [fold(title), fold(catalogTitle)], tags });
  }
  state.titlesLoaded = true;
  renderBoards(); // the pins get their titles as soon as they are known
}

// ----------------------------------------------------------------------------------- boards

/** The boards saved by an earlier visit, or the examples when there are none or they are malformed. */
function restore() {
  let boards = null;
  try {
    boards = savedBoards(JSON.parse(localStorage.getItem(STORAGE_KEY) || "null"));
  } catch {
    boards = null; // unreadable storage or not JSON
  }
  boards ??= EXAMPLE;
  // Older saves may repeat a name: the first board keeps it, later ones get a free " (n)".
  const taken = new Set(boards.map((b) => b.name));
  const kept = new Set();
  state.boards = boards.map((b) => {
    const name = kept.has(b.name) ? uniqueName(b.name, taken) : b.name;
    taken.add(name);
    kept.add(name);
    return { key: nextKey++, name, pins: b.pins.map((p) => ({ ...p })) };
  });
  state.target = state.boards[0]?.key ?? null;
}

/** `{ boards: [{ name, pins: [{ id } | { title }] }] }` as saved, checked; null if anything is off. */
function savedBoards(saved) {
  const boards = saved?.boards;
  if (!Array.isArray(boards) || boards.length > 100) return null;
  const out = [];
  for (const b of boards) {
    if (!b || typeof b !== "object" || typeof b.name !== "string" || !Array.isArray(b.pins)) return null;
    const pins = [];
    for (const p of b.pins) {
      if (p && typeof p.id === "string" && p.id) pins.push({ id: p.id });
      else if (p && typeof p.title === "string" && p.title.trim()) pins.push({ title: p.title });
      else return null;
    }
    out.push({ name: b.name.slice(0, 80), pins });
  }
  return out;
}

/** `name`, or `name (2)`, `name (3)`, ... : the first not in `taken`. */
function uniqueName(name, taken) {
  if (!taken.has(name)) return name;
  let n = 2;
  while (taken.has(`${name} (${n})`)) n++;
  return `${name} (${n})`;
}

/**
 * Board names are unique: the request names its target board (`target_board`), so two boards
 * of one name would make the target ambiguous.
 */
function nameTaken(name, board) {
  return state.boards.some((b) => b !== board && b.name === name);
}

function save() {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ boards: state.boards.map(({ name, pins }) => ({ name, pins })) }));
  } catch {
    // storage full or disabled: the demo still works
  }
}

function changed() {
  save();
  renderBoards();
  refresh();
}

/** A pin's title; while the titles load, "Loading…" (never a bare catalog id). */
function pinTitle(p) {
  if (!p.id) return p.title;
  const known = state.titles.get(p.id)?.title;
  if (known) return known;
  return state.titlesLoaded ? `Unknown movie (catalog id ${p.id})` : "Loading…";
}

function renderBoards() {
  const list = $("boards");
  const focused = document.activeElement;
  const focusKey = focused?.closest?.(".board")?.dataset.key;
  const focusClass = focused?.classList?.contains("pin-search") ? "pin-search" : focused?.classList?.contains("board-name") ? "board-name" : null;
  list.replaceChildren();
  for (const b of state.boards) {
    const li = $("board-template").content.firstElementChild.cloneNode(true);
    li.dataset.key = b.key;
    li.dataset.name = b.name;
    li.classList.toggle("is-target", b.key === state.target);
    const target = li.querySelector(".target");
    target.setAttribute("aria-pressed", String(b.key === state.target));
    target.addEventListener("click", () => { state.target = b.key; changed(); });
    const name = li.querySelector(".board-name");
    const takenHint = li.querySelector(".name-taken");
    const showTaken = (on) => {
      name.setAttribute("aria-invalid", String(on));
      takenHint.hidden = !on;
    };
    name.value = b.name;
    // A name another board has is not taken over (the board keeps its last unique name); on
    // leaving the field it goes back to that name.
    name.addEventListener("input", () => {
      if (nameTaken(name.value, b)) {
        showTaken(true);
        return;
      }
      showTaken(false);
      b.name = li.dataset.name = name.value;
      save();
      refresh();
    });
    name.addEventListener("change", () => {
      if (name.value !== b.name) name.value = b.name;
      showTaken(false);
    });
    name.addEventListener("focus", () => { if (state.target !== b.key) { state.target = b.key; markTarget(); refresh(); } });
    li.querySelector(".remove-board").addEventListener("click", () => {
      state.boards = state.boards.filter((x) => x !== b);
      if (state.target === b.key) state.target = state.boards[0]?.key ?? null;
      changed();
    });
    const pins = li.querySelector(".pins");
    for (const p of b.pins) {
      const chip = document.createElement("li");
      chip.className = p.id ? "pin" : "pin text";
      const t = document.createElement("span");
      t.className = "pin-title";
      t.textContent = pinTitle(p);
      t.classList.toggle("pending", Boolean(p.id) && !state.titlesLoaded);
      const x = document.createElement("button");
      x.type = "button";
      x.className = "icon";
      x.setAttribute("aria-label", `Remove ${pinTitle(p)}`);
      x.textContent = "✕";
      x.addEventListener("click", () => { b.pins = b.pins.filter((q) => q !== p); changed(); });
      chip.append(t, x);
      pins.append(chip);
    }
    if (b.pins.length === 0) {
      const empty = document.createElement("li");
      empty.className = "pins-empty";
      empty.textContent = "No pins yet";
      pins.append(empty);
    }
    setupSearch(li, b);
    list.append(li);
    if (String(b.key) === focusKey && focusClass) li.querySelector(`.${focusClass}`).focus();
  }
}

function markTarget() {
  for (const li of $("boards").children) {
    const on = Number(li.dataset.key) === state.target;
    li.classList.toggle("is-target", on);
    li.querySelector(".target").setAttribute("aria-pressed", String(on));
  }
}

function setupSearch(li, board) {
  const input = li.querySelector(".pin-search");
  const box = li.querySelector(".suggestions");
  input.disabled = !state.rec;
  if (!state.rec) input.placeholder = "Loading…";
  let options = [];
  let active = 0;
  const close = () => { box.hidden = true; box.replaceChildren(); options = []; notEnglish.hidden = true; };
  const tooLong = li.querySelector(".too-long");
  const notEnglish = li.querySelector(".not-english");
  // The request's limit on a text field, in UTF-8 bytes (what the wasm counts), checked here
  // so that an over-long text is never pinned (then every later update would fail on it).
  const textBytes = (t) => new TextEncoder().encode(t).length;
  const overLimit = (t) => {
    const limit = state.rec?.info.limits.field_bytes ?? Infinity;
    const n = textBytes(t);
    tooLong.hidden = n <= limit;
    if (n > limit) {
      tooLong.textContent = `This text is too long to pin: ${n.toLocaleString()} bytes, and a pin's text can hold up to ${limit.toLocaleString()} (about ${limit.toLocaleString()} letters in English). Shorten it to pin it.`;
    }
    return n > limit;
  };
  const choose = (o) => {
    if (!o) return;
    if (!o.id && overLimit(o.text)) return;
    if (o.id && !board.pins.some((p) => p.id === o.id)) board.pins.push({ id: o.id });
    if (!o.id) board.pins.push({ title: o.text });
    input.value = "";
    close();
    state.target = board.key;
    changed();
    li = $("boards").querySelector(`[data-key="${board.key}"]`);
    li?.querySelector(".pin-search")?.focus();
  };
  const show = () => {
    const q = fold(input.value.trim());
    box.replaceChildren();
    const long = overLimit(input.value.trim());
    options = q && !long ? search(q, board) : [];
    const asText = q && !long && state.rec?.info.encoder;
    if (asText) options.push({ text: input.value.trim() });
    notEnglish.hidden = !(asText && looksNonEnglish(input.value));
    if (!options.length) { box.hidden = true; return; }
    active = 0;
    options.forEach((o, i) => {
      const opt = document.createElement("li");
      opt.setAttribute("role", "option");
      opt.className = "suggestion" + (o.id ? "" : " as-text");
      if (o.id) {
        opt.dataset.id = o.id;
        const t = document.createElement("span");
        t.textContent = o.title;
        const g = document.createElement("small");
        g.textContent = o.tags;
        opt.append(t, g);
      } else {
        opt.textContent = `Pin the text “${o.text}”`;
      }
      opt.addEventListener("mousedown", (e) => { e.preventDefault(); choose(o); });
      opt.classList.toggle("active", i === active);
      box.append(opt);
    });
    box.hidden = false;
  };
  input.addEventListener("input", show);
  input.addEventListener("blur", () => setTimeout(close, 100));
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      if (!options.length) return;
      e.preventDefault();
      active = (active + (e.key === "ArrowDown" ? 1 : options.length - 1)) % options.length;
      [...box.children].forEach((c, i) => c.classList.toggle("active", i === active));
    } else if (e.key === "Enter") {
      e.preventDefault();
      choose(options[active]);
    } else if (e.key === "Escape") {
      close();
    }
  });
}

/** Titles matching `q` (folded), prefixes first, then word starts, then anywhere inside. */
function search(q, board) {
  const have = new Set(board.pins.map((p) => p.id));
  const byRank = [[], [], []];
  for (const it of state.index) {
    if (have.has(it.id)) continue;
    const rank = matchRank(q, it.forms);
    if (rank >= 0) byRank[rank].push(it);
    if (byRank[0].length >= 8) break;
  }
  return byRank.flat().slice(0, 8).map(({ id, title, tags }) => ({ id, title, tags }));
}

$("add-board").addEventListener("click", () => {
  let n = state.boards.length + 1;
  while (state.boards.some((b) => b.name === `Board ${n}`)) n++;
  const b = { key: nextKey++, name: `Board ${n}`, pins: [] };
  state.boards.push(b);
  state.target = b.key;
  changed();
  $("boards").querySelector(`[data-key="${b.key}"] .board-name`)?.select();
});

$("variety").addEventListener("input", () => {
  state.diversity = Number($("variety").value);
  $("variety-value").textContent = state.diversity.toFixed(1);
  refresh();
});

$("reset").addEventListener("click", () => {
  const pins = state.boards.reduce((n, b) => n + b.pins.length, 0);
  const what = `${state.boards.length} board${state.boards.length === 1 ? "" : "s"} and ${pins} pin${pins === 1 ? "" : "s"}`;
  if (!confirm(`Replace your ${what} with the example boards? This cannot be undone.`)) return;
  try { localStorage.removeItem(STORAGE_KEY); } catch { /* ignore */ }
  restore();
  changed();
});

// ---------------------------------------------------------------------------- recommending

function context() {
  const target = state.boards.find((b) => b.key === state.target);
  return {
    boards: state.boards.map((b) => ({
      name: b.name,
      pins: b.pins.map((p) => (p.id ? { id: p.id } : { title: p.title })),
    })),
    ...(target ? { target_board: target.name } : {}),
    k: K,
    ...(state.diversity > 0 ? { diversity: state.diversity } : {}),
  };
}

/** Re-ranks; changes made while a request runs are coalesced into one more request. */
async function refresh() {
  if (!state.rec) return;
  if (state.running) { state.dirty = true; return; }
  state.running = true;
  try {
    do {
      state.dirty = false;
      await rankOnce();
    } while (state.dirty);
  } finally {
    state.running = false;
  }
}

async function rankOnce() {
  const target = state.boards.find((b) => b.key === state.target);
  $("recs-title").textContent = target ? `Recommended for “${target.name || "untitled"}”` : "Recommended";
  const error = $("recs-error");
  if (state.boards.length === 0) {
    render([]);
    $("recs-empty").textContent = "Add a board to see recommendations.";
    error.hidden = true;
    $("timing").textContent = ""; // no ranking ran: an earlier timing would be stale
    return;
  }
  try {
    const out = await state.rec.recommend(context());
    error.hidden = true;
    render(out.items);
    const t = state.rec.lastTiming;
    $("timing").textContent = `ranked ${state.rec.info.items.toLocaleString()} in ${t.workerMs.toFixed(1)} ms`;
  } catch (err) {
    error.hidden = false;
    error.textContent = `${err.code ?? "error"}: ${err.message}`;
    // The results on screen are not the answer to these boards any more.
    render([]);
    $("recs-empty").textContent = "No recommendations for these boards (see the message above).";
    $("timing").textContent = "";
  }
}

const SIGNAL_LABEL = { co_saved: "saved together", similar: "similar", board_name: "board name", popular: "popular", similar_boards: "similar boards" };

function render(items) {
  const list = $("recs");
  list.replaceChildren();
  const top = items[0]?.score ?? 1;
  for (const it of items) {
    const li = document.createElement("li");
    li.className = "rec";
    li.dataset.id = it.id;
    const main = document.createElement("div");
    main.className = "rec-main";
    const title = document.createElement("span");
    title.className = "rec-title";
    title.textContent = state.titles.get(it.id)?.title ?? displayTitle(it.title);
    const reason = document.createElement("p");
    reason.className = "reason";
    const badge = document.createElement("span");
    badge.className = `signal ${it.reason.signal}`;
    badge.textContent = SIGNAL_LABEL[it.reason.signal] ?? it.reason.signal;
    const text = document.createElement("span");
    text.className = "reason-text";
    // Reasons name pins by their catalog title: shown as people write it, like everything else.
    const pinTitle = it.reason.pin;
    const shownTitle = pinTitle ? state.display.get(pinTitle) ?? displayTitle(pinTitle) : null;
    text.textContent = pinTitle ? it.reason.text.replace(pinTitle, () => shownTitle) : it.reason.text;
    reason.append(badge, text);
    const score = document.createElement("span");
    score.className = "score";
    score.style.setProperty("--w", `${Math.max(4, Math.min(100, (it.score / (top || 1)) * 100)).toFixed(0)}%`);
    score.title = `score ${it.score.toFixed(3)}`;
    main.append(title, reason, score);
    const pin = document.createElement("button");
    pin.type = "button";
    pin.className = "pin-it";
    pin.textContent = "+ Pin";
    pin.setAttribute("aria-label", `Pin ${it.title}`);
    pin.addEventListener("click", () => {
      const b = state.boards.find((x) => x.key === state.target);
      if (!b) return;
      if (!b.pins.some((p) => p.id === it.id)) b.pins.push({ id: it.id });
      changed();
    });
    li.append(main, pin);
    list.append(li);
  }
  $("recs-empty").hidden = items.length > 0;
  $("recs-empty").textContent = "Pin a few movies to a board to see recommendations.";
  list.dataset.generation = String(++state.generation);
  updateStrip(items);
}

// Phones: a strip at the bottom with the first results, until the first result is in full view.
addEventListener("scroll", () => updateStrip(), { passive: true });
addEventListener("resize", () => updateStrip(), { passive: true });

function updateStrip(items) {
  const strip = $("recs-strip");
  if (items) {
    const target = state.boards.find((b) => b.key === state.target);
    $("strip-label").textContent = `${items.length} for “${target?.name || "untitled"}”`;
    $("strip-top").textContent = items.slice(0, 3).map((it) => state.titles.get(it.id)?.title ?? displayTitle(it.title)).join(" · ");
    strip.dataset.count = String(items.length);
  }
  const first = $("recs").firstElementChild?.getBoundingClientRect();
  const firstInView = first && first.top >= 0 && first.bottom <= innerHeight;
  strip.hidden = !first || firstInView;
}

start();
