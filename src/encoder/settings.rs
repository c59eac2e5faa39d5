//! The sentence-transformers side of a model: pooling mode and sequence length.

use serde::Deserialize;

use super::Pooling;
use crate::error::{Error, Result};

/// How a model turns token vectors into one sentence vector, read from its config files.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderSettings {
    /// The pooling mode from `1_Pooling/config.json` (mean when the file is absent).
    pub pooling: Pooling,
    /// Texts are truncated to this many tokens, special tokens included.
    pub max_seq_length: usize,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

#[derive(Deserialize)]
struct SentenceConfig {
    max_seq_length: Option<usize>,
}

impl EncoderSettings {
    /// Reads the pooling and sentence configs; `max_positions` is the model's
    /// `max_position_embeddings`, which caps the sequence length.
    pub fn parse(pooling: Option<&[u8]>, sentence_config: Option<&[u8]>, max_positions: usize) -> Result<Self> {
        let pooling = match pooling {
            None => Pooling::Mean,
            Some(bytes) => {
                let c: PoolingConfig = serde_json::from_slice(bytes)
                    .map_err(|e| Error::InvalidModel(format!("1_Pooling/config.json is not valid: {e}")))?;
                if c.pooling_mode_mean_sqrt_len_tokens || c.pooling_mode_weightedmean_tokens || c.pooling_mode_lasttoken {
                    return Err(Error::InvalidModel("unsupported pooling mode (supported: cls, mean, max)".into()));
                }
                match (c.pooling_mode_cls_token, c.pooling_mode_mean_tokens, c.pooling_mode_max_tokens) {
                    (true, false, false) => Pooling::Cls,
                    (false, true, false) => Pooling::Mean,
                    (false, false, true) => Pooling::Max,
                    _ => {
                        return Err(Error::InvalidModel("1_Pooling/config.json must enable exactly one of cls, mean, max".into()))
                    }
                }
            }
        };
        let requested = match sentence_config {
            None => None,
            Some(bytes) => {
                let c: SentenceConfig = serde_json::from_slice(bytes)
                    .map_err(|e| Error::InvalidModel(format!("sentence_bert_config.json is not valid: {e}")))?;
                c.max_seq_length
            }
        };
        let max_seq_length = requested.unwrap_or(max_positions).min(max_positions);
        if max_seq_length < 2 {
            return Err(Error::InvalidModel(format!("max_seq_length {max_seq_length} leaves no room for [CLS] and [SEP]")));
        }
        Ok(Self { pooling, max_seq_length })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_mean_and_model_limit() {
        let s = EncoderSettings::parse(None, None, 512).unwrap();
        assert_eq!(s, EncoderSettings { pooling: Pooling::Mean, max_seq_length: 512 });
    }

    #[test]
    fn reads_cls_and_caps_length() {
        let p = br#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#;
        let s = EncoderSettings::parse(Some(p), Some(br#"{"max_seq_length": 1024}"#), 512).unwrap();
        assert_eq!(s, EncoderSettings { pooling: Pooling::Cls, max_seq_length: 512 });
    }

    #[test]
    fn rejects_ambiguous_and_unsupported_pooling() {
        let both = br#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true}"#;
        assert_eq!(EncoderSettings::parse(Some(both), None, 512).unwrap_err().code(), "invalid_model");
        let sqrt = br#"{"pooling_mode_mean_sqrt_len_tokens": true}"#;
        assert!(EncoderSettings::parse(Some(sqrt), None, 512).unwrap_err().to_string().contains("unsupported"));
        assert!(EncoderSettings::parse(Some(b"not json"), None, 512).is_err());
    }
}
