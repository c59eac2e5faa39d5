//! Texts → token ids, shared by every encoder: the tokenizer with the sentence-transformers
//! contract (truncation at `max_seq_length`, no padding per text) and the input limits.

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::{MAX_TEXTS_PER_CALL, MAX_TEXT_BYTES};
use crate::error::{Error, Result};

/// A model's tokenizer, set up to produce exactly the ids sentence-transformers feeds the model.
pub(crate) struct TextTokenizer {
    tokenizer: Tokenizer,
}

impl TextTokenizer {
    /// Parses `tokenizer.json`. `vocab_size` is the model's embedding table: a tokenizer that can
    /// emit ids beyond it is refused here rather than failing on some rare text later.
    pub(crate) fn from_bytes(bytes: &[u8], max_seq_length: usize, vocab_size: usize) -> Result<Self> {
        let mut tokenizer = Tokenizer::from_bytes(bytes).map_err(|e| Error::InvalidTokenizer(format!("tokenizer.json: {e}")))?;
        // tokenizer.json files often ship fixed padding/truncation (all-MiniLM: 128); the
        // sentence-transformers contract is truncation at max_seq_length and no padding per text.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| Error::InvalidTokenizer(e.to_string()))?;
        // The largest id, not the entry count: an entry (or added token) numbered past the
        // embedding table would fail on whatever text produces it.
        let top = tokenizer.get_vocab(true).into_values().max().map_or(0, |m| m as usize + 1);
        if top > vocab_size {
            return Err(Error::InvalidModel(format!(
                "the tokenizer has token ids up to {} but the model's vocab_size is {vocab_size}",
                top - 1
            )));
        }
        Ok(Self { tokenizer })
    }

    /// [`Self::ids`] after the size check: what `Encoder::tokenize` returns.
    pub(crate) fn checked_ids(&self, text: &str) -> Result<Vec<u32>> {
        check_text(0, text)?;
        self.ids(text)
    }

    /// The ids of one text, special tokens added, truncated.
    pub(crate) fn ids(&self, text: &str) -> Result<Vec<u32>> {
        let enc =
            self.tokenizer.encode_fast(text, true).map_err(|e| Error::InvalidInput(format!("cannot tokenize text: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The ids of one text without special tokens, truncated to `max_seq_length`: a static
    /// model's tokens (its rows are each token's meaning; `[CLS]`/`[SEP]` carry none of the text's).
    pub(crate) fn content_ids(&self, text: &str) -> Result<Vec<u32>> {
        let enc =
            self.tokenizer.encode_fast(text, false).map_err(|e| Error::InvalidInput(format!("cannot tokenize text: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The token string of id `id`, if the vocabulary has one.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn token(&self, id: u32) -> Option<String> {
        self.tokenizer.id_to_token(id)
    }

    /// Checks the limits of one `embed` call, then tokenizes every text.
    pub(crate) fn ids_of_all(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        check_all(texts)?;
        texts.iter().map(|t| self.ids(t)).collect()
    }
}

/// The limits of one `embed` call: the number of texts and each text's size.
pub(crate) fn check_all(texts: &[&str]) -> Result<()> {
    if texts.len() > MAX_TEXTS_PER_CALL {
        return Err(Error::LimitExceeded { what: "texts per call".into(), actual: texts.len(), limit: MAX_TEXTS_PER_CALL });
    }
    texts.iter().enumerate().try_for_each(|(i, t)| check_text(i, t))
}

/// Rejects a text over [`MAX_TEXT_BYTES`], naming its index.
pub(crate) fn check_text(index: usize, text: &str) -> Result<()> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(Error::LimitExceeded {
            what: format!("texts[{index}] length in bytes"),
            actual: text.len(),
            limit: MAX_TEXT_BYTES,
        });
    }
    Ok(())
}

/// Indices of `ids` longest first: batches of neighbours in this order have similar lengths.
pub(crate) fn longest_first(ids: &[Vec<u32>]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
    order
}
