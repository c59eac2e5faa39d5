//! How a catalog stores its item vectors, and every similarity read from them.
//!
//! Two codings ([`VectorCoding`]):
//! - **int8**: `dim` int8 and a scale per item (format 2, and any dimension);
//! - **rotated4** (the default from format 3 where `dim` is a multiple of 128): the catalog's mean `μ`
//!   is subtracted, the rest rotated by a seeded [`Rotation`] `R` (which spreads it evenly over
//!   the components) and stored in 4 bits a component: `u = clamp(⌊r/Δ⌋ + 8, 0, 15)` with
//!   `Δ = 0.3352·rms(r)` (the uniform 16-level step that loses least on a Gaussian), read as the
//!   odd levels `c = 2u − 15`; the scale `s` makes `μ + Rᵀ(s·c)` as long as the item's vector
//!   was (exactly in f32; within f16's rounding as format 4 stores it). Half the bytes of int8, and on movielens closer to the int8 cosines than
//!   4 bits without the mean and the rotation (issue 14's study: top-10 overlap 0.92–0.95).
//!
//! With `q` a query, `q·x = q·μ + s·(Rq)·c`: one int8 dot product in the rotated space. The
//! sign-bit pass estimates `(Rq − Rμ)·c ≈ ‖Rq − Rμ‖·‖c‖·cos(π·h/dim)`, so an item's coarse
//! cosine is `q·μ + A + ‖Rq − Rμ‖·B·cos(π·h/dim)` with `A = s·c·Rμ` and `B = s·‖c‖` made at load.

use serde::{Deserialize, Serialize};

use crate::bundle::f32_at;
use crate::vector::{add_scaled, dot_i8, push_sign_bits, quantize_i8, sign_bits, Rotation};

/// How a catalog's item vectors are stored (the header's `vectors`; format 2 files: int8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum VectorCoding {
    /// `dim` int8 and a scale per item.
    #[default]
    Int8,
    /// The catalog mean off, rotated by the [`Rotation`] of `seed`, 4 bits a component and a
    /// scale per item, and the mean (`dim` f32) once.
    Rotated4 {
        /// The rotation's seed.
        seed: u64,
    },
}

impl VectorCoding {
    /// Its name in the header (`int8`, `rotated4`).
    pub fn name(&self) -> &'static str {
        match self {
            VectorCoding::Int8 => "int8",
            VectorCoding::Rotated4 { .. } => "rotated4",
        }
    }

    /// The bytes an item's codes take for vectors of `dim` components.
    pub fn code_bytes(&self, dim: usize) -> usize {
        match self {
            VectorCoding::Int8 => dim,
            VectorCoding::Rotated4 { .. } => dim / 2,
        }
    }
}

/// Which coding a catalog build asks for (a [`super::BuildOptions`] field; `edgerec eval
/// --build '{"vector_bits":"int8"}'` compares them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VectorBits {
    /// int8 for every dimension.
    Int8,
    /// rotated4 where the dimension is a multiple of 128, int8 otherwise.
    #[default]
    Four,
}

/// The rotation's seed in every catalog this build writes (any seed serves; the file names it).
const SEED: u64 = 0x0ED9_E5EC;
/// The 4-bit step over the rotated residual's rms.
const STEP_OVER_RMS: f32 = 0.3352;

/// A catalog's vectors as the writer stores them.
pub(crate) struct Encoded {
    pub coding: VectorCoding,
    /// int8: `n × dim` bytes; rotated4: `n × dim / 2` bytes (component `2k` in byte `k`'s low
    /// nibble).
    pub codes: Vec<u8>,
    pub scales: Vec<f32>,
    /// rotated4: the mean.
    pub mean: Option<Vec<f32>>,
}

/// Codes `n × dim` floats as `bits` asks (see the module doc).
pub(crate) fn encode(vectors: &[f32], dim: usize, bits: VectorBits) -> Encoded {
    let n = vectors.len() / dim;
    let rotation = match bits {
        VectorBits::Four => Rotation::new(dim, SEED),
        VectorBits::Int8 => None,
    };
    let Some(rotation) = rotation else {
        let mut q = vec![0i8; n * dim];
        let scales = (0..n).map(|i| quantize_i8(&vectors[i * dim..(i + 1) * dim], &mut q[i * dim..(i + 1) * dim])).collect();
        return Encoded { coding: VectorCoding::Int8, codes: q.into_iter().map(|x| x as u8).collect(), scales, mean: None };
    };
    let mut mean = vec![0f32; dim];
    for v in vectors.chunks_exact(dim) {
        add_scaled(&mut mean, 1.0, v);
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f32);
    let mut mean_rot = mean.clone();
    rotation.apply(&mut mean_rot);
    let mean_sq: f32 = mean.iter().map(|x| x * x).sum();
    let mut codes = vec![0u8; n * dim / 2];
    let mut scales = Vec::with_capacity(n);
    let mut r = vec![0f32; dim];
    let mut c = vec![0i8; dim];
    for (i, v) in vectors.chunks_exact(dim).enumerate() {
        r.iter_mut().zip(v.iter().zip(&mean)).for_each(|(r, (x, m))| *r = x - m);
        rotation.apply(&mut r);
        let rms = (r.iter().map(|x| x * x).sum::<f32>() / dim as f32).sqrt();
        let step = STEP_OVER_RMS * rms;
        for (k, (&x, c)) in r.iter().zip(c.iter_mut()).enumerate() {
            let u = if step > 0.0 { ((x / step).floor() + 8.0).clamp(0.0, 15.0) as u8 } else { 8 };
            *c = 2 * u as i8 - 15;
            codes[i * dim / 2 + k / 2] |= u << (4 * (k % 2));
        }
        // ‖μ + Rᵀ(s·c)‖² = ‖v‖²: b·s² + 2a·s + (‖μ‖² − ‖v‖²) = 0, the positive root.
        let a: f32 = c.iter().zip(&mean_rot).map(|(&c, m)| c as f32 * m).sum();
        let b: f32 = c.iter().map(|&c| (c as f32).powi(2)).sum();
        let len_sq: f32 = v.iter().map(|x| x * x).sum();
        scales.push(((-a + (a * a - b * (mean_sq - len_sq)).max(0.0).sqrt()) / b).max(0.0));
    }
    Encoded { coding: VectorCoding::Rotated4 { seed: SEED }, codes, scales, mean: Some(mean) }
}

/// What a loaded catalog derives from its coded vectors once: the rotation, the rotated mean,
/// and each item's coarse terms (`A`, `B` of the module doc).
#[derive(Debug, Clone)]
pub(crate) struct Derived {
    pub coding: VectorCoding,
    pub dim: usize,
    rotation: Option<Rotation>,
    mean_rot: Vec<f32>,
    mean_sq: f32,
    offset: Vec<f32>,
    spread: Vec<f32>,
}

impl Derived {
    /// Checks a coding against `dim` and derives what scoring needs; `mean` is the rotated4
    /// mean section. Returns the items' sign bits too.
    pub fn new(
        coding: VectorCoding,
        dim: usize,
        codes: &[u8],
        scales: &[u8],
        mean: Option<&[f32]>,
    ) -> Result<(Self, Vec<u64>), String> {
        let n = scales.len() / 4;
        let mut me =
            Self { coding, dim, rotation: None, mean_rot: Vec::new(), mean_sq: 0.0, offset: Vec::new(), spread: Vec::new() };
        let VectorCoding::Rotated4 { seed } = coding else {
            let mut bits = Vec::with_capacity(n * dim.div_ceil(64));
            crate::bundle::as_i8(codes).chunks_exact(dim).for_each(|v| push_sign_bits(v, &mut bits));
            return Ok((me, bits));
        };
        me.rotation =
            Some(Rotation::new(dim, seed).ok_or(format!("rotated4 vectors need a multiple of 128 components, not {dim}"))?);
        me.mean_rot = mean.ok_or("rotated4 vectors without their mean")?.to_vec();
        me.rotation.as_ref().expect("set").apply(&mut me.mean_rot);
        me.mean_sq = me.mean_rot.iter().map(|x| x * x).sum();
        let mut bits = Vec::with_capacity(n * dim.div_ceil(64));
        let mut c = vec![0i8; dim];
        for j in 0..n {
            unpack(&codes[j * dim / 2..(j + 1) * dim / 2], &mut c);
            let s = f32_at(scales, j);
            me.offset.push(s * c.iter().zip(&me.mean_rot).map(|(&c, m)| c as f32 * m).sum::<f32>());
            me.spread.push(s * c.iter().map(|&c| (c as f32).powi(2)).sum::<f32>().sqrt());
            push_sign_bits(&c, &mut bits);
        }
        Ok((me, bits))
    }
}

/// The cosine of two items from their levels, scales and offset terms (see [`Vectors::levels`]),
/// `mean_sq` as [`Vectors::mean_sq`] gives it: one function for a catalog and for a front that
/// received them from its shards.
pub fn levels_cosine((ca, sa, oa): (&[i8], f32, f32), (cb, sb, ob): (&[i8], f32, f32), mean_sq: Option<f32>) -> f32 {
    if ca.len() != cb.len() {
        return 0.0;
    }
    let dot = dot_i8(ca, cb) as f32 * sa * sb;
    match mean_sq {
        None => dot,
        Some(m) => m + oa + ob + dot,
    }
}

/// The odd levels of packed codes (arithmetic rather than a table: it vectorises).
fn unpack(codes: &[u8], out: &mut [i8]) {
    for (pair, &b) in out.chunks_exact_mut(2).zip(codes) {
        pair[0] = 2 * (b & 15) as i8 - 15;
        pair[1] = 2 * (b >> 4) as i8 - 15;
    }
}

/// A query vector prepared for one catalog's coding: int8 in the catalog's space, with what the
/// exact and the coarse cosines add to it.
#[derive(Debug, Clone)]
pub struct QueryVector {
    q: Vec<i8>,
    scale: f32,
    /// `q·μ` (0 for int8).
    offset: f32,
    /// `‖Rq − Rμ‖` (1 for int8).
    norm: f32,
    bits: Vec<u64>,
}

impl QueryVector {
    /// The sign bits the coarse pass compares with the items'.
    pub fn bits(&self) -> &[u64] {
        &self.bits
    }

    /// What the coarse cosine adds and scales by (see [`Vectors::coarse`]): `(q·μ, ‖Rq − Rμ‖)`.
    pub fn coarse_parts(&self) -> (f32, f32) {
        (self.offset, self.norm)
    }
}

/// A catalog's item vectors, read in place (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct Vectors<'a> {
    pub(crate) codes: &'a [u8],
    pub(crate) scales: &'a [u8],
    pub(crate) derived: &'a Derived,
}

impl Vectors<'_> {
    /// Calls `f` with item `j`'s levels (int8 values, or rotated4's odd levels) and its scale:
    /// int8 read in place, rotated4 unpacked on the stack (the exact pass calls this a few
    /// thousand times a request).
    #[inline]
    fn with_levels<R>(&self, j: usize, f: impl FnOnce(&[i8], f32) -> R) -> R {
        const STACK: usize = 1024;
        let d = self.derived.dim;
        let s = f32_at(self.scales, j);
        match self.derived.coding {
            VectorCoding::Int8 => f(crate::bundle::as_i8(&self.codes[j * d..(j + 1) * d]), s),
            VectorCoding::Rotated4 { .. } => {
                let codes = &self.codes[j * d / 2..(j + 1) * d / 2];
                if d <= STACK {
                    let mut buf = [0i8; STACK];
                    unpack(codes, &mut buf[..d]);
                    f(&buf[..d], s)
                } else {
                    let mut buf = vec![0i8; d];
                    unpack(codes, &mut buf);
                    f(&buf, s)
                }
            }
        }
    }

    /// `v`, an encoder's vector, moved into the catalog's working space (in place): rotated for
    /// rotated4, as it is for int8. Inner products and lengths are the same in both spaces, so
    /// a request's profile is built there and its queries need no rotation each.
    pub fn to_working(&self, v: &mut [f32]) {
        if let Some(rotation) = &self.derived.rotation {
            rotation.apply(v);
        }
    }

    /// Item `j`'s vector in the working space (see [`Vectors::to_working`]) into `out`.
    pub fn working(&self, j: usize, out: &mut [f32]) {
        self.with_levels(j, |c, s| out.iter_mut().zip(c).for_each(|(o, &x)| *o = x as f32 * s));
        if self.derived.rotation.is_some() {
            out.iter_mut().zip(&self.derived.mean_rot).for_each(|(o, m)| *o += m);
        }
    }

    /// `v` (in the working space: see [`Vectors::to_working`]) prepared for
    /// [`Vectors::each_cosine`] and the coarse pass.
    pub fn query(&self, v: &[f32]) -> QueryVector {
        let d = self.derived.dim;
        let mut q = vec![0i8; d];
        let scale = quantize_i8(v, &mut q);
        if self.derived.rotation.is_none() {
            let bits = sign_bits(&q);
            return QueryVector { q, scale, offset: 0.0, norm: 1.0, bits };
        }
        let offset = v.iter().zip(&self.derived.mean_rot).map(|(a, b)| a * b).sum();
        let centred: Vec<f32> = v.iter().zip(&self.derived.mean_rot).map(|(x, m)| x - m).collect();
        let norm = centred.iter().map(|x| x * x).sum::<f32>().sqrt();
        let mut bits_of = vec![0i8; d];
        quantize_i8(&centred, &mut bits_of);
        QueryVector { q, scale, offset, norm, bits: sign_bits(&bits_of) }
    }

    /// Calls `f(k, cosine)` for each of `queries` and item `j` (its vector read once).
    pub fn each_cosine<'q>(&self, j: usize, queries: impl Iterator<Item = &'q QueryVector>, mut f: impl FnMut(usize, f32)) {
        self.with_levels(j, |c, s| {
            for (k, q) in queries.enumerate() {
                f(k, q.offset + dot_i8(&q.q, c) as f32 * q.scale * s);
            }
        })
    }

    /// The items' coarse terms `(A, B)` (see the module doc); `None` for int8, whose coarse
    /// cosine is `cos(π·h/dim)` itself.
    pub fn coarse_terms(&self) -> Option<(&[f32], &[f32])> {
        self.derived.rotation.as_ref().map(|_| (&self.derived.offset[..], &self.derived.spread[..]))
    }

    /// The coarse cosine of query `q` and item `j` whose sign bits are `cos_h` apart (`cos_h` =
    /// `cos(π·h/dim)`).
    pub fn coarse(&self, q: &QueryVector, j: usize, cos_h: f32) -> f32 {
        match self.coarse_terms() {
            None => cos_h,
            Some((a, b)) => q.offset + a[j] + q.norm * b[j] * cos_h,
        }
    }

    /// The cosine of items `a` and `b`.
    pub fn item_cosine(&self, a: usize, b: usize) -> f32 {
        let offset = |j: usize| self.derived.offset.get(j).copied().unwrap_or(0.0);
        self.with_levels(a, |ca, sa| {
            self.with_levels(b, |cb, sb| levels_cosine((ca, sa, offset(a)), (cb, sb, offset(b)), self.mean_sq()))
        })
    }

    /// Item `j`'s levels (int8 values, or rotated4's odd levels), its scale and its offset term
    /// (rotated4's `s·c·Rμ`; 0 for int8): what [`levels_cosine`] reads.
    pub fn levels(&self, j: usize) -> (Vec<i8>, f32, f32) {
        let offset = self.derived.offset.get(j).copied().unwrap_or(0.0);
        self.with_levels(j, |c, s| (c.to_vec(), s, offset))
    }

    /// `‖Rμ‖²` for rotated4 (what every cosine between items adds), `None` for int8.
    pub fn mean_sq(&self) -> Option<f32> {
        self.derived.rotation.as_ref().map(|_| self.derived.mean_sq)
    }

    /// Item `j`'s vector, decoded into `out` (in the encoder's space).
    pub fn decode(&self, j: usize, out: &mut [f32]) {
        self.working(j, out);
        if let Some(rotation) = &self.derived.rotation {
            rotation.invert(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` unit vectors of `dim` in a few clusters around a shared direction (as text embeddings
    /// are: a large common mean).
    fn clustered(n: usize, dim: usize) -> Vec<f32> {
        let mut seed = 17u64;
        let mut rnd = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let centres: Vec<Vec<f32>> = (0..4).map(|_| (0..dim).map(|_| rnd()).collect()).collect();
        let mut out = Vec::with_capacity(n * dim);
        for i in 0..n {
            let mut v: Vec<f32> = (0..dim).map(|k| 0.6 + centres[i % 4][k] + 0.5 * rnd()).collect();
            crate::vector::l2_normalize(&mut v);
            out.extend(v);
        }
        out
    }

    /// The exact cosine of one prepared query and item `j`.
    fn cosine(vs: &Vectors, q: &QueryVector, j: usize) -> f32 {
        let mut out = 0.0;
        vs.each_cosine(j, std::iter::once(q), |_, c| out = c);
        out
    }

    fn loaded(e: &Encoded, dim: usize) -> (Derived, Vec<u64>, Vec<u8>) {
        let scales: Vec<u8> = e.scales.iter().flat_map(|x| x.to_le_bytes()).collect();
        let (d, bits) = Derived::new(e.coding, dim, &e.codes, &scales, e.mean.as_deref()).unwrap();
        (d, bits, scales)
    }

    #[test]
    fn rotated4_keeps_cosines_close_and_lengths_exact() {
        let (n, dim) = (200, 128);
        let v = clustered(n, dim);
        let e = encode(&v, dim, VectorBits::Four);
        assert_eq!(e.coding, VectorCoding::Rotated4 { seed: SEED });
        assert_eq!(e.codes.len(), n * dim / 2);
        let (d, _, scales) = loaded(&e, dim);
        let vs = Vectors { codes: &e.codes, scales: &scales, derived: &d };
        let mut out = vec![0f32; dim];
        let mut worst = 0f32;
        for j in 0..n {
            vs.decode(j, &mut out);
            let len: f32 = out.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((len - 1.0).abs() < 1e-3, "item {j} decodes to length {len}");
            let mut w = v[..dim].to_vec();
            vs.to_working(&mut w);
            let q = vs.query(&w);
            let want: f32 = v[..dim].iter().zip(&v[j * dim..(j + 1) * dim]).map(|(a, b)| a * b).sum();
            worst = worst.max((cosine(&vs, &q, j) - want).abs());
            let exact_item: f32 = out.iter().zip(&v[..dim]).map(|(a, b)| a * b).sum();
            assert!((cosine(&vs, &q, j) - exact_item).abs() < 0.01, "the query cosine reads the decoded vector");
        }
        assert!(worst < 0.03, "worst cosine error {worst}");
        // Item-item cosines agree with the decoded vectors.
        let (mut a, mut b) = (vec![0f32; dim], vec![0f32; dim]);
        vs.decode(3, &mut a);
        vs.decode(7, &mut b);
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((vs.item_cosine(3, 7) - want).abs() < 1e-4);
    }

    /// The exact top 10 (by the float vectors) found in the top 50 of each coding's coarse
    /// pass, over several queries.
    fn coarse_finds(bits: VectorBits, v: &[f32], n: usize, dim: usize) -> usize {
        let e = encode(v, dim, bits);
        let (d, item_bits, scales) = loaded(&e, dim);
        let vs = Vectors { codes: &e.codes, scales: &scales, derived: &d };
        let words = dim / 64;
        let top = |x: &[f32], k: usize| {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by(|&a, &b| x[b].total_cmp(&x[a]));
            idx.truncate(k);
            idx
        };
        let mut found = 0;
        for qi in (0..n).step_by(n / 20) {
            let qv = &v[qi * dim..(qi + 1) * dim];
            let mut w = qv.to_vec();
            vs.to_working(&mut w);
            let q = vs.query(&w);
            let coarse: Vec<f32> = (0..n)
                .map(|j| {
                    let h: u32 =
                        q.bits().iter().zip(&item_bits[j * words..(j + 1) * words]).map(|(a, b)| (a ^ b).count_ones()).sum();
                    vs.coarse(&q, j, (std::f32::consts::PI * h as f32 / dim as f32).cos())
                })
                .collect();
            let exact: Vec<f32> = (0..n).map(|j| qv.iter().zip(&v[j * dim..(j + 1) * dim]).map(|(a, b)| a * b).sum()).collect();
            let shortlist = top(&coarse, 50);
            found += top(&exact, 10).iter().filter(|j| shortlist.contains(j)).count();
        }
        found
    }

    #[test]
    fn the_coarse_pass_of_rotated4_finds_more_than_int8_sign_bits() {
        let (n, dim) = (400, 128);
        let v = clustered(n, dim);
        let (four, int8) = (coarse_finds(VectorBits::Four, &v, n, dim), coarse_finds(VectorBits::Int8, &v, n, dim));
        assert!(four > int8 && four >= 120, "of 200: rotated4 {four}, int8 {int8}");
    }

    #[test]
    fn int8_is_what_it_was_and_odd_dimensions_stay_int8() {
        let v = clustered(10, 100);
        let e = encode(&v, 100, VectorBits::Four);
        assert_eq!(e.coding, VectorCoding::Int8);
        assert_eq!(e.codes.len(), 1000);
        let (d, _, scales) = loaded(&e, 100);
        let vs = Vectors { codes: &e.codes, scales: &scales, derived: &d };
        let q = vs.query(&v[..100]);
        let mut qi = vec![0i8; 100];
        let qs = quantize_i8(&v[..100], &mut qi);
        let vi = crate::bundle::as_i8(&e.codes[100..200]);
        assert_eq!(cosine(&vs, &q, 1), dot_i8(&qi, vi) as f32 * qs * e.scales[1]);
        assert_eq!(vs.coarse(&q, 1, 0.25), 0.25);
        assert!(Derived::new(VectorCoding::Rotated4 { seed: 1 }, 100, &e.codes, &scales, Some(&[0.0; 100])).is_err());
        assert!(Derived::new(VectorCoding::Rotated4 { seed: 1 }, 128, &[0; 64], &[0; 4], None).is_err());
    }
}
