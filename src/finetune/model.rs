//! A trainable BERT forward pass: the same architecture and tensor names as the encoder's
//! (candle-transformers' BERT), written from primitives that all have a backward pass.
//!
//! candle-nn's fused LayerNorm has no backward, so a model built from it trains nothing and says
//! nothing; here LayerNorm is `layer_norm_slow`. No dropout: training stays deterministic (candle's
//! CPU random numbers cannot be seeded) and the runs are short.

use std::collections::HashMap;

use candle_core::{DType, Device, Module, Tensor, Var, D};
use candle_nn::Linear;
use candle_transformers::models::bert::{Config, HiddenAct};

use crate::encoder::Pooling;
use crate::error::{Error, Result};

/// The model's tensors, by name, as the safetensors file holds them.
pub(crate) type Tensors = HashMap<String, Tensor>;

fn model_err(e: impl std::fmt::Display) -> Error {
    Error::InvalidModel(e.to_string())
}

pub(crate) fn train_err(e: candle_core::Error) -> Error {
    Error::Inference(e.to_string())
}

/// The word-piece table stays frozen: it is half of MiniLM's parameters, most of them tokens a
/// catalog never uses, and its dense gradient would cost more per step than the layers.
pub(crate) const FROZEN: &str = "embeddings.word_embeddings.weight";

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: (Tensor, Tensor),
    inter: Linear,
    out: Linear,
    out_norm: (Tensor, Tensor),
}

/// BERT with its trainable parameters as [`Var`]s.
pub(crate) struct TrainableBert {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embed_norm: (Tensor, Tensor),
    layers: Vec<Layer>,
    heads: usize,
    eps: f32,
    act: HiddenAct,
    pooling: Pooling,
    /// Every trainable parameter, sorted by name (the optimizer's and the checkpoint's order).
    pub(crate) vars: Vec<(String, Var)>,
    /// The prefix the file's names carry (`""` or `"bert."`), kept when the weights are saved.
    pub(crate) prefix: String,
}

impl TrainableBert {
    /// Builds the model from the tensors of `model.safetensors`. Names may carry a `bert.` prefix.
    pub(crate) fn new(cfg: &Config, tensors: &Tensors, pooling: Pooling) -> Result<Self> {
        if !matches!(pooling, Pooling::Mean | Pooling::Cls) {
            return Err(model_err("fine-tuning supports mean and CLS pooling (this model pools by max)"));
        }
        let prefix = if tensors.contains_key("bert.embeddings.word_embeddings.weight") { "bert." } else { "" }.to_string();
        let mut vars: Vec<(String, Var)> = Vec::new();
        let mut take = |name: &str, shape: &[usize]| -> Result<Tensor> {
            let full = format!("{prefix}{name}");
            let t = tensors.get(&full).ok_or_else(|| model_err(format!("model.safetensors has no tensor {full}")))?;
            if t.dims() != shape {
                return Err(model_err(format!("{full} has shape {:?}, config.json says {shape:?}", t.dims())));
            }
            let t = t.to_dtype(DType::F32).map_err(model_err)?;
            if name == FROZEN {
                return Ok(t);
            }
            let v = Var::from_tensor(&t).map_err(model_err)?;
            let out = v.as_tensor().clone();
            vars.push((name.to_string(), v));
            Ok(out)
        };
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let mut linear = |name: &str, out: usize, inp: usize| -> Result<Linear> {
            Ok(Linear::new(take(&format!("{name}.weight"), &[out, inp])?, Some(take(&format!("{name}.bias"), &[out])?)))
        };
        let word = {
            let full = format!("{prefix}{FROZEN}");
            let t = tensors.get(&full).ok_or_else(|| model_err(format!("model.safetensors has no tensor {full}")))?;
            if t.dims() != [cfg.vocab_size, h] {
                return Err(model_err(format!("{full} has shape {:?}, config.json says [{}, {h}]", t.dims(), cfg.vocab_size)));
            }
            t.to_dtype(DType::F32).map_err(model_err)?
        };
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for l in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            let query = linear(&format!("{p}.attention.self.query"), h, h)?;
            let key = linear(&format!("{p}.attention.self.key"), h, h)?;
            let value = linear(&format!("{p}.attention.self.value"), h, h)?;
            let attn_out = linear(&format!("{p}.attention.output.dense"), h, h)?;
            let inter = linear(&format!("{p}.intermediate.dense"), i, h)?;
            let out = linear(&format!("{p}.output.dense"), h, i)?;
            layers.push((p, query, key, value, attn_out, inter, out));
        }
        let mut norm = |name: &str| -> Result<(Tensor, Tensor)> {
            Ok((take(&format!("{name}.weight"), &[h])?, take(&format!("{name}.bias"), &[h])?))
        };
        let embed_norm = norm("embeddings.LayerNorm")?;
        let mut built = Vec::with_capacity(layers.len());
        for (p, query, key, value, attn_out, inter, out) in layers {
            let attn_norm = norm(&format!("{p}.attention.output.LayerNorm"))?;
            let out_norm = norm(&format!("{p}.output.LayerNorm"))?;
            built.push(Layer { query, key, value, attn_out, attn_norm, inter, out, out_norm });
        }
        let position = take("embeddings.position_embeddings.weight", &[cfg.max_position_embeddings, h])?;
        let token_type = take("embeddings.token_type_embeddings.weight", &[cfg.type_vocab_size, h])?;
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self {
            word,
            position,
            token_type,
            embed_norm,
            layers: built,
            heads: cfg.num_attention_heads,
            eps: cfg.layer_norm_eps as f32,
            act: cfg.hidden_act,
            pooling,
            vars,
            prefix,
        })
    }

    /// Unit sentence vectors `(batch, hidden)` of token-id sequences.
    ///
    /// The sequences are packed end to end, without padding, for everything but attention: the
    /// linear layers are nearly all of the cost, and a batch padded to its longest text would
    /// spend most of it on padding. Attention alone gathers the packed rows into a padded
    /// `(batch, len)` grid (padding reads an extra zero row) and scatters its output back.
    pub(crate) fn embed(&self, batch: &PackedBatch) -> candle_core::Result<Tensor> {
        let (b, len, total) = (batch.sequences, batch.len, batch.tokens);
        let hsize = self.word.dim(1)?;
        let words = self.word.index_select(&batch.ids, 0)?;
        let positions = self.position.index_select(&batch.positions, 0)?;
        let types = self.token_type.narrow(0, 0, 1)?;
        let x = (words + positions)?.broadcast_add(&types)?;
        let mut x = layer_norm(&x, &self.embed_norm, self.eps)?;
        let dh = hsize / self.heads;
        let scale = 1.0 / (dh as f64).sqrt();
        let zero = Tensor::zeros((1, hsize), DType::F32, &Device::Cpu)?;
        for l in &self.layers {
            let grid = |t: Tensor| -> candle_core::Result<Tensor> {
                Tensor::cat(&[&t, &zero], 0)?
                    .index_select(&batch.to_grid, 0)?
                    .reshape((b, len, self.heads, dh))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = grid(l.query.forward(&x)?)?;
            let k = grid(l.key.forward(&x)?)?;
            let v = grid(l.value.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&batch.key_bias)?;
            let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let ctx = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((b * len, hsize))?;
            let ctx = ctx.index_select(&batch.from_grid, 0)?;
            let a = layer_norm(&(l.attn_out.forward(&ctx)? + &x)?, &l.attn_norm, self.eps)?;
            let inter = l.inter.forward(&a)?;
            let inter = match self.act {
                HiddenAct::Gelu => inter.gelu_erf()?,
                HiddenAct::GeluApproximate => inter.gelu()?,
                HiddenAct::Relu => inter.relu()?,
            };
            x = layer_norm(&(l.out.forward(&inter)? + &a)?, &l.out_norm, self.eps)?;
        }
        debug_assert_eq!(x.dim(0)?, total);
        let pooled = match self.pooling {
            Pooling::Cls => x.index_select(&batch.firsts, 0)?,
            _ => batch.mean.matmul(&x)?,
        };
        let norm = pooled.sqr()?.sum_keepdim(1)?.sqrt()?;
        pooled.broadcast_div(&norm)
    }

    /// The model's tensors for saving: the source's, with every trained one replaced.
    pub(crate) fn tensors(&self, source: &Tensors) -> Tensors {
        let mut out = source.clone();
        for (name, v) in &self.vars {
            out.insert(format!("{}{name}", self.prefix), v.as_tensor().clone());
        }
        out
    }
}

fn layer_norm(x: &Tensor, (w, b): &(Tensor, Tensor), eps: f32) -> candle_core::Result<Tensor> {
    candle_nn::ops::layer_norm_slow(x, w, b, eps)
}

/// A batch of token-id sequences packed end to end, with the indices that move between the
/// packed rows and attention's padded grid.
pub(crate) struct PackedBatch {
    sequences: usize,
    /// The longest sequence: the grid's width.
    len: usize,
    tokens: usize,
    ids: Tensor,
    /// Each token's position in its sequence.
    positions: Tensor,
    /// For each grid cell, its packed row, or `tokens` (the zero row) for padding.
    to_grid: Tensor,
    /// For each packed row, its grid cell.
    from_grid: Tensor,
    /// 0 for real keys, a large negative number for padding: `(batch, 1, 1, len)`.
    key_bias: Tensor,
    /// Each sequence's first row (CLS pooling).
    firsts: Tensor,
    /// `(batch, tokens)`: 1/length over each sequence's rows (mean pooling).
    mean: Tensor,
}

impl PackedBatch {
    pub(crate) fn new(seqs: &[&[u32]]) -> candle_core::Result<Self> {
        let b = seqs.len();
        let len = seqs.iter().map(|s| s.len()).max().unwrap_or(1).max(1);
        let tokens: usize = seqs.iter().map(|s| s.len()).sum();
        let mut ids = Vec::with_capacity(tokens);
        let mut positions = Vec::with_capacity(tokens);
        let mut to_grid = vec![tokens as u32; b * len];
        let mut from_grid = Vec::with_capacity(tokens);
        let mut key_bias = vec![-1e4f32; b * len];
        let mut firsts = Vec::with_capacity(b);
        let mut mean = vec![0f32; b * tokens];
        for (r, s) in seqs.iter().enumerate() {
            firsts.push(ids.len() as u32);
            for (p, &id) in s.iter().enumerate() {
                let cell = r * len + p;
                to_grid[cell] = ids.len() as u32;
                from_grid.push(cell as u32);
                key_bias[cell] = 0.0;
                mean[r * tokens + ids.len()] = 1.0 / s.len() as f32;
                ids.push(id);
                positions.push(p as u32);
            }
        }
        let dev = &Device::Cpu;
        Ok(Self {
            sequences: b,
            len,
            tokens,
            ids: Tensor::new(ids, dev)?,
            positions: Tensor::new(positions, dev)?,
            to_grid: Tensor::new(to_grid, dev)?,
            from_grid: Tensor::new(from_grid, dev)?,
            key_bias: Tensor::from_vec(key_bias, (b, 1, 1, len), dev)?,
            firsts: Tensor::new(firsts, dev)?,
            mean: Tensor::from_vec(mean, (b, tokens), dev)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::{EncoderSettings, ModelFiles};
    use crate::{BertEncoder, Encoder};

    /// The training forward must be the encoder's forward, or the gate would judge a model
    /// other than the one trained. Needs the default model (scripts/fetch-model.sh).
    #[test]
    fn the_packed_training_forward_matches_the_encoder() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/models/all-MiniLM-L6-v2");
        let files = ModelFiles::from_dir(&dir).expect("the default model: run scripts/fetch-model.sh");
        let cfg: Config = serde_json::from_slice(&files.config).unwrap();
        let settings =
            EncoderSettings::parse(files.pooling.as_deref(), files.sentence_config.as_deref(), cfg.max_position_embeddings)
                .unwrap();
        let tensors = candle_core::safetensors::load_buffer(&files.weights, &Device::Cpu).unwrap();
        let model = TrainableBert::new(&cfg, &tensors, settings.pooling).unwrap();
        let tokenizer = crate::encoder::text::TextTokenizer::from_bytes(&files.tokenizer, 128, cfg.vocab_size).unwrap();
        let texts =
            ["a", "Toy Story (1995). Adventure, Animation, Children", "the quick brown fox jumps over the lazy dog twice"];
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| tokenizer.ids(t).unwrap()).collect();
        let refs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let trained = model.embed(&PackedBatch::new(&refs).unwrap()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let expected = BertEncoder::from_files(&files).unwrap().embed(&texts).unwrap();
        let worst = trained.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert_eq!(trained.len(), expected.len());
        assert!(worst < 1e-4, "largest difference {worst}");
    }
}
