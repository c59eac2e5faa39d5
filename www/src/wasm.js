// The Web Worker's wasm module: the wasm-bindgen glue (pkg/edgerec.js) and one of the two
// builds, relaxed-simd where the browser has it, else simd128, compiled while it streams.

import { EdgerecError } from "./errors.js";
import { fetchOk, throttled } from "./assets.js";
import { relaxedSimdSupported, simd128Supported } from "./simd.js";

/** The glue's import, started by the page's `prepare` message (a head start) or by init. */
let glueImport = null;
export function importGlue(url) {
  glueImport ??= import(url).catch((err) => {
    throw new EdgerecError("load_failed", `cannot import ${url}: ${err.message}`);
  });
  glueImport.catch(() => {}); // reported by init
  return glueImport;
}

/**
 * Imports the glue and instantiates the build `o.simd` asks for.
 * @param {{ pkg: string, wasm: { simd128: string, relaxed?: string | null }, simd: "auto" | "relaxed" | "simd128" }} o
 * @returns {Promise<{ glue: any, exports: any, choice: "relaxed" | "simd128" }>}
 */
export async function loadWasm(o) {
  if (typeof WebAssembly !== "object") throw new EdgerecError("unsupported", "this browser has no WebAssembly");
  if (!simd128Supported()) throw new EdgerecError("unsupported", "this browser has no WebAssembly SIMD (simd128)");
  const glue = await importGlue(o.pkg);
  const relaxedOk = relaxedSimdSupported();
  if (o.simd === "relaxed" && !relaxedOk) throw new EdgerecError("unsupported", "this browser has no relaxed SIMD");
  if (o.simd === "relaxed" && !o.wasm.relaxed) throw new EdgerecError("invalid_input", "no relaxed-simd build given (wasm.relaxed)");
  let choice = o.simd === "simd128" || !relaxedOk || !o.wasm.relaxed ? "simd128" : "relaxed";
  let res = await fetchOk(o.wasm[choice], choice === "relaxed" && o.simd === "auto");
  if (!res) { // no relaxed build on the server: use simd128
    choice = "simd128";
    res = await fetchOk(o.wasm.simd128);
  }
  const total = Number(res.headers.get("content-length")) || null;
  const report = throttled("wasm", total, "network");
  let loaded = 0;
  report(0);
  const counted = res.body.pipeThrough(new TransformStream({
    transform(chunk, ctl) {
      loaded += chunk.length;
      report(loaded);
      ctl.enqueue(chunk);
    },
  }));
  let module;
  try {
    module = await WebAssembly.compileStreaming(new Response(counted, { headers: { "content-type": "application/wasm" } }));
  } catch (err) {
    throw new EdgerecError("load_failed", `cannot compile ${o.wasm[choice]}: ${err.message}`);
  }
  report(loaded, true);
  const exports = await glue.default({ module_or_path: module });
  return { glue, exports, choice };
}
