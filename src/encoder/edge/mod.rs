//! The edge-sized encoder: an int8 BERT in one bundle file, run by our own kernels.
//!
//! `edgerec quantize` ([`quantize()`]) turns a model folder into a bundle (~23 MB for
//! all-MiniLM-L6-v2 instead of 91 MB); [`EdgeEncoder`] loads it from bytes and keeps those bytes as
//! the weights (no second copy), so a Worker or a phone holds the model once.

mod format;
mod kernels;
mod model;
mod quantize;

pub use format::{EdgeConfig, EdgeHeader, FORMAT_VERSION};
pub use kernels::Isa;
pub use quantize::{quantize, QuantizeOptions};

use model::{mark, EdgeModel, Scratch};
pub use model::{Stage, StageClock, STAGES};

use super::text::{longest_first, TextTokenizer};
use super::{l2_normalize, Encoder, Pooling};
use crate::error::Result;

/// Texts per forward pass, at most.
pub const BATCH_TEXTS: usize = 32;
/// Tokens per forward pass, at most (a text longer than this still goes alone): bounds the
/// activation buffers, and so the wasm memory high-water mark, to a few MB.
pub const BATCH_TOKENS: usize = 1024;

/// A sentence encoder over an edge bundle.
pub struct EdgeEncoder {
    model: EdgeModel,
    tokenizer: TextTokenizer,
    pooling: Pooling,
    header: EdgeHeader,
}

impl EdgeEncoder {
    /// Loads a bundle; `bytes` (the whole file) becomes the model's weights.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let bundle = format::Bundle::parse(&bytes)?;
        let cfg = &bundle.header.config;
        let pooling = cfg.pooling;
        let tokenizer = TextTokenizer::from_bytes(&bytes[bundle.tokenizer()], cfg.max_seq_length, cfg.vocab_size)?;
        let header = bundle.header.clone();
        let model = EdgeModel::new(bytes, &bundle)?;
        Ok(Self { model, tokenizer, pooling, header })
    }

    /// Reads a bundle file (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).map_err(|e| crate::error::Error::InvalidModel(format!("cannot read {}: {e}", path.display())))?;
        Self::from_bytes(bytes)
    }

    /// What the bundle says about itself (source model, quantization, architecture).
    pub fn header(&self) -> &EdgeHeader {
        &self.header
    }

    /// Bytes of the bundle held in memory.
    pub fn bundle_bytes(&self) -> usize {
        self.model.bytes().len()
    }

    /// The instruction set the matrix products use here.
    pub fn isa(&self) -> Isa {
        Isa::current()
    }

    /// [`Encoder::embed`], and the milliseconds spent per stage ([`STAGES`] order) as `now`
    /// (a clock in milliseconds) measures them: where the time goes, for the benchmarks.
    pub fn embed_timed(&self, texts: &[&str], now: &dyn Fn() -> f64) -> Result<(Vec<f32>, [f64; STAGES.len()])> {
        let mut scratch = Scratch::default();
        scratch.clock = Some(StageClock::new(now));
        let out = self.embed_with(texts, &mut scratch)?;
        Ok((out, scratch.clock.expect("set above").spent))
    }

    fn embed_with(&self, texts: &[&str], scratch: &mut Scratch) -> Result<Vec<f32>> {
        let ids = self.tokenizer.ids_of_all(texts)?;
        mark(&mut scratch.clock, Stage::Tokenize);
        let order = longest_first(&ids);
        let d = self.dim();
        let mut out = vec![0f32; texts.len() * d];
        let mut start = 0;
        while start < order.len() {
            // Longest first, so the batch's first text bounds the rest: fill up to the budget.
            let mut end = start + 1;
            let mut tokens = ids[order[start]].len();
            while end < order.len() && end - start < BATCH_TEXTS && tokens + ids[order[end]].len() <= BATCH_TOKENS {
                tokens += ids[order[end]].len();
                end += 1;
            }
            let seqs: Vec<&[u32]> = order[start..end].iter().map(|&i| ids[i].as_slice()).collect();
            let hidden = self.model.forward(&seqs, scratch)?;
            let mut row = 0;
            for (seq, &i) in seqs.iter().zip(&order[start..end]) {
                let dst = &mut out[i * d..(i + 1) * d];
                self.pooling.pool(&hidden[row * d..(row + seq.len()) * d], d, dst);
                l2_normalize(dst);
                row += seq.len();
            }
            start = end;
            mark(&mut scratch.clock, Stage::Pool);
        }
        Ok(out)
    }

    /// Per linear layer and input channel, the largest |activation| over `texts` (calibration).
    fn channel_max(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let ids = self.tokenizer.ids_of_all(texts)?;
        let mut stats = Vec::new();
        for seq in &ids {
            self.model.channel_max(&[seq], &mut stats)?;
        }
        Ok(stats)
    }
}

impl Encoder for EdgeEncoder {
    fn dim(&self) -> usize {
        self.model.config().hidden_size
    }

    fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer.checked_ids(text)
    }

    fn max_seq_length(&self) -> usize {
        self.model.config().max_seq_length
    }

    fn model_id(&self) -> &str {
        &self.header.model_id
    }

    fn space_id(&self) -> &str {
        &self.header.source_model_id
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>> {
        self.embed_with(texts, &mut Scratch::default())
    }
}
