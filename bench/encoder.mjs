// Encoder benchmark: texts/second at batch 1 and batch 32, native (candle, dev profile at
// opt-level 3) and wasm in node (pkg/, release), on the same texts in the same run, with ratios.
// Usage: node bench/encoder.mjs [N_TEXTS]   (needs scripts/build-wasm.sh to have run)
import { readFileSync, writeFileSync, existsSync, mkdtempSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { performance } from "node:perf_hooks";
import { repo, loadPkg, modelFiles, wasmMemoryBytes } from "../tests/wasm/helpers.mjs";

const n = Number(process.argv[2] || 256);
const items = join(repo, "..", "shared", "data", "movielens-small", "items.jsonl");
// Short catalog-like texts (title + tags); the golden corpus when the dataset is not beside us.
const texts = existsSync(items)
  ? readFileSync(items, "utf8").trim().split("\n").slice(0, n).map((l) => {
      const it = JSON.parse(l);
      return [it.title, it.description, (it.tags || []).join(", ")].filter(Boolean).join(". ");
    })
  : JSON.parse(readFileSync(join(repo, "tests", "golden", "corpus.json"), "utf8")).slice(0, n);
const file = join(mkdtempSync(join(tmpdir(), "edgerec-bench-")), "texts.txt");
writeFileSync(file, texts.map((t) => t.replace(/\n/g, " ")).join("\n"));

console.error("native: building and running examples/bench_encoder ...");
const native = JSON.parse(
  execFileSync("cargo", ["run", "--quiet", "--example", "bench_encoder", "--", file], { cwd: repo, encoding: "utf8" }),
);

const pkg = await loadPkg();
let t = performance.now();
const enc = new pkg.Encoder(modelFiles());
const loadMs = performance.now() - t;
enc.embed(texts.slice(0, 8));
t = performance.now();
for (const text of texts) enc.embed([text]);
const b1 = texts.length / ((performance.now() - t) / 1e3);
enc.setBatchSize(32);
t = performance.now();
enc.embed(texts);
const b32 = texts.length / ((performance.now() - t) / 1e3);
const mem = wasmMemoryBytes();

const row = (name, nat, wasm) =>
  `| ${name.padEnd(22)} | ${nat.toFixed(1).padStart(8)} | ${wasm.toFixed(1).padStart(8)} | ${(wasm / nat).toFixed(2).padStart(11)} |`;
console.log(`encoder benchmark: ${texts.length} texts, model ${enc.modelId}, node ${process.version}`);
console.log("| measure                |   native |     wasm | wasm/native |");
console.log("| ---------------------- | -------: | -------: | ----------: |");
console.log(row("batch 1 (texts/s)", native.batch1_texts_per_s, b1));
console.log(row("batch 32 (texts/s)", native.batch32_texts_per_s, b32));
console.log(row("load (ms)", native.load_ms, loadMs));
console.log(`wasm linear memory after the run: ${(mem / 2 ** 20).toFixed(0)} MiB`);
