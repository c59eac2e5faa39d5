//! How fast this engine runs the one instruction each int8 encoder build multiplies with, with
//! nothing else in the way: independent accumulators, the operands in registers, no loads.
//! `bench/dot-peak.mjs` compares the encoder's measured matmul rate with these.
//!
//! One operand changes every iteration (one add per five or ten measured instructions) so that the compiler
//! cannot hoist a product out of the loop; that slightly understates the peak.

#![no_std]

use core::arch::wasm32::*;
use core::hint::black_box;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// Vectors from the caller's seed, opaque to the optimiser.
fn operands<const N: usize>(seed: i32) -> [v128; N] {
    let s = black_box(seed);
    core::array::from_fn(|k| i8x16_splat((s.wrapping_mul(k as i32 + 3) >> 2) as i8))
}

fn fold<const N: usize>(s: [v128; N]) -> i32 {
    let t = s.iter().fold(i32x4_splat(0), |t, &v| i32x4_add(t, v));
    i32x4_extract_lane::<0>(t)
}

/// `10·n` relaxed dot-adds (`i32x4.relaxed_dot_i8x16_i7x16_add_s`, 16 products each): the
/// relaxed-simd build's matmul step. Ten independent accumulators on two operands: with the two
/// registers V8 uses for each dot-add, that is as many as the 15 it allocates hold.
#[no_mangle]
#[target_feature(enable = "relaxed-simd")]
pub fn relaxed_dot_add(n: u32, seed: i32) -> i32 {
    let [w, mut a] = operands::<2>(seed);
    let mut s = [i32x4_splat(0); 10];
    for _ in 0..n {
        for acc in s.iter_mut() {
            *acc = i32x4_relaxed_dot_i8x16_i7x16_add(w, a, *acc);
        }
        // A new operand each iteration: nothing to hoist. (Its top bits make the relaxed result
        // engine-defined, which changes no instruction: the value is not used.)
        a = i8x16_add(a, w);
    }
    fold(s)
}

/// `5·n` i16 dots and adds (`i32x4.dot_i16x8_s`, 8 products each, then `i32x4.add`): the
/// simd128 build's matmul step is two of these per 16 products. Five operands so that no two
/// products are the same expression.
#[no_mangle]
pub fn dot_i16_add(n: u32, seed: i32) -> i32 {
    let b = operands::<5>(seed);
    let [mut a] = operands::<1>(seed ^ 0x55);
    let mut s = [i32x4_splat(0); 5];
    for _ in 0..n {
        for (acc, &bk) in s.iter_mut().zip(&b) {
            *acc = i32x4_add(*acc, i32x4_dot_i16x8(a, bk));
        }
        a = i16x8_add(a, b[0]);
    }
    fold(s)
}
