#!/usr/bin/env node
// A synthetic catalog in the board format, as large as asked, with the structure of a real one:
// items in topical clusters (each topic has its own words, and items share a few across
// topics), and boards drawn from one to three topics with popular items saved more often, so
// that the co-saved table, the board names and the popularity prior all have something to learn.
// Deterministic (a seeded PRNG): the same arguments write the same files.
//
//   node scripts/synthetic-catalog.mjs --items 1000000 --out DIR [--boards N] [--seed S]
//
// DIR/items.jsonl and DIR/boards.jsonl (as `edgerec index` reads them), and DIR/contexts.json:
// 200 board contexts drawn the same way (catalog pins and some free-text pins) for load tests.
import { createWriteStream, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    items: { type: "string", default: "100000" },
    boards: { type: "string" },
    out: { type: "string" },
    seed: { type: "string", default: "7" },
  },
});
if (!values.out) throw new Error("usage: synthetic-catalog.mjs --items N --out DIR [--boards N] [--seed S]");
const nItems = Number(values.items);
const nBoards = Number(values.boards ?? Math.max(100, Math.round(nItems / 4)));
if (!(nItems >= 100 && nItems <= 5_000_000) || !(nBoards >= 10)) throw new Error("--items must be 100..5000000, --boards at least 10");

// splitmix64 on BigInt is slow for millions of draws: a 32-bit mulberry32 is enough here.
let state = Number(values.seed) >>> 0;
const rand = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (arr) => arr[Math.floor(rand() * arr.length)];
/** Zipf-like rank in 0..n-1 (popular items first). */
const zipf = (n) => Math.min(n - 1, Math.floor(Math.exp(rand() * Math.log(n + 1)) - 1));

const SYLLABLES = "ka lo mi ra ne su ti vo za pe do gu li ba fe no ri sa mu te ko la vi de".split(" ");
const word = (len) => Array.from({ length: len }, () => pick(SYLLABLES)).join("");
const ENGLISH = ["night", "garden", "winter", "city", "ocean", "classic", "modern", "vintage", "cozy", "bold", "minimal", "retro", "wild", "quiet", "bright", "dark", "golden", "silver", "summer", "forest"];
const KINDS = ["lamp", "chair", "song", "recipe", "poster", "jacket", "novel", "film", "mug", "print", "album", "sneaker", "table", "candle", "tote"];

const nTopics = Math.max(10, Math.round(Math.sqrt(nItems) * 2));
const topics = Array.from({ length: nTopics }, (_, t) => ({
  name: `${pick(ENGLISH)} ${word(2)}`,
  words: Array.from({ length: 12 }, () => word(2 + Math.floor(rand() * 2))),
  kind: pick(KINDS),
  items: [],
}));

mkdirSync(values.out, { recursive: true });
const itemsOut = createWriteStream(join(values.out, "items.jsonl"));
const write = async (stream, line) => {
  if (!stream.write(line)) await new Promise((r) => stream.once("drain", r));
};
for (let i = 0; i < nItems; i++) {
  // Topic sizes follow a Zipf law too: a few big topics, a long tail.
  const t = topics[zipf(nTopics)];
  t.items.push(i);
  const title = `${pick(t.words)} ${pick(t.words)} ${t.kind} ${word(2)}`;
  const tags = [pick(t.words), pick(t.words), t.kind, pick(ENGLISH)];
  await write(itemsOut, JSON.stringify({ id: `s${i}`, title, description: "", tags }) + "\n");
}
await new Promise((r) => itemsOut.end(r));

/** A board: 1–3 topics, items drawn popular-first within each, named after its main topic. */
function board() {
  const main = topics[zipf(nTopics)];
  const others = Array.from({ length: Math.floor(rand() * 3) }, () => topics[zipf(nTopics)]);
  const size = 3 + Math.floor(rand() * 30);
  const items = new Set();
  for (let k = 0; k < size; k++) {
    const t = rand() < 0.75 || others.length === 0 ? main : pick(others);
    if (t.items.length) items.add(t.items[zipf(t.items.length)]);
  }
  const name = rand() < 0.6 ? main.name : pick(ENGLISH);
  return { name, main, items: [...items] };
}

const boardsOut = createWriteStream(join(values.out, "boards.jsonl"));
for (let b = 0; b < nBoards; b++) {
  const { name, items } = board();
  const user = `u${Math.floor(b / 3)}`; // about three boards a user
  await write(boardsOut, JSON.stringify({ user, board: `${name}${b % 3 ? "" : " " + (b % 7)}`, items: items.map((i) => `s${i}`) }) + "\n");
}
await new Promise((r) => boardsOut.end(r));

const contexts = Array.from({ length: 200 }, (_, n) => {
  const boards = Array.from({ length: 1 + (n % 3) }, () => {
    const { name, main, items } = board();
    const pins = items.slice(0, 20).map((i) => ({ id: `s${i}` }));
    if (n % 4 === 0) pins.push({ title: `${pick(main.words)} ${main.kind} for a ${pick(ENGLISH)} evening` });
    return { name, pins };
  });
  const seen = new Set();
  return { boards: boards.filter((b) => !seen.has(b.name) && seen.add(b.name)), k: 10 };
});
writeFileSync(join(values.out, "contexts.json"), JSON.stringify(contexts));
console.error(`wrote ${values.out}: ${nItems} items in ${nTopics} topics, ${nBoards} boards, 200 contexts`);
