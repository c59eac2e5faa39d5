//! A seeded orthogonal rotation for vectors of a multiple of 128 components: two rounds of
//! random signs, a random permutation and an orthonormal Walsh–Hadamard transform on each
//! block of 128. It spreads a vector's energy evenly over its components, so that quantizing
//! every component with one step loses the least; it costs nothing to store (the seed is
//! enough) and O(d log d) to apply.

/// Components per Hadamard block.
pub const BLOCK: usize = 128;

/// SplitMix64 (Steele, Lea, Flood 2014): the stream the rotation is drawn from.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One round: signs, then a permutation, then the blockwise transform.
#[derive(Debug, Clone, PartialEq)]
struct Round {
    signs: Vec<f32>,
    perm: Vec<u32>,
}

/// The rotation drawn from a seed, for vectors of `dim` components.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    rounds: [Round; 2],
}

impl Rotation {
    /// Whether vectors of `dim` components can be rotated (a positive multiple of `BLOCK`).
    pub fn supports(dim: usize) -> bool {
        dim > 0 && dim % BLOCK == 0
    }

    /// The rotation of `seed` for `dim` components; `None` when [`Rotation::supports`] says no.
    pub fn new(dim: usize, seed: u64) -> Option<Self> {
        if !Self::supports(dim) {
            return None;
        }
        let mut state = seed;
        let mut round = || {
            let signs = (0..dim).map(|_| if splitmix64(&mut state) >> 63 == 1 { -1.0 } else { 1.0 }).collect();
            let mut perm: Vec<u32> = (0..dim as u32).collect();
            for i in (1..dim).rev() {
                let j = (splitmix64(&mut state) % (i as u64 + 1)) as usize;
                perm.swap(i, j);
            }
            Round { signs, perm }
        };
        let rounds = [round(), round()];
        Some(Self { rounds })
    }

    /// `x ← R·x`.
    pub fn apply(&self, x: &mut [f32]) {
        debug_assert_eq!(x.len(), self.rounds[0].signs.len());
        let mut y = vec![0f32; x.len()];
        for r in &self.rounds {
            for (i, &p) in r.perm.iter().enumerate() {
                y[i] = x[p as usize] * r.signs[p as usize];
            }
            x.copy_from_slice(&y);
            hadamard_blocks(x);
        }
    }

    /// `x ← Rᵀ·x` (the inverse: each step undone, last round first).
    pub fn invert(&self, x: &mut [f32]) {
        debug_assert_eq!(x.len(), self.rounds[0].signs.len());
        let mut y = vec![0f32; x.len()];
        for r in self.rounds.iter().rev() {
            hadamard_blocks(x);
            for (i, &p) in r.perm.iter().enumerate() {
                y[p as usize] = x[i] * r.signs[p as usize];
            }
            x.copy_from_slice(&y);
        }
    }
}

/// The orthonormal Walsh–Hadamard transform of each block of [`BLOCK`] components (its own
/// inverse).
fn hadamard_blocks(x: &mut [f32]) {
    let norm = 1.0 / (BLOCK as f32).sqrt();
    for block in x.chunks_exact_mut(BLOCK) {
        let mut h = 1;
        while h < BLOCK {
            for chunk in block.chunks_exact_mut(2 * h) {
                let (a, b) = chunk.split_at_mut(h);
                for (u, v) in a.iter_mut().zip(b.iter_mut()) {
                    let (p, q) = (*u, *v);
                    *u = p + q;
                    *v = p - q;
                }
            }
            h *= 2;
        }
        block.iter_mut().for_each(|v| *v *= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_its_reference_stream() {
        let mut s = 0;
        assert_eq!(splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn the_rotation_is_orthogonal_and_inverts() {
        assert!(Rotation::new(100, 1).is_none() && Rotation::new(0, 1).is_none());
        let r = Rotation::new(256, 7).unwrap();
        let x: Vec<f32> = (0..256).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let y: Vec<f32> = (0..256).map(|i| ((i * 53 % 89) as f32 - 44.0) / 44.0).collect();
        let (mut rx, mut ry) = (x.clone(), y.clone());
        r.apply(&mut rx);
        r.apply(&mut ry);
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f32>();
        assert!((dot(&rx, &ry) - dot(&x, &y)).abs() < 1e-3, "inner products kept");
        assert!((dot(&rx, &rx) - dot(&x, &x)).abs() < 1e-3, "norms kept");
        assert_ne!(rx, x);
        r.invert(&mut rx);
        assert!(rx.iter().zip(&x).all(|(a, b)| (a - b).abs() < 1e-5), "Rᵀ·R = I");
        // The seed is the rotation: another seed, another rotation; the same, the same.
        assert_eq!(Rotation::new(256, 7), Some(r.clone()));
        assert_ne!(Rotation::new(256, 8), Some(r));
    }

    #[test]
    fn a_spike_is_spread_over_every_component() {
        let r = Rotation::new(128, 3).unwrap();
        let mut x = vec![0f32; 128];
        x[5] = 1.0;
        r.apply(&mut x);
        let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(max < 0.3, "{max}");
    }
}
