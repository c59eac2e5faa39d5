//! Pooling token vectors into one sentence vector, and L2 normalisation.
//!
//! Pooling reads only the first `len` rows of a sequence (its real tokens), so the padding rows a
//! batch adds can never leak into a sentence vector: there is no mask to forget.

/// How token vectors become a sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The `[CLS]` token's vector (BAAI bge).
    Cls,
    /// The mean over the real tokens (all-MiniLM, gte).
    Mean,
    /// The element-wise maximum over the real tokens.
    Max,
}

impl Pooling {
    /// Pools `tokens` (`len × dim`, row-major: the real tokens of one text) into `out` (`dim`).
    pub fn pool(self, tokens: &[f32], dim: usize, out: &mut [f32]) {
        debug_assert_eq!(out.len(), dim);
        debug_assert!(!tokens.is_empty() && tokens.len() % dim == 0);
        let len = tokens.len() / dim;
        match self {
            Pooling::Cls => out.copy_from_slice(&tokens[..dim]),
            Pooling::Mean => {
                out.fill(0.0);
                for row in tokens.chunks_exact(dim) {
                    for (o, x) in out.iter_mut().zip(row) {
                        *o += x;
                    }
                }
                let inv = 1.0 / len as f32;
                out.iter_mut().for_each(|o| *o *= inv);
            }
            Pooling::Max => {
                out.fill(f32::NEG_INFINITY);
                for row in tokens.chunks_exact(dim) {
                    for (o, x) in out.iter_mut().zip(row) {
                        *o = o.max(*x);
                    }
                }
            }
        }
    }
}

/// Scales `v` to unit length, as `torch.nn.functional.normalize` does (norm clamped at 1e-12),
/// and returns the norm it had (0 for a zero vector, which stays zero).
pub fn l2_normalize(v: &mut [f32]) -> f32 {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let clamped = norm.max(1e-12);
    v.iter_mut().for_each(|x| *x /= clamped);
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_cls_max_over_real_tokens() {
        let tokens = [1.0, 2.0, 3.0, -4.0];
        let mut out = [0.0; 2];
        Pooling::Mean.pool(&tokens, 2, &mut out);
        assert_eq!(out, [2.0, -1.0]);
        Pooling::Cls.pool(&tokens, 2, &mut out);
        assert_eq!(out, [1.0, 2.0]);
        Pooling::Max.pool(&tokens, 2, &mut out);
        assert_eq!(out, [3.0, 2.0]);
    }

    #[test]
    fn normalizes_and_survives_zero() {
        let mut v = [3.0, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = [0.0, 0.0];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0, 0.0]);
    }
}
