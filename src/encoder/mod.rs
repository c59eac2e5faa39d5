//! Text → vector: tokenizer, BERT forward pass, pooling and L2 normalisation.
//!
//! Everything here is built from bytes ([`ModelFiles`]); nothing reads files or knows about JS,
//! so the same code runs in the CLI, the tests, the browser and a Worker.

mod bert;
pub mod edge;
mod files;
pub mod lite;
mod pooling;
mod settings;
pub(crate) mod text;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use bert::validate_config as validate_bert_config;
pub use bert::BertEncoder;
pub use edge::EdgeEncoder;
pub use files::ModelFiles;
pub use lite::LiteEncoder;
pub use pooling::{l2_normalize, Pooling};
pub use settings::EncoderSettings;

use crate::bundle::Kind;
use crate::error::{Error, Result};

/// The largest text, in UTF-8 bytes, that `embed` accepts. Texts are truncated to the model's
/// `max_seq_length` tokens anyway (256 word pieces is roughly 1–2 KB of English); this bound only
/// stops a caller from making the tokenizer chew through megabytes for nothing.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// The most texts one `embed` call accepts. Callers with more texts call again.
pub const MAX_TEXTS_PER_CALL: usize = 4096;

/// A sentence encoder: texts in, L2-normalised vectors out.
///
/// One trait so that everything above it (profiles, catalogs, ranking) stays the same when the
/// model implementation changes (f32 candle, the int8 edge bundle, the lite static model).
pub trait Encoder {
    /// The length of every vector this encoder returns.
    fn dim(&self) -> usize;

    /// A stable identifier of the exact model (name and content hash), used to refuse catalogs
    /// built by another model.
    fn model_id(&self) -> &str;

    /// The embedding space the vectors live in: the model id, or for a quantized model the id of
    /// the f32 model it was made from. Catalogs record it, so one catalog serves both.
    fn space_id(&self) -> &str {
        self.model_id()
    }

    /// The token ids the model sees for `text`: special tokens added, truncated to
    /// [`Encoder::max_seq_length`].
    fn tokenize(&self, text: &str) -> Result<Vec<u32>>;

    /// Texts are truncated to this many tokens (special tokens included).
    fn max_seq_length(&self) -> usize;

    /// Embeds `texts` and returns `texts.len() × dim()` floats, row-major, each row of unit norm.
    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>>;
}

/// A model bundle file of either kind, by its magic bytes: the int8 edge model (`edgerec
/// quantize`) or the lite model (`edgerec distill`). Anything else is an `invalid_model` error
/// that names what the file is.
pub fn from_bundle(bytes: Vec<u8>) -> Result<Box<dyn Encoder>> {
    match Kind::of(&bytes) {
        Some(Kind::Lite) => Ok(Box::new(LiteEncoder::from_bytes(bytes)?)),
        Some(Kind::Model) => Ok(Box::new(EdgeEncoder::from_bytes(bytes)?)),
        Some(other) => Err(Error::InvalidModel(format!("not a model bundle: this file is {}", other.name()))),
        None => Err(Error::InvalidModel(
            "not a model bundle (neither an int8 edge model from `edgerec quantize` nor a lite model from `edgerec distill`)"
                .into(),
        )),
    }
}
