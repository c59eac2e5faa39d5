//! Every numeric kernel over vectors, behind one ISA dispatch: the int8 quantizer, int8 and f32
//! dot products, sign bits, Hamming distances and the coarse pass's cosines from them, L2
//! normalisation, a seeded orthogonal rotation.
//!
//! Used by the catalog (storing vectors), ranking (scoring the catalog), the encoders (pooling,
//! normalising) and the CLI; nothing here knows what a vector means.

mod coarse;
mod dot;
mod hamming;
mod isa;
mod rotation;

pub use coarse::{keep_best, Closest, CoarseTerms, HammingCosine};
pub use dot::dot_i8;
pub use hamming::hamming_block;
pub use isa::Isa;
pub use rotation::Rotation;

/// Symmetric int8 quantization of one row: `v ≈ scale · q`, `q ∈ [-127, 127]`, max |v| → 127.
/// Returns the scale (0 for an all-zero row, which quantizes to zeros).
pub fn quantize_i8(v: &[f32], out: &mut [i8]) -> f32 {
    debug_assert_eq!(v.len(), out.len());
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        out.fill(0);
        return 0.0;
    }
    let scale = max / 127.0;
    for (o, x) in out.iter_mut().zip(v) {
        *o = (x / scale).round().clamp(-127.0, 127.0) as i8;
    }
    scale
}

/// The sign bits of `v`: bit `i` set when `v[i] > 0`, `v.len().div_ceil(64)` words.
pub fn sign_bits(v: &[i8]) -> Vec<u64> {
    let mut out = Vec::with_capacity(v.len().div_ceil(64));
    push_sign_bits(v, &mut out);
    out
}

/// Appends [`sign_bits`] of `v` to `out`: a catalog's load makes every item's in one vector, 64
/// signs a word without a branch (an allocation and a branch per component made a million-item
/// load spend a second here).
pub fn push_sign_bits(v: &[i8], out: &mut Vec<u64>) {
    out.extend(v.chunks(64).map(|chunk| chunk.iter().enumerate().fold(0u64, |w, (k, &x)| w | (u64::from(x > 0) << k))));
}

/// `Σ a[i]·b[i]` in eight lanes (vectorises; a fixed order, so every target gives the same bits).
#[inline(always)]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let rest: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// Scales `v` to unit length, as `torch.nn.functional.normalize` does (norm clamped at 1e-12),
/// and returns the norm it had (0 for a zero vector, which stays zero).
pub fn l2_normalize(v: &mut [f32]) -> f32 {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let clamped = norm.max(1e-12);
    v.iter_mut().for_each(|x| *x /= clamped);
    norm
}

/// `acc += w · x`, element-wise.
pub fn add_scaled(acc: &mut [f32], w: f32, x: &[f32]) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a += w * v;
    }
}

/// `acc += w · x` for an int8 row (a scaled row of a quantized table).
pub fn add_scaled_i8(acc: &mut [f32], w: f32, x: &[i8]) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a += w * v as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_round_trips_within_half_a_step() {
        let v = [0.5, -0.25, 0.0, 0.1];
        let mut q = [0i8; 4];
        let s = quantize_i8(&v, &mut q);
        assert_eq!(q[0], 127);
        for (x, &y) in v.iter().zip(&q) {
            assert!((x - y as f32 * s).abs() <= s / 2.0 + 1e-7);
        }
        assert_eq!(quantize_i8(&[0.0, 0.0], &mut [1, 1]), 0.0);
    }

    #[test]
    fn normalizes_and_survives_zero() {
        let mut v = [3.0, 4.0];
        assert_eq!(l2_normalize(&mut v), 5.0);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = [0.0, 0.0];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0, 0.0]);
    }

    #[test]
    fn sign_bits_set_the_positive_components_in_order() {
        for len in [1usize, 63, 64, 65, 240, 384] {
            let v: Vec<i8> = (0..len).map(|i| ((i * 53 % 7) as i8) - 3).collect();
            let bits = sign_bits(&v);
            assert_eq!(bits.len(), len.div_ceil(64));
            for (i, &x) in v.iter().enumerate() {
                assert_eq!(bits[i / 64] >> (i % 64) & 1 == 1, x > 0, "len {len}, component {i}");
            }
            let mut two = vec![7u64];
            push_sign_bits(&v, &mut two);
            assert_eq!((two[0], &two[1..]), (7, &bits[..]));
        }
    }

    #[test]
    fn sign_bits_and_hamming_agree_with_a_naive_count() {
        let a: Vec<i8> = (0..384).map(|i| ((i * 37 % 255) - 127) as i8).collect();
        let b: Vec<i8> = (0..384).map(|i| ((i * 91 % 255) - 127) as i8).collect();
        let want = a.iter().zip(&b).filter(|(x, y)| (**x > 0) != (**y > 0)).count() as u32;
        let (qa, qb) = (sign_bits(&a), sign_bits(&b));
        let mut out = [0u32; 2];
        let items: Vec<u64> = qb.iter().chain(&qa).copied().collect();
        hamming_block(&qa, &items, &mut out);
        assert_eq!(out, [want, 0]);
    }

    #[test]
    fn dot_f32_matches_naive() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot_f32(&a, &b) - want).abs() < 1e-4);
    }
}
