//! The f32 encoder: candle-transformers' BERT, any BERT-family sentence-transformers model.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use sha2::{Digest, Sha256};

use super::pooling::l2_normalize;
use super::text::{longest_first, TextTokenizer};
use super::{Encoder, EncoderSettings, ModelFiles};
use crate::error::{Error, Result};

/// Texts per forward pass. sentence-transformers uses 32 too; texts are sorted by length first,
/// so a batch pads little.
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// A BERT-family sentence encoder running in f32 on candle's CPU backend.
pub struct BertEncoder {
    model: BertModel,
    tokenizer: TextTokenizer,
    settings: EncoderSettings,
    dim: usize,
    pad_id: u32,
    vocab_size: usize,
    batch_size: usize,
    model_id: String,
}

fn model_err(e: impl std::fmt::Display) -> Error {
    Error::InvalidModel(e.to_string())
}

fn inference_err(e: candle_core::Error) -> Error {
    Error::Inference(e.to_string())
}

impl BertEncoder {
    /// Builds an encoder from a model's files.
    pub fn from_files(files: &ModelFiles) -> Result<Self> {
        Self::from_bytes(
            &files.config,
            &files.tokenizer,
            &files.weights,
            files.pooling.as_deref(),
            files.sentence_config.as_deref(),
        )
    }

    /// Builds an encoder from the bytes of `config.json`, `tokenizer.json`, `model.safetensors`
    /// and the optional `1_Pooling/config.json` and `sentence_bert_config.json`.
    ///
    /// The weights are copied into tensors, so `weights` can be dropped afterwards.
    pub fn from_bytes(
        config: &[u8],
        tokenizer: &[u8],
        weights: &[u8],
        pooling: Option<&[u8]>,
        sentence_config: Option<&[u8]>,
    ) -> Result<Self> {
        let cfg: Config =
            serde_json::from_slice(config).map_err(|e| Error::InvalidModel(format!("config.json is not a BERT config: {e}")))?;
        validate_config(&cfg)?;
        let settings = EncoderSettings::parse(pooling, sentence_config, cfg.max_position_embeddings)?;

        let tok = TextTokenizer::from_bytes(tokenizer, settings.max_seq_length, cfg.vocab_size)?;

        let vb = VarBuilder::from_slice_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| Error::InvalidModel(format!("model.safetensors: {e}")))?;
        let model =
            BertModel::load(vb, &cfg).map_err(|e| Error::InvalidModel(format!("weights do not match config.json: {e}")))?;

        let model_id = fingerprint(&cfg, settings.pooling, config, tokenizer, weights);
        Ok(Self {
            model,
            tokenizer: tok,
            settings,
            dim: cfg.hidden_size,
            pad_id: cfg.pad_token_id as u32,
            vocab_size: cfg.vocab_size,
            batch_size: DEFAULT_BATCH_SIZE,
            model_id,
        })
    }

    /// Reads a model folder and builds an encoder (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<Self> {
        Self::from_files(&ModelFiles::from_dir(dir)?)
    }

    /// Pooling mode and sequence length in use.
    pub fn settings(&self) -> &EncoderSettings {
        &self.settings
    }

    /// Sets how many texts go through one forward pass (at least 1).
    pub fn set_batch_size(&mut self, batch_size: usize) {
        self.batch_size = batch_size.max(1);
    }

    /// Rows of the word embedding table: the token ids the model takes are below it.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The special tokens the tokenizer wraps a text in, as the empty text's ids (`[CLS] [SEP]`
    /// for BERT): what a sequence of raw token ids needs around it.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn special_ids(&self) -> Result<Vec<u32>> {
        self.tokenizer.ids("")
    }

    /// Pooled vectors of token id sequences given directly (no tokenizer), not normalised:
    /// `seqs.len() × dim`, one forward pass per [`Self::set_batch_size`] sequences.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn pool_ids(&self, seqs: &[&[u32]]) -> Result<Vec<f32>> {
        let d = self.dim;
        let mut out = vec![0f32; seqs.len() * d];
        for (chunk, dst) in seqs.chunks(self.batch_size).zip(out.chunks_mut(self.batch_size * d)) {
            self.forward_batch(chunk, dst, false)?;
        }
        Ok(out)
    }

    /// The token string of id `id`, if the vocabulary has one.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn token(&self, id: u32) -> Option<String> {
        self.tokenizer.token(id)
    }

    /// One forward pass over `seqs` (token ids of unequal length), pooled into `out`
    /// (`seqs.len() × dim`) and L2-normalised when `normalize`.
    fn forward_batch(&self, seqs: &[&[u32]], out: &mut [f32], normalize: bool) -> Result<()> {
        let b = seqs.len();
        let len = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut ids = vec![self.pad_id; b * len];
        let mut mask = vec![0u32; b * len];
        for (r, s) in seqs.iter().enumerate() {
            ids[r * len..r * len + s.len()].copy_from_slice(s);
            mask[r * len..r * len + s.len()].fill(1);
        }
        let ids = Tensor::from_vec(ids, (b, len), &Device::Cpu).map_err(inference_err)?;
        let mask = Tensor::from_vec(mask, (b, len), &Device::Cpu).map_err(inference_err)?;
        let types = ids.zeros_like().map_err(inference_err)?;
        let hidden = self.model.forward(&ids, &types, Some(&mask)).map_err(inference_err)?;
        let hidden: Vec<f32> = hidden.flatten_all().and_then(|t| t.to_vec1()).map_err(inference_err)?;
        let d = self.dim;
        for (r, s) in seqs.iter().enumerate() {
            let row = &hidden[r * len * d..(r * len + s.len()) * d];
            let dst = &mut out[r * d..(r + 1) * d];
            self.settings.pooling.pool(row, d, dst);
            if normalize {
                l2_normalize(dst);
            }
        }
        Ok(())
    }
}

impl Encoder for BertEncoder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer.checked_ids(text)
    }

    fn max_seq_length(&self) -> usize {
        self.settings.max_seq_length
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<f32>> {
        let ids = self.tokenizer.ids_of_all(texts)?;
        // Longest first, like sentence-transformers: each batch pads to nearly its own length.
        let order = longest_first(&ids);

        let d = self.dim;
        let mut out = vec![0f32; texts.len() * d];
        let mut pooled = vec![0f32; self.batch_size.min(texts.len().max(1)) * d];
        for chunk in order.chunks(self.batch_size) {
            let seqs: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            let pooled = &mut pooled[..chunk.len() * d];
            self.forward_batch(&seqs, pooled, true)?;
            for (r, &i) in chunk.iter().enumerate() {
                out[i * d..(i + 1) * d].copy_from_slice(&pooled[r * d..(r + 1) * d]);
            }
        }
        Ok(out)
    }
}

/// Rejects configs the forward pass cannot run, before any weight is read.
pub(crate) fn validate_config(cfg: &Config) -> Result<()> {
    if let Some(t) = cfg.model_type.as_deref() {
        if t != "bert" {
            return Err(model_err(format!(
                "model_type {t:?} is not supported (BERT-family models with model_type \"bert\" are)"
            )));
        }
    }
    let positive = [
        ("vocab_size", cfg.vocab_size),
        ("hidden_size", cfg.hidden_size),
        ("num_hidden_layers", cfg.num_hidden_layers),
        ("num_attention_heads", cfg.num_attention_heads),
        ("intermediate_size", cfg.intermediate_size),
        ("max_position_embeddings", cfg.max_position_embeddings),
        ("type_vocab_size", cfg.type_vocab_size),
    ];
    for (name, v) in positive {
        if v == 0 {
            return Err(model_err(format!("config.json: {name} must be positive")));
        }
    }
    if cfg.hidden_size % cfg.num_attention_heads != 0 {
        return Err(model_err(format!(
            "config.json: hidden_size {} is not a multiple of num_attention_heads {}",
            cfg.hidden_size, cfg.num_attention_heads
        )));
    }
    if cfg.pad_token_id >= cfg.vocab_size {
        return Err(model_err("config.json: pad_token_id is outside the vocabulary"));
    }
    Ok(())
}

/// `bert-<layers>x<hidden>-<pooling>:<32 hex digits>`: SHA-256 over the config and tokenizer
/// files and a sample of the weights (the safetensors header and 4 KiB of every MiB).
///
/// A sample, because hashing 90 MB costs most of a second in wasm at every start; any retrained
/// or fine-tuned model changes every block, so the id still tells models apart. Integrity of the
/// files themselves is checked with full SHA-256 sums when they are fetched.
pub(crate) fn fingerprint(cfg: &Config, pooling: super::Pooling, config: &[u8], tokenizer: &[u8], weights: &[u8]) -> String {
    const BLOCK: usize = 4096;
    const STRIDE: usize = 1 << 20;
    let mut h = Sha256::new();
    for part in [config, tokenizer] {
        // Length-prefix each part so that moving bytes between files changes the hash.
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update((weights.len() as u64).to_le_bytes());
    let header_len =
        weights.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize + 8).unwrap_or(0).min(weights.len());
    h.update(&weights[..header_len]);
    for start in (header_len..weights.len()).step_by(STRIDE) {
        h.update(&weights[start..(start + BLOCK).min(weights.len())]);
    }
    let digest = h.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("bert-{}x{}-{}:{hex}", cfg.num_hidden_layers, cfg.hidden_size, pooling.as_str())
}
