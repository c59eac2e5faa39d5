//! Pooling token vectors into one sentence vector, and L2 normalisation.
//!
//! Pooling reads only the first `len` rows of a sequence (its real tokens), so the padding rows a
//! batch adds can never leak into a sentence vector: there is no mask to forget.

/// How token vectors become a sentence vector (`"mean"`, `"cls"` or `"max"` in an edge bundle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The `[CLS]` token's vector (BAAI bge).
    Cls,
    /// The mean over the real tokens (all-MiniLM, gte).
    Mean,
    /// The element-wise maximum over the real tokens.
    Max,
}

impl Pooling {
    /// Its name in bundles and model ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Pooling::Cls => "cls",
            Pooling::Mean => "mean",
            Pooling::Max => "max",
        }
    }

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

pub use crate::vector::l2_normalize;

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
}
