//! The lite encoder: a static student of a sentence encoder, in one int8 bundle.
//!
//! `edgerec distill` ([`distill()`], native) runs the teacher once on every vocabulary token,
//! reduces those vectors by PCA and weights each token by how rare it is (model2vec's recipe: a
//! Zipf prior over the vocabulary's order, SIF weights); a text's vector is then the mean of its
//! tokens' rows, L2-normalised. No transformer runs at query time: a text costs its tokenization
//! and a few hundred additions. Its vectors live in a space of their own (the PCA's), so a
//! catalog built by a lite model records the lite model's id, and a full model querying it (or
//! the reverse) is a `model_mismatch`.
//!
//! The bundle is the shared envelope ([`crate::bundle`], magic `EDGERECL`) around a
//! [`LiteHeader`], `tokenizer.json`, the int8 rows (`vocab × dim`) and one f32 scale per row. The
//! loader keeps the file's bytes and reads the rows in place: the model is held once.

#[cfg(not(target_arch = "wasm32"))]
mod distill;

#[cfg(not(target_arch = "wasm32"))]
pub use distill::{distill, DistillOptions, DistillReport};

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::text::TextTokenizer;
use super::{l2_normalize, Encoder};
use crate::bundle::{self, Envelope, Kind, Section};
use crate::error::Result;

/// The lite bundle format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// What a lite bundle says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiteHeader {
    /// This model's id: `static-<vocab>x<dim>:<hash of the rows and settings>`.
    pub model_id: String,
    /// The id of the encoder it was distilled from (`BertEncoder::model_id`).
    pub teacher_model_id: String,
    /// SHA-256 of the teacher's `model.safetensors`.
    pub teacher_sha256: String,
    /// The edgerec version that wrote the file.
    pub built_by: String,
    /// Rows: one per token id of the tokenizer.
    pub vocab_size: usize,
    /// The vector length.
    pub dim: usize,
    /// Texts are truncated to this many tokens (the teacher's limit).
    pub max_seq_length: usize,
    /// How the rows were made, for people: PCA, the share of the teacher's variance kept, the
    /// token weighting.
    pub recipe: serde_json::Value,
    /// `tokenizer.json`.
    pub tokenizer: Section,
    /// The rows: `vocab_size × dim` int8, row-major.
    pub vectors: Section,
    /// One little-endian f32 scale per row (row = scale × int8).
    pub scales: Section,
}

/// A sentence encoder over a lite bundle.
pub struct LiteEncoder {
    bytes: Vec<u8>,
    vectors: Range<usize>,
    scales: Vec<f32>,
    tokenizer: TextTokenizer,
    header: LiteHeader,
}

impl LiteEncoder {
    /// Loads a bundle; `bytes` (the whole file) becomes the model's storage. A truncated,
    /// corrupt or foreign file (an int8 edge model among them) is an `invalid_model` error.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let env = Envelope::parse(&bytes, Kind::Lite, &[FORMAT_VERSION])?;
        let header: LiteHeader = serde_json::from_slice(env.header).map_err(|e| env.error(format!("header: {e}")))?;
        let (n, d) = (header.vocab_size, header.dim);
        if n == 0 || d == 0 || header.max_seq_length == 0 {
            return Err(env.error("vocab_size, dim and max_seq_length must be positive"));
        }
        let rows = n.checked_mul(d).ok_or_else(|| env.error("vocab_size × dim overflows"))?;
        let vectors = env.section(header.vectors, "vectors", Some(rows))?;
        let scales = env.section(header.scales, "scales", Some(n * 4))?;
        let scales = bundle::f32s(&bytes[scales], "scales", Kind::Lite)?;
        let tokenizer = env.section(header.tokenizer, "tokenizer", None)?;
        // A token id past the rows would fail on whatever text produces it: refused here.
        let tokenizer = TextTokenizer::from_bytes(&bytes[tokenizer], header.max_seq_length, n)?;
        Ok(Self { bytes, vectors, scales, tokenizer, header })
    }

    /// Reads a bundle file (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).map_err(|e| crate::error::Error::InvalidModel(format!("cannot read {}: {e}", path.display())))?;
        Self::from_bytes(bytes)
    }

    /// What the bundle says about itself.
    pub fn header(&self) -> &LiteHeader {
        &self.header
    }

    /// Bytes of the bundle held in memory.
    pub fn bundle_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Adds row `id` to `acc`.
    fn add_row(&self, id: u32, acc: &mut [f32]) {
        let d = self.header.dim;
        let at = self.vectors.start + id as usize * d;
        crate::vector::add_scaled_i8(acc, self.scales[id as usize], bundle::as_i8(&self.bytes[at..at + d]));
    }

    /// One text's vector into `out`: the mean of its tokens' rows (a text without any, such as
    /// the empty one, takes its special tokens'), L2-normalised.
    fn embed_one(&self, text: &str, out: &mut [f32]) -> Result<()> {
        let mut ids = self.tokenizer.content_ids(text)?;
        if ids.is_empty() {
            ids = self.tokenizer.ids(text)?;
        }
        for &id in &ids {
            self.add_row(id, out);
        }
        l2_normalize(out);
        Ok(())
    }
}

impl Encoder for LiteEncoder {
    fn dim(&self) -> usize {
        self.header.dim
    }

    fn model_id(&self) -> &str {
        &self.header.model_id
    }

    /// The tokens whose rows make a text's vector (no special tokens), truncated.
    fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        super::text::check_text(0, text)?;
        self.tokenizer.content_ids(text)
    }

    fn max_seq_length(&self) -> usize {
        self.header.max_seq_length
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>> {
        super::text::check_all(texts)?;
        let d = self.header.dim;
        let mut out = vec![0f32; texts.len() * d];
        for (text, row) in texts.iter().zip(out.chunks_exact_mut(d)) {
            self.embed_one(text, row)?;
        }
        Ok(out)
    }
}
