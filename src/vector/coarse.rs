//! The coarse pass's arithmetic on Hamming distances: the cosine that sign bits suggest,
//! `cos(π·h/dim)`, each item's best weighted value over a request's queries, and the items
//! nearest to a query.
//!
//! The cosine comes from a polynomial rather than a table: a table read per item and query is a
//! scalar gather (wasm has none), while the polynomial runs four items at a time in wasm simd128
//! and vectorises natively. Every path (SIMD, portable, [`HammingCosine::at`] one item at a time)
//! performs the same f32 operations in the same order, so they agree to the bit.

use std::collections::BinaryHeap;

/// `sin(π·t/2) = t·(C[0] + C[1]·t² + … + C[5]·t¹⁰)`, Taylor to t¹¹: the truncation is under 6e-8
/// on [−1, 1]; against `cos` in f64 the f32 result is within 3e-7 (f32 rounding) for dimensions
/// 240 to 768.
const C: [f32; 6] =
    [std::f32::consts::FRAC_PI_2, -0.645_964_1, 0.079_692_63, -0.004_681_754, 0.000_160_441_18, -0.000_003_598_843];

/// `cos(π·h/dim)` for a Hamming distance `h` between sign bits of `dim` components.
#[derive(Debug, Clone, Copy)]
pub struct HammingCosine {
    half: f32,
    inv_half: f32,
}

impl HammingCosine {
    /// For `dim`-component vectors.
    pub fn new(dim: usize) -> Self {
        let half = dim as f32 / 2.0;
        Self { half, inv_half: 1.0 / half }
    }

    /// `cos(π·h/dim)` (`cos(π·h/dim) = sin(π·t/2)` with `t = 1 − 2h/dim`).
    #[inline(always)]
    pub fn at(self, h: u32) -> f32 {
        // Through i32 (a distance is far below 2³¹): the conversion every target vectorises.
        let t = (self.half - h as i32 as f32) * self.inv_half;
        let t2 = t * t;
        (((((C[5] * t2 + C[4]) * t2 + C[3]) * t2 + C[2]) * t2 + C[1]) * t2 + C[0]) * t
    }
}

/// How a query's value for an item is made from the cosine its sign bits suggest.
#[derive(Debug, Clone, Copy)]
pub enum CoarseTerms<'a> {
    /// `weight·cos` (int8 vectors: the coarse cosine is the sign bits' own).
    Plain {
        /// The query's weight.
        weight: f32,
    },
    /// `offset + weight·a[i] + spread[i]·(scale·cos)` (rotated4: see `catalog::vectors`).
    Rotated {
        /// The query's weight times its offset term.
        offset: f32,
        /// The query's weight.
        weight: f32,
        /// The query's weight times its length off the catalog's mean.
        scale: f32,
        /// The block's items' `A` terms.
        a: &'a [f32],
        /// The block's items' `B` terms.
        spread: &'a [f32],
    },
}

/// `best[i] = max(best[i], value of item i)` for the items at Hamming distances `dist` from one
/// query (`x > best` as the comparison: a NaN never replaces a value).
pub fn keep_best(cos: HammingCosine, terms: CoarseTerms, dist: &[u32], best: &mut [f32]) {
    let n = dist.len().min(best.len());
    let (dist, best) = (&dist[..n], &mut best[..n]);
    if let CoarseTerms::Rotated { a, spread, .. } = terms {
        assert!(a.len() >= n && spread.len() >= n, "a block's coarse terms");
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let done = simd::keep_best(cos, terms, dist, best);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let done = 0;
    let (dist, best) = (&dist[done..], &mut best[done..]);
    // One loop per kind, without branches: they vectorise natively.
    let keep = |b: &mut f32, x: f32| *b = if x > *b { x } else { *b };
    match terms {
        CoarseTerms::Plain { weight } => {
            best.iter_mut().zip(dist).for_each(|(b, &h)| keep(b, weight * cos.at(h)));
        }
        CoarseTerms::Rotated { offset, weight, scale, a, spread } => {
            let terms = a[done..n].iter().zip(&spread[done..n]);
            for ((b, &h), (&a, &sp)) in best.iter_mut().zip(dist).zip(terms) {
                keep(b, offset + weight * a + sp * (scale * cos.at(h)));
            }
        }
    }
}

/// The `n` items nearest to one query by Hamming distance, gathered while the coarse pass
/// streams the catalog past block by block: the same items, in the same order, as the best `n`
/// by the coarse cosine `cos.at(h)` with ties to the lower index (what `top_n` over the whole
/// catalog's cosines gives), without a pass, an array or a sort of its own.
#[derive(Debug, Clone)]
pub struct Closest {
    n: usize,
    /// `class[h]`: the smallest distance whose cosine equals `cos.at(h)`. The cosine only falls
    /// as `h` grows, but two distances may round to one f32: they tie, and the index decides.
    class: Vec<u32>,
    /// The best so far as `(class, item)`, the worst on top.
    kept: BinaryHeap<(u32, u32)>,
    /// Items never kept (ascending).
    skip: Vec<u32>,
    cos: HammingCosine,
}

impl Closest {
    /// A collector of the `n` nearest items of a `dim`-component catalog, never those of `skip`.
    pub fn new(dim: usize, n: usize, skip: &[u32]) -> Self {
        let cos = HammingCosine::new(dim);
        let mut class = Vec::with_capacity(dim + 1);
        for h in 0..=dim as u32 {
            let same = h > 0 && cos.at(h) == cos.at(h - 1);
            class.push(if same { class[h as usize - 1] } else { h });
        }
        let mut skip = skip.to_vec();
        skip.sort_unstable();
        Self { n, class, kept: BinaryHeap::with_capacity(n + 1), skip, cos }
    }

    /// Offers the items `first..first + dist.len()` at distances `dist`: every call's items
    /// come after the previous call's (the pass's order).
    #[inline]
    pub fn offer(&mut self, first: u32, dist: &[u32]) {
        if self.n == 0 {
            return;
        }
        // Once full, an item comes in only nearer than the worst kept: as items arrive in
        // ascending order, a tie never does. `class[h] < c ⟺ h < c` for a class `c`.
        let bound = |kept: &BinaryHeap<(u32, u32)>, n: usize| {
            if kept.len() < n {
                u32::MAX
            } else {
                kept.peek().map_or(u32::MAX, |t| t.0)
            }
        };
        let mut below = bound(&self.kept, self.n);
        if dist.iter().copied().min().is_none_or(|m| m >= below) {
            return;
        }
        for (k, &h) in dist.iter().enumerate() {
            if h >= below {
                continue;
            }
            let item = first + k as u32;
            if self.skip.binary_search(&item).is_ok() {
                continue;
            }
            let Some(&c) = self.class.get(h as usize) else { continue };
            self.kept.push((c, item));
            if self.kept.len() > self.n {
                self.kept.pop();
            }
            below = bound(&self.kept, self.n);
        }
    }

    /// The kept items and their coarse cosines (as `keep_best` from −1 computes them), nearest
    /// first.
    pub fn into_sorted(self) -> Vec<(u32, f32)> {
        let mut out = self.kept.into_sorted_vec();
        out.truncate(self.n);
        let cos = self.cos;
        out.into_iter()
            .map(|(c, item)| {
                let x = cos.at(c);
                (item, if x > -1.0 { x } else { -1.0 })
            })
            .collect()
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::*;

    use super::{CoarseTerms, HammingCosine, C};

    /// [`super::keep_best`] four items at a time; returns how many it did (a multiple of 4).
    #[inline]
    pub fn keep_best(cos: HammingCosine, terms: CoarseTerms, dist: &[u32], best: &mut [f32]) -> usize {
        let whole = dist.len() / 4 * 4;
        let (half, inv_half) = (f32x4_splat(cos.half), f32x4_splat(cos.inv_half));
        let c: [v128; 6] = core::array::from_fn(|k| f32x4_splat(C[k]));
        let cosine = |d: v128| {
            let t = f32x4_mul(f32x4_sub(half, f32x4_convert_i32x4(d)), inv_half);
            let t2 = f32x4_mul(t, t);
            let mut p = f32x4_add(f32x4_mul(c[5], t2), c[4]);
            for ck in [c[3], c[2], c[1], c[0]] {
                p = f32x4_add(f32x4_mul(p, t2), ck);
            }
            f32x4_mul(p, t)
        };
        // SAFETY: every load and store is of four lanes at `i < whole ≤ len` of its slice
        // (`a` and `spread` hold at least `dist.len()`: checked by the caller); v128 loads and
        // stores are unaligned.
        unsafe {
            let at = |s: &[u32], i: usize| v128_load(s.as_ptr().add(i) as *const v128);
            let at_f = |s: &[f32], i: usize| v128_load(s.as_ptr().add(i) as *const v128);
            match terms {
                CoarseTerms::Plain { weight } => {
                    let w = f32x4_splat(weight);
                    for i in (0..whole).step_by(4) {
                        let x = f32x4_mul(w, cosine(at(dist, i)));
                        let b = best.as_mut_ptr().add(i) as *mut v128;
                        v128_store(b, f32x4_pmax(v128_load(b), x));
                    }
                }
                CoarseTerms::Rotated { offset, weight, scale, a, spread } => {
                    let (o, w, s) = (f32x4_splat(offset), f32x4_splat(weight), f32x4_splat(scale));
                    for i in (0..whole).step_by(4) {
                        let x = f32x4_add(
                            f32x4_add(o, f32x4_mul(w, at_f(a, i))),
                            f32x4_mul(at_f(spread, i), f32x4_mul(s, cosine(at(dist, i)))),
                        );
                        let b = best.as_mut_ptr().add(i) as *mut v128;
                        v128_store(b, f32x4_pmax(v128_load(b), x));
                    }
                }
            }
        }
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_polynomial_is_the_cosine_within_3e_7_falls_and_is_exact_at_the_ends_of_model_dims() {
        for dim in [240usize, 256, 384, 768] {
            let cos = HammingCosine::new(dim);
            for h in 0..=dim as u32 {
                let want = (std::f64::consts::PI * h as f64 / dim as f64).cos();
                assert!((cos.at(h) as f64 - want).abs() < 3e-7, "dim {dim}, h {h}: {} vs {want}", cos.at(h));
            }
            assert_eq!((cos.at(0), cos.at(dim as u32 / 2), cos.at(dim as u32)), (1.0, 0.0, -1.0));
            // Falls as h grows, as cos does (the coarse pass's nearest-query shortcut needs it).
            assert!((0..dim as u32).all(|h| cos.at(h + 1) <= cos.at(h)), "dim {dim}");
        }
    }

    #[test]
    fn closest_keeps_the_best_n_by_the_coarse_cosine_ties_to_the_lower_index() {
        // Distances with many ties, in blocks of uneven length; some items skipped. At 5231
        // components the cosines of distances 0 and 1 round to one f32 (1.0): those tie too.
        for dim in [240usize, 384, 1000, 5231] {
            let cos = HammingCosine::new(dim);
            let dist: Vec<u32> = (0..2000u32)
                .map(|i| if dim == 5231 { (i * 7 + 3) % 5 } else { (i.wrapping_mul(2654435761) >> 7) % (dim as u32 + 1) })
                .collect();
            assert!(dim != 5231 || cos.at(0) == cos.at(1));
            let skip: Vec<u32> = (0..2000).step_by(37).collect();
            for n in [0usize, 1, 5, 32, 3000] {
                let mut want: Vec<(u32, f32)> =
                    (0..2000u32).filter(|i| !skip.contains(i)).map(|i| (i, cos.at(dist[i as usize]).max(-1.0))).collect();
                want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                want.truncate(n);
                let mut closest = Closest::new(dim, n, &skip);
                let mut first = 0;
                for len in [256usize, 1, 700, 43].iter().cycle() {
                    let end = (first + len).min(dist.len());
                    closest.offer(first as u32, &dist[first..end]);
                    first = end;
                    if first == dist.len() {
                        break;
                    }
                }
                assert_eq!(closest.into_sorted(), want, "dim {dim}, n {n}");
            }
        }
    }

    #[test]
    fn best_values_are_the_per_item_formula() {
        let cos = HammingCosine::new(384);
        let dist: Vec<u32> = (0..11).map(|i| i * 37 % 385).collect();
        let a: Vec<f32> = (0..11).map(|i| i as f32 * 0.01 - 0.05).collect();
        let spread: Vec<f32> = (0..11).map(|i| 0.5 + i as f32 * 0.02).collect();
        let mut best = vec![-0.2f32; 11];
        best[3] = f32::NAN;
        let terms = CoarseTerms::Rotated { offset: 0.1, weight: 0.7, scale: 0.9, a: &a, spread: &spread };
        keep_best(cos, terms, &dist, &mut best);
        for i in 0..11 {
            let x = 0.1 + 0.7 * a[i] + spread[i] * (0.9 * cos.at(dist[i]));
            if i == 3 {
                assert!(best[i].is_nan(), "a NaN best stays");
            } else {
                assert_eq!(best[i], if x > -0.2 { x } else { -0.2 }, "item {i}");
            }
        }
        let mut plain = vec![-1f32; 11];
        keep_best(cos, CoarseTerms::Plain { weight: -2.0 }, &dist, &mut plain);
        for i in 0..11 {
            assert_eq!(plain[i], (-2.0 * cos.at(dist[i])).max(-1.0), "item {i}");
        }
    }
}
