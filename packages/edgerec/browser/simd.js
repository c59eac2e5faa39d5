// Feature detection for the two wasm builds: simd128 (required) and relaxed-simd (preferred).
// Each test validates a minimal module whose one function uses the instruction in question:
//   (func  v128.const 0 … ; <op> ; drop)

const V128_ZERO = [0xfd, 0x0c, ...new Array(16).fill(0)]; // v128.const i32x4 0 0 0 0

/** A module with one `() -> ()` function whose body (after the locals count) is `code`. */
function moduleWith(code) {
  const body = [0x00 /* no locals */, ...code, 0x0b /* end */];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: one type, () -> ()
    0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
    0x0a, body.length + 2, 0x01, body.length, ...body, // code section: one body
  ]);
}

/** `f32x4.add` (0xfd 0xe4 0x01): fixed-width SIMD, which every edgerec build needs. */
export const SIMD128_PROBE = moduleWith([...V128_ZERO, ...V128_ZERO, 0xfd, 0xe4, 0x01, 0x1a /* drop */]);

/** `f32x4.relaxed_madd` (0xfd, opcode 0x105 as LEB128 0x85 0x02): relaxed SIMD. */
export const RELAXED_SIMD_PROBE = moduleWith([...V128_ZERO, ...V128_ZERO, ...V128_ZERO, 0xfd, 0x85, 0x02, 0x1a]);

/** Whether this engine runs fixed-width SIMD (simd128). */
export function simd128Supported() {
  return typeof WebAssembly === "object" && WebAssembly.validate(SIMD128_PROBE);
}

/** Whether this engine runs relaxed SIMD (then the harness loads the relaxed build). */
export function relaxedSimdSupported() {
  return typeof WebAssembly === "object" && WebAssembly.validate(RELAXED_SIMD_PROBE);
}
