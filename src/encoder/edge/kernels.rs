//! The arithmetic of the edge model: activations quantized per row, int8 matrix products with
//! exact integer accumulation, and the f32 pieces around them (LayerNorm, GELU).
//!
//! Activations are quantized per row (per token) to **unsigned 7 bits** with a zero point:
//! `x ≈ scale · (q − zero)`, `q ∈ [0, 127]`. Weights are signed int8 per output channel. That pair
//! is what wasm's relaxed `i32x4.relaxed_dot_i8x16_i7x16_add_s` multiplies deterministically on
//! every engine (one instruction for 16 products; the second operand must not use its top bit),
//! what x86's `pmaddubsw` computes without saturation (two products of at most 127·127 fit in
//! i16), and what plain simd128 emulates with `extmul`. All three accumulate the same integers,
//! so every path, native or wasm, gives bit-identical results.

pub use crate::vector::Isa;

/// Largest value of a quantized activation (7 bits, unsigned).
pub const Q_MAX: f32 = 127.0;

/// `rows × k` activations quantized per row: `x[r][i] ≈ scale[r] · (q[r·k + i] − zero[r])`.
#[derive(Default)]
pub struct QuantRows {
    q: Vec<u8>,
    scale: Vec<f32>,
    zero: Vec<i32>,
    tmp: Vec<f32>,
    k: usize,
    rows: usize,
}

impl QuantRows {
    /// Quantizes `x` (`rows × k`, row-major); the `exact` columns are left out (quantized as 0).
    pub fn quantize(&mut self, x: &[f32], k: usize, exact: &[u32]) {
        debug_assert!(k > 0 && x.len() % k == 0);
        let rows = x.len() / k;
        self.k = k;
        self.rows = rows;
        self.q.resize(rows * k, 0);
        self.scale.resize(rows, 0.0);
        self.zero.resize(rows, 0);
        self.tmp.resize(k, 0.0);
        for r in 0..rows {
            self.tmp.copy_from_slice(&x[r * k..(r + 1) * k]);
            // Channels the caller multiplies exactly leave the grid, so their large values do
            // not coarsen it for all the others.
            for &c in exact {
                self.tmp[c as usize] = 0.0;
            }
            let row = &self.tmp;
            let (lo, hi) = min_max(row);
            // The range always holds 0, so that 0 (and every exact channel's slot) is exact.
            let (lo, hi) = (lo.min(0.0), hi.max(0.0));
            let scale = if hi > lo { (hi - lo) / Q_MAX } else { 1.0 };
            let inv = 1.0 / scale;
            let zero = (-lo * inv).round_ties_even().clamp(0.0, Q_MAX);
            to_u7(row, inv, zero, &mut self.q[r * k..(r + 1) * k]);
            self.scale[r] = scale;
            self.zero[r] = zero as i32;
        }
    }

    fn row(&self, r: usize) -> &[u8] {
        &self.q[r * self.k..(r + 1) * self.k]
    }
}

/// `q = clamp(round(v·inv + zero), 0, 127)`, ties to even (f32x4.nearest in wasm).
fn to_u7(row: &[f32], inv: f32, zero: f32, q: &mut [u8]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let done = wasm::to_u7(row, inv, zero, q);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let done = 0;
    for (d, &v) in q[done..].iter_mut().zip(&row[done..]) {
        *d = round_ties_even_small(v * inv + zero).clamp(0.0, Q_MAX) as u8;
    }
}

/// `x.round_ties_even()` for `|x| < 2²²`, by adding and subtracting 1.5·2²³ (the addition rounds
/// to an integer, ties to even, under IEEE round-to-nearest); beyond that range the result is
/// still on the same side of [0, 127], so the clamped code is the same. Unlike
/// `round_ties_even` on x86 without SSE4.1 (a libm call per value) it vectorises.
#[inline(always)]
fn round_ties_even_small(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC) - MAGIC
}

fn min_max(x: &[f32]) -> (f32, f32) {
    // Eight lanes so the loop vectorises (f32 min/max are exact in any order).
    let mut lo = [f32::INFINITY; 8];
    let mut hi = [f32::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..8 {
            lo[i] = if c[i] < lo[i] { c[i] } else { lo[i] };
            hi[i] = if c[i] > hi[i] { c[i] } else { hi[i] };
        }
    }
    let mut l = lo.iter().copied().fold(f32::INFINITY, f32::min);
    let mut h = hi.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for &v in rest {
        l = l.min(v);
        h = h.max(v);
    }
    (l, h)
}

/// An int8 linear layer, `out × in` weights stored row per output channel.
pub struct QLinear<'w> {
    /// `n × k` int8 weights.
    pub weight: &'w [i8],
    /// Per output channel: `w ≈ scale · weight`.
    pub scale: &'w [f32],
    /// Per output channel: the sum of its int8 weights (for the activations' zero point).
    pub wsum: &'w [i32],
    /// Per output channel.
    pub bias: &'w [f32],
}

/// `out = a · Wᵀ + bias` (`a.rows × n`), from exact i32 dot products.
pub fn matmul(a: &QuantRows, w: &QLinear, out: &mut [f32]) {
    let n = w.scale.len();
    debug_assert_eq!(w.weight.len(), n * a.k);
    debug_assert_eq!(out.len(), a.rows * n);
    match Isa::current() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: Isa::current() returned Avx2 only after detecting AVX2 on this CPU.
        Isa::Avx2 => unsafe { avx2::matmul(a, w, out) },
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        // SAFETY: shapes were checked above (debug) and by the model loader.
        _ if w.scale.len() % 4 == 0 && a.k % 16 == 0 => unsafe { wasm::matmul(a, w, out) },
        _ => drive(a, w, out, tile),
    }
}

/// The loop around a tile kernel: 4 output channels by up to 2 rows at a time, output channels
/// outermost so a block of weights stays in L1 while every row passes over it.
#[inline(always)]
fn drive(a: &QuantRows, w: &QLinear, out: &mut [f32], tile: impl Fn(&[&[u8]], &[&[i8]], &mut [[i32; 4]; 2])) {
    let (n, k) = (w.scale.len(), a.k);
    let mut acc = [[0i32; 4]; 2];
    let mut o = 0;
    while o < n {
        let cols = (n - o).min(4);
        let wrows: [&[i8]; 4] = std::array::from_fn(|c| {
            let oc = o + c.min(cols - 1);
            &w.weight[oc * k..(oc + 1) * k]
        });
        let mut r = 0;
        while r < a.rows {
            let rows = (a.rows - r).min(2);
            let arows: [&[u8]; 2] = std::array::from_fn(|i| a.row(r + i.min(rows - 1)));
            tile(&arows[..rows], &wrows[..cols], &mut acc);
            for i in 0..rows {
                let (s, z) = (a.scale[r + i], a.zero[r + i]);
                let dst = &mut out[(r + i) * n + o..(r + i) * n + o + cols];
                for (c, d) in dst.iter_mut().enumerate() {
                    let dot = acc[i][c] - z * w.wsum[o + c];
                    *d = s * w.scale[o + c] * dot as f32 + w.bias[o + c];
                }
            }
            r += rows;
        }
        o += cols;
    }
}

/// Dot products of `a` rows with `w` rows into `acc[row][col]`, in the best instruction set.
#[inline(always)]
fn tile(a: &[&[u8]], w: &[&[i8]], acc: &mut [[i32; 4]; 2]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        // SAFETY: every row has the same length (checked by the callers' shapes); the wasm
        // kernels read only within it.
        unsafe { wasm::tile(a, w, acc) }
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    tile_portable(a, w, acc)
}

#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
fn tile_portable(a: &[&[u8]], w: &[&[i8]], acc: &mut [[i32; 4]; 2]) {
    for (i, ar) in a.iter().enumerate() {
        for (c, wr) in w.iter().enumerate() {
            acc[i][c] = dot_scalar(ar, wr);
        }
    }
}

fn dot_scalar(a: &[u8], w: &[i8]) -> i32 {
    a.iter().zip(w).map(|(&x, &y)| x as i32 * y as i32).sum()
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use core::arch::wasm32::*;

    /// One 16-byte step of [`tile`]: 16 products of int8 weights and 7-bit activations summed
    /// into `acc`.
    #[cfg(feature = "relaxed-simd")]
    #[inline(always)]
    unsafe fn step_bytes(w: v128, a: v128, acc: v128) -> v128 {
        // Deterministic because `a` never has its top bit set (activations are 0..=127).
        i32x4_relaxed_dot_i8x16_i7x16_add(w, a, acc)
    }

    #[cfg(not(feature = "relaxed-simd"))]
    #[inline(always)]
    unsafe fn step_bytes(w: v128, a: v128, acc: v128) -> v128 {
        // Two products of at most 127·127 fit in i16 (32,258), so pairing lo and hi is exact.
        let p = i16x8_add(i16x8_extmul_low_i8x16(w, a), i16x8_extmul_high_i8x16(w, a));
        i32x4_add(acc, i32x4_extadd_pairwise_i16x8(p))
    }

    #[inline(always)]
    fn hsum(v: v128) -> i32 {
        i32x4_extract_lane::<0>(v)
            .wrapping_add(i32x4_extract_lane::<1>(v))
            .wrapping_add(i32x4_extract_lane::<2>(v))
            .wrapping_add(i32x4_extract_lane::<3>(v))
    }

    /// [`super::to_u7`] 16 values at a time; returns how many it did (a multiple of 16).
    pub(super) fn to_u7(row: &[f32], inv: f32, zero: f32, q: &mut [u8]) -> usize {
        let (vi, vz, lo, hi) = (f32x4_splat(inv), f32x4_splat(zero), f32x4_splat(0.0), f32x4_splat(super::Q_MAX));
        let four = |i: usize| {
            // SAFETY: i + 4 <= row.len(), checked by the loop below.
            let v = unsafe { v128_load(row.as_ptr().add(i) as *const v128) };
            let v = f32x4_nearest(f32x4_add(f32x4_mul(v, vi), vz));
            i32x4_trunc_sat_f32x4(f32x4_pmin(f32x4_pmax(v, lo), hi))
        };
        let mut done = 0;
        while done + 16 <= row.len().min(q.len()) {
            let a = i16x8_narrow_i32x4(four(done), four(done + 4));
            let b = i16x8_narrow_i32x4(four(done + 8), four(done + 12));
            // SAFETY: done + 16 <= q.len().
            unsafe { v128_store(q.as_mut_ptr().add(done) as *mut v128, u8x16_narrow_i16x8(a, b)) };
            done += 16;
        }
        done
    }

    /// `[Σa, Σb, Σc, Σd]`: four horizontal sums in one vector.
    #[inline(always)]
    fn hsum4(a: v128, b: v128, c: v128, d: v128) -> v128 {
        let ab = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(a, b), i32x4_shuffle::<2, 6, 3, 7>(a, b));
        let cd = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(c, d), i32x4_shuffle::<2, 6, 3, 7>(c, d));
        i32x4_add(i32x4_shuffle::<0, 1, 4, 5>(ab, cd), i32x4_shuffle::<2, 3, 6, 7>(ab, cd))
    }

    // The operands of one 16-value step of the product, as each build holds them.
    //
    // relaxed-simd: the activations as they are (u7) and the raw int8 weights, one dot
    // instruction per step. simd128: the activations widened to i16 once per matmul (every
    // output channel reads them again) and each weight vector widened once per pass (both rows
    // use it), so that a step is two `i32x4.dot_i16x8_s` (one instruction each on x86 and
    // arm) where multiplying bytes takes two widening multiplies and two pairwise adds. Either
    // way the i32 sums are the same exact integers: results stay bit-identical.

    /// Activations of one row, as the step reads them.
    #[cfg(feature = "relaxed-simd")]
    type Act = u8;
    #[cfg(not(feature = "relaxed-simd"))]
    type Act = i16;

    /// One row's 16 activations from `i`.
    #[cfg(feature = "relaxed-simd")]
    #[inline(always)]
    unsafe fn load_act(row: *const Act, i: usize) -> (v128, v128) {
        (v128_load(row.add(i) as *const v128), i32x4_splat(0))
    }
    #[cfg(not(feature = "relaxed-simd"))]
    #[inline(always)]
    unsafe fn load_act(row: *const Act, i: usize) -> (v128, v128) {
        (v128_load(row.add(i) as *const v128), v128_load(row.add(i + 8) as *const v128))
    }

    /// One output channel's 16 weights from `i`, prepared for [`step`].
    #[cfg(feature = "relaxed-simd")]
    #[inline(always)]
    unsafe fn load_w(w: *const i8, i: usize) -> (v128, v128) {
        (v128_load(w.add(i) as *const v128), i32x4_splat(0))
    }
    #[cfg(not(feature = "relaxed-simd"))]
    #[inline(always)]
    unsafe fn load_w(w: *const i8, i: usize) -> (v128, v128) {
        let v = v128_load(w.add(i) as *const v128);
        (i16x8_extend_low_i8x16(v), i16x8_extend_high_i8x16(v))
    }

    /// 16 products of weights and activations summed into `acc`.
    #[cfg(feature = "relaxed-simd")]
    #[inline(always)]
    unsafe fn step((w, _): (v128, v128), (a, _): (v128, v128), acc: v128) -> v128 {
        step_bytes(w, a, acc)
    }
    #[cfg(not(feature = "relaxed-simd"))]
    #[inline(always)]
    unsafe fn step((wl, wh): (v128, v128), (al, ah): (v128, v128), acc: v128) -> v128 {
        i32x4_add(acc, i32x4_add(i32x4_dot_i16x8(wl, al), i32x4_dot_i16x8(wh, ah)))
    }

    /// Rows of activations [`matmul`] widens at a time: a bounded buffer (at most 96 KiB for
    /// the FFN's 1,536 inputs) however many tokens a call holds.
    const ROW_BLOCK: usize = 32;

    /// The activations of `rows` as [`step`] reads them: the relaxed build reads them in place.
    #[cfg(feature = "relaxed-simd")]
    fn activations<'a>(a: &'a super::QuantRows, rows: std::ops::Range<usize>, _buf: &'a mut Vec<Act>) -> &'a [Act] {
        &a.q[rows.start * a.k..rows.end * a.k]
    }
    #[cfg(not(feature = "relaxed-simd"))]
    fn activations<'a>(a: &'a super::QuantRows, rows: std::ops::Range<usize>, buf: &'a mut Vec<Act>) -> &'a [Act] {
        buf.clear();
        buf.extend(a.q[rows.start * a.k..rows.end * a.k].iter().map(|&x| x as i16));
        buf
    }

    /// The whole product for `n % 4 == 0` and `k % 16 == 0`: 2 rows × 4 output channels per
    /// step, sums and dequantization four channels at a time (the same float operations, in
    /// the same order, as the portable path: results are bit-identical).
    #[cfg_attr(feature = "relaxed-simd", target_feature(enable = "relaxed-simd"))]
    pub(super) unsafe fn matmul(a: &super::QuantRows, w: &super::QLinear, out: &mut [f32]) {
        let (n, k, rows) = (w.scale.len(), a.k, a.rows);
        let z = i32x4_splat(0);
        let mut buf = Vec::new();
        let store = |out: &mut [f32], r: usize, o: usize, dots: v128, wsum: v128, wscale: v128, bias: v128| {
            let d = i32x4_sub(dots, i32x4_mul(i32x4_splat(a.zero[r]), wsum));
            let v = f32x4_add(f32x4_mul(f32x4_mul(f32x4_splat(a.scale[r]), wscale), f32x4_convert_i32x4(d)), bias);
            let dst = &mut out[r * n + o..r * n + o + 4];
            v128_store(dst.as_mut_ptr() as *mut v128, v);
        };
        for first in (0..rows).step_by(ROW_BLOCK) {
            let end = (first + ROW_BLOCK).min(rows);
            let q = activations(a, first..end, &mut buf);
            let at = |r: usize| q[(r - first) * k..].as_ptr();
            for o in (0..n).step_by(4) {
                let wp = [0, 1, 2, 3].map(|c| w.weight[(o + c) * k..].as_ptr());
                let wsum = v128_load(w.wsum[o..o + 4].as_ptr() as *const v128);
                let wscale = v128_load(w.scale[o..o + 4].as_ptr() as *const v128);
                let bias = v128_load(w.bias[o..o + 4].as_ptr() as *const v128);
                let mut r = first;
                while r + 2 <= end {
                    let (a0, a1) = (at(r), at(r + 1));
                    let (mut s00, mut s01, mut s02, mut s03) = (z, z, z, z);
                    let (mut s10, mut s11, mut s12, mut s13) = (z, z, z, z);
                    let mut i = 0;
                    while i < k {
                        let x0 = load_act(a0, i);
                        let x1 = load_act(a1, i);
                        let w0 = load_w(wp[0], i);
                        s00 = step(w0, x0, s00);
                        s10 = step(w0, x1, s10);
                        let w1 = load_w(wp[1], i);
                        s01 = step(w1, x0, s01);
                        s11 = step(w1, x1, s11);
                        let w2 = load_w(wp[2], i);
                        s02 = step(w2, x0, s02);
                        s12 = step(w2, x1, s12);
                        let w3 = load_w(wp[3], i);
                        s03 = step(w3, x0, s03);
                        s13 = step(w3, x1, s13);
                        i += 16;
                    }
                    store(out, r, o, hsum4(s00, s01, s02, s03), wsum, wscale, bias);
                    store(out, r + 1, o, hsum4(s10, s11, s12, s13), wsum, wscale, bias);
                    r += 2;
                }
                if r < end {
                    let a0 = at(r);
                    let (mut s0, mut s1, mut s2, mut s3) = (z, z, z, z);
                    let mut i = 0;
                    while i < k {
                        let x0 = load_act(a0, i);
                        s0 = step(load_w(wp[0], i), x0, s0);
                        s1 = step(load_w(wp[1], i), x0, s1);
                        s2 = step(load_w(wp[2], i), x0, s2);
                        s3 = step(load_w(wp[3], i), x0, s3);
                        i += 16;
                    }
                    store(out, r, o, hsum4(s0, s1, s2, s3), wsum, wscale, bias);
                }
            }
        }
    }

    #[cfg_attr(feature = "relaxed-simd", target_feature(enable = "relaxed-simd"))]
    pub(super) unsafe fn tile(a: &[&[u8]], w: &[&[i8]], acc: &mut [[i32; 4]; 2]) {
        let k = a[0].len();
        let body = k / 16 * 16;
        for (r, ar) in a.iter().enumerate() {
            for (c, wr) in w.iter().enumerate() {
                let mut s = i32x4_splat(0);
                let mut i = 0;
                while i < body {
                    let av = v128_load(ar.as_ptr().add(i) as *const v128);
                    let wv = v128_load(wr.as_ptr().add(i) as *const v128);
                    s = step_bytes(wv, av, s);
                    i += 16;
                }
                acc[r][c] = hsum(s) + super::dot_scalar(&ar[body..], &wr[body..]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{QLinear, QuantRows};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2")]
    fn hsum(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }

    /// 32 products of 7-bit activations (unsigned operand) and int8 weights into `acc`:
    /// `vpmaddubsw` cannot saturate here (two products of at most 127·127).
    #[target_feature(enable = "avx2")]
    fn step(a: __m256i, w: __m256i, acc: __m256i, ones: __m256i) -> __m256i {
        _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, w), ones))
    }

    #[target_feature(enable = "avx2")]
    fn tile(a: &[&[u8]], w: &[&[i8]], acc: &mut [[i32; 4]; 2]) {
        let k = a[0].len();
        let body = k / 32 * 32;
        let ones = _mm256_set1_epi16(1);
        let load = |p: *const u8, i: usize| {
            // SAFETY: i + 32 <= body <= the row length.
            unsafe { _mm256_loadu_si256(p.add(i) as *const __m256i) }
        };
        for (r, ar) in a.iter().enumerate() {
            let mut s = [_mm256_setzero_si256(); 4];
            let mut i = 0;
            while i < body {
                let av = load(ar.as_ptr(), i);
                for (c, wr) in w.iter().enumerate() {
                    s[c] = step(av, load(wr.as_ptr() as *const u8, i), s[c], ones);
                }
                i += 32;
            }
            for c in 0..w.len() {
                acc[r][c] = hsum(s[c]) + super::dot_scalar(&ar[body..], &w[c][body..]);
            }
        }
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn matmul(a: &QuantRows, w: &QLinear, out: &mut [f32]) {
        super::drive(a, w, out, |a, w, acc| tile(a, w, acc));
    }
}

/// In-place LayerNorm of every `k`-wide row of `x`.
pub fn layer_norm(x: &mut [f32], k: usize, gamma: &[f32], beta: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(k) {
        let mean = sum8(row) / k as f32;
        let mut sq = [0f32; 8];
        let chunks = row.chunks_exact(8);
        let rest: f32 = chunks.remainder().iter().map(|v| (v - mean) * (v - mean)).sum();
        for c in chunks {
            for i in 0..8 {
                sq[i] += (c[i] - mean) * (c[i] - mean);
            }
        }
        let var = (sq.iter().sum::<f32>() + rest) / k as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, &g), &b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

fn sum8(x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..8 {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `erf(x)` for f32 as a rational polynomial on [-4, 4] (beyond it erf is ±1 in f32); branch-free
/// so the GELU loop vectorises. Max error ~1e-7 (tested against libm).
// The constants are written as fitted; clamp would change NaN handling, which a comparison keeps.
#[allow(clippy::excessive_precision, clippy::manual_clamp)]
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = if x > 4.0 {
        4.0
    } else if x < -4.0 {
        -4.0
    } else {
        x
    };
    let x2 = x * x;
    let mut p = -2.726_142_2e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_600e-3;
    p = p * x2 - 1.609_603_3e-2;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329e-3;
    q = q * x2 - 1.426_474e-2;
    x * p / q
}

/// GELU in place: the exact (erf) form, or the tanh approximation some models use.
pub fn gelu(x: &mut [f32], tanh_form: bool) {
    if tanh_form {
        for v in x.iter_mut() {
            let u = 0.797_884_6 * (*v + 0.044_715 * *v * *v * *v);
            *v = 0.5 * *v * (1.0 + libm::tanhf(u));
        }
    } else {
        for v in x.iter_mut() {
            *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// `e^x` for `x ≤ 0` (softmax's inputs once the row's max is subtracted), within 2.5e-7
/// relative of `exp` (the test holds it under 3e-7 against f64's `exp`): `2^n · e^r` with
/// `n = round(x·log₂e)`, `r` reduced by a two-part ln 2 (Cody–Waite) and `e^r` a degree-6
/// Taylor polynomial on [−ln2/2, ln2/2].
/// Branch-free, so a row vectorises: libm's `expf` is a call per value, and attention's
/// softmaxes were most of its time. Below −87 (where `e^x` nears f32's smallest normal) it
/// returns `e^−87`, which no softmax row can tell from 0 (its largest value is 1).
/// Every target runs the same f32 operations: native and wasm agree to the bit.
// The clamp is written as a comparison so a NaN stays NaN (as in `erf`).
#[allow(clippy::manual_clamp)]
#[inline(always)]
pub fn exp_nonpositive(x: f32) -> f32 {
    let x = if x < -87.0 { -87.0 } else { x };
    const LN2_HI: f32 = 355.0 / 512.0; // ln 2 to 9 bits: n · LN2_HI is exact
    const LN2_LO: f32 = -2.121_944_4e-4;
    let n = round_ties_even_small(x * std::f32::consts::LOG2_E);
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 720.0f32;
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = p * r + c;
    }
    // n ∈ [−126, 0]: 2^n is a normal f32 built from its exponent bits.
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// In-place softmax of one row ([`exp_nonpositive`] on every target, so native and wasm agree).
pub fn softmax(x: &mut [f32]) {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // Two loops: the exponentials vectorise, the sum keeps its order.
    x.iter_mut().for_each(|v| *v = exp_nonpositive(*v - m));
    let s: f32 = x.iter().sum();
    let inv = 1.0 / s;
    x.iter_mut().for_each(|v| *v *= inv);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_rounding_is_round_ties_even_on_the_grid() {
        for i in -200_000..=200_000 {
            let x = i as f32 / 1000.0;
            for v in [x, x + 0.5, x - 0.5] {
                // The code is what counts (−0 and +0 both give 0).
                let want = v.round_ties_even().clamp(0.0, Q_MAX) as u8;
                assert_eq!(round_ties_even_small(v).clamp(0.0, Q_MAX) as u8, want, "{v}");
            }
        }
        for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e9, -1e9, 4194303.5, 126.5, 127.5, -0.5, 0.5, 1.5, 2.5] {
            assert_eq!(round_ties_even_small(v).clamp(0.0, Q_MAX) as u8, v.round_ties_even().clamp(0.0, Q_MAX) as u8, "{v}");
        }
    }

    #[test]
    fn exp_matches_f64_exp_on_softmax_inputs() {
        let mut worst = 0f64;
        for i in 0..=870_000 {
            let x = -(i as f32) * 1e-4;
            let want = (x as f64).exp();
            worst = worst.max(((exp_nonpositive(x) as f64 - want) / want).abs());
        }
        assert!(worst < 3e-7, "max relative error {worst}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(-1e30) > 0.0 && exp_nonpositive(-1e30) < 1e-37, "clamped, never 0 or a NaN");
        assert!(exp_nonpositive(f32::NAN).is_nan());
        let mut row = [0.5f32, -3.0, 2.0, f32::NEG_INFINITY];
        softmax(&mut row);
        let want: Vec<f64> = [0.5f64, -3.0, 2.0].iter().map(|v| (v - 2.0).exp()).collect();
        let total: f64 = want.iter().sum();
        for (got, w) in row.iter().zip(&want) {
            assert!((*got as f64 - w / total).abs() < 1e-6, "{row:?}");
        }
        assert!(row[3] < 1e-37, "a −∞ score weighs (next to) nothing");
    }

    #[test]
    fn erf_matches_libm() {
        let mut worst = 0f32;
        for i in -60_000..=60_000 {
            let x = i as f32 / 10_000.0;
            worst = worst.max((erf(x) - libm::erff(x)).abs());
        }
        assert!(worst < 2e-6, "max |erf - libm::erff| = {worst}");
    }

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    #[test]
    fn quantized_rows_round_trip_within_half_a_step() {
        let mut s = 7;
        let x: Vec<f32> = (0..3 * 40).map(|_| lcg(&mut s) * 3.0 + 0.5).collect();
        let mut q = QuantRows::default();
        q.quantize(&x, 40, &[]);
        for r in 0..3 {
            for i in 0..40 {
                let back = q.scale[r] * (q.q[r * 40 + i] as i32 - q.zero[r]) as f32;
                assert!((back - x[r * 40 + i]).abs() <= q.scale[r] * 0.5001);
                assert!(q.q[r * 40 + i] <= 127);
            }
        }
    }

    /// The dispatched kernel (AVX2 here when the CPU has it) equals plain integer arithmetic,
    /// for shapes with row, column and K remainders.
    #[test]
    fn matmul_equals_reference() {
        let mut s = 11;
        for (rows, n, k) in [(1, 4, 16), (3, 5, 384), (5, 12, 45), (2, 8, 1536), (7, 3, 33)] {
            let x: Vec<f32> = (0..rows * k).map(|_| lcg(&mut s) * 2.0).collect();
            let w: Vec<i8> = (0..n * k).map(|_| (lcg(&mut s) * 127.0) as i8).collect();
            let scale: Vec<f32> = (0..n).map(|i| 0.01 + i as f32 * 1e-3).collect();
            let bias: Vec<f32> = (0..n).map(|i| i as f32 * 0.1).collect();
            let wsum: Vec<i32> = w.chunks(k).map(|r| r.iter().map(|&v| v as i32).sum()).collect();
            let mut q = QuantRows::default();
            q.quantize(&x, k, &[]);
            let lin = QLinear { weight: &w, scale: &scale, wsum: &wsum, bias: &bias };
            let mut out = vec![0f32; rows * n];
            matmul(&q, &lin, &mut out);
            for r in 0..rows {
                for o in 0..n {
                    let dot = dot_scalar(q.row(r), &w[o * k..(o + 1) * k]) - q.zero[r] * wsum[o];
                    let want = q.scale[r] * scale[o] * dot as f32 + bias[o];
                    assert_eq!(out[r * n + o], want, "rows {rows} n {n} k {k} at ({r},{o}) on {:?}", Isa::current());
                }
            }
        }
    }
}
