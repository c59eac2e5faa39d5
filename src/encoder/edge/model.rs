//! The BERT forward pass over an edge bundle: int8 linear layers, f32 attention and norms.
//!
//! Texts of a batch are not padded: their tokens are concatenated into one `tokens × hidden`
//! matrix for the linear layers (which treat rows independently) and attention runs per text over
//! its own rows. No padding means no wasted work and no mask, and a text's vector does not depend
//! on the batch it was in (bit-identical).

use std::ops::Range;

use super::format::{f32s, u32s, Activation, Bundle, DType, EdgeConfig};
use super::kernels::{gelu, layer_norm, matmul, softmax, QLinear, QuantRows};
use crate::bundle::as_i8;
use crate::error::{Error, Result};
use crate::vector::dot_f32;

/// Feed-forward rows per step: bounds the `rows × intermediate` buffer whatever the batch.
const FFN_ROWS: usize = 128;

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::InvalidModel(format!("edge model bundle: {msg}"))
}

struct Linear {
    weight: Range<usize>,
    scale: Vec<f32>,
    wsum: Vec<i32>,
    bias: Vec<f32>,
    /// Input channels multiplied exactly instead of quantized (the channels where activations
    /// run largest), and their weight columns in f32: `|exact| × n`.
    exact: Vec<u32>,
    exact_weight: Vec<f32>,
    /// Position in [`EdgeModel::linears`] order (for calibration statistics).
    id: usize,
}

/// The linear layers of one transformer layer, in bundle and statistics order.
pub const LINEAR_KINDS: [&str; 4] = ["qkv", "attn_out", "ffn_in", "ffn_out"];

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    qkv: Linear,
    attn_out: Linear,
    ln1: Norm,
    ffn_in: Linear,
    ffn_out: Linear,
    ln2: Norm,
}

/// The weights of an edge model, read in place from the bundle's bytes.
pub struct EdgeModel {
    bytes: Vec<u8>,
    cfg: EdgeConfig,
    word: Range<usize>,
    word_scale: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    emb_ln: Norm,
    layers: Vec<Layer>,
    tanh_gelu: bool,
}

/// The stages an encoder pass is timed in (issue 13's breakdown), in [`STAGES`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Text to token ids.
    Tokenize,
    /// Word + position + type embeddings.
    Embeddings,
    /// Every LayerNorm.
    LayerNorm,
    /// Activations to int8 before each linear layer.
    Quantize,
    /// The int8 matrix products, per kind of linear layer (`LINEAR_KINDS` order).
    Matmul(usize),
    /// The input channels multiplied exactly in f32.
    ExactChannels,
    /// Scores, softmax and the weighted sum of values.
    Attention,
    /// GELU.
    Gelu,
    /// Residual additions.
    Residual,
    /// Pooling and normalisation.
    Pool,
}

/// Every stage's name, in the order [`StageClock::spent`] holds them.
pub const STAGES: [&str; 13] = [
    "tokenize",
    "embeddings",
    "layer norm",
    "quantize activations",
    "matmul qkv",
    "matmul attn_out",
    "matmul ffn_in",
    "matmul ffn_out",
    "exact channels (f32)",
    "attention",
    "gelu",
    "residual adds",
    "pool + normalize",
];

impl Stage {
    fn index(self) -> usize {
        match self {
            Stage::Tokenize => 0,
            Stage::Embeddings => 1,
            Stage::LayerNorm => 2,
            Stage::Quantize => 3,
            Stage::Matmul(k) => 4 + k.min(3),
            Stage::ExactChannels => 8,
            Stage::Attention => 9,
            Stage::Gelu => 10,
            Stage::Residual => 11,
            Stage::Pool => 12,
        }
    }
}

/// Time spent per [`Stage`], read from a clock the caller gives (the core has none: in wasm it
/// is `performance.now()`); each mark charges the time since the previous one to a stage.
pub struct StageClock<'c> {
    now: &'c dyn Fn() -> f64,
    last: f64,
    /// Milliseconds per stage, [`STAGES`] order.
    pub spent: [f64; STAGES.len()],
}

impl<'c> StageClock<'c> {
    /// A clock reading `now` (milliseconds), starting now.
    pub fn new(now: &'c dyn Fn() -> f64) -> Self {
        Self { last: now(), now, spent: [0.0; STAGES.len()] }
    }

    /// Charges the time since the last mark to `stage`.
    pub fn mark(&mut self, stage: Stage) {
        let t = (self.now)();
        self.spent[stage.index()] += t - self.last;
        self.last = t;
    }
}

/// Charges the time since the last mark to `stage` when the pass is timed.
pub(super) fn mark(clock: &mut Option<StageClock>, stage: Stage) {
    if let Some(c) = clock {
        c.mark(stage);
    }
}

/// Reusable buffers for one `embed` call, and the clock when it is timed.
#[derive(Default)]
pub struct Scratch<'c> {
    h: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    proj: Vec<f32>,
    inter: Vec<f32>,
    scores: Vec<f32>,
    q: Quant,
    /// Set to time the stages.
    pub clock: Option<StageClock<'c>>,
}

#[derive(Default)]
struct Quant {
    q: QuantRows,
    /// Per linear layer and input channel, the largest |activation| (calibration only).
    stats: Option<Vec<Vec<f32>>>,
}

impl EdgeModel {
    /// Checks every tensor of `bundle` against its config and keeps `bytes` (the whole file).
    pub fn new(bytes: Vec<u8>, bundle: &Bundle) -> Result<Self> {
        let cfg = bundle.header.config.clone();
        let (v, h, i, p) = (cfg.vocab_size, cfg.hidden_size, cfg.intermediate_size, cfg.max_positions);
        if v == 0 || h == 0 || i == 0 || cfg.num_layers == 0 || cfg.num_heads == 0 || h % cfg.num_heads != 0 {
            return Err(bad("config: sizes must be positive and hidden_size a multiple of num_heads"));
        }
        if cfg.max_seq_length < 2 || cfg.max_seq_length > p {
            return Err(bad(format!("config: max_seq_length {} must be in 2..={p}", cfg.max_seq_length)));
        }
        let tanh_gelu = cfg.activation == Activation::GeluTanh;
        if !(cfg.layer_norm_eps.is_finite() && cfg.layer_norm_eps > 0.0) {
            return Err(bad("config: layer_norm_eps must be a positive number"));
        }
        let f = |name: &str, shape: &[usize]| -> Result<Vec<f32>> { f32s(&bytes[bundle.tensor(name, DType::F32, shape)?], name) };
        let norm = |name: &str| -> Result<Norm> {
            Ok(Norm { gamma: f(&format!("{name}.gamma"), &[h])?, beta: f(&format!("{name}.beta"), &[h])? })
        };
        let linear = |l: usize, kind: usize, n: usize, k: usize| -> Result<Linear> {
            let name = &format!("layers.{l}.{}", LINEAR_KINDS[kind]);
            let weight = bundle.tensor(&format!("{name}.weight"), DType::I8, &[n, k])?;
            let wsum = as_i8(&bytes[weight.clone()]).chunks_exact(k).map(|r| r.iter().map(|&x| x as i32).sum()).collect();
            let scale = f(&format!("{name}.scale"), &[n])?;
            if scale.iter().any(|&s| s <= 0.0) {
                return Err(bad(format!("{name}.scale has a value <= 0")));
            }
            let (exact, exact_weight) = if bundle.has(&format!("{name}.exact")) {
                let m = bundle
                    .header
                    .tensors
                    .iter()
                    .find(|t| t.name == format!("{name}.exact"))
                    .and_then(|t| t.shape.first().copied())
                    .unwrap_or(0);
                let exact = u32s(&bytes[bundle.tensor(&format!("{name}.exact"), DType::U32, &[m])?]);
                if exact.iter().any(|&c| c as usize >= k) {
                    return Err(bad(format!("{name}.exact names a channel beyond {k}")));
                }
                (exact, f(&format!("{name}.exact_weight"), &[m, n])?)
            } else {
                (Vec::new(), Vec::new())
            };
            let bias = f(&format!("{name}.bias"), &[n])?;
            Ok(Linear { weight, scale, wsum, bias, exact, exact_weight, id: l * 4 + kind })
        };
        let word = bundle.tensor("embeddings.word.weight", DType::I8, &[v, h])?;
        let word_scale = f("embeddings.word.scale", &[v])?;
        let position = f("embeddings.position", &[p, h])?;
        let token_type = f("embeddings.token_type", &[h])?;
        let emb_ln = norm("embeddings.ln")?;
        let layers = (0..cfg.num_layers)
            .map(|l| {
                Ok(Layer {
                    qkv: linear(l, 0, 3 * h, h)?,
                    attn_out: linear(l, 1, h, h)?,
                    ln1: norm(&format!("layers.{l}.ln1"))?,
                    ffn_in: linear(l, 2, i, h)?,
                    ffn_out: linear(l, 3, h, i)?,
                    ln2: norm(&format!("layers.{l}.ln2"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { bytes, cfg, word, word_scale, position, token_type, emb_ln, layers, tanh_gelu })
    }

    /// The architecture.
    pub fn config(&self) -> &EdgeConfig {
        &self.cfg
    }

    /// The bundle's bytes (the tokenizer is read from them too).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn linear(&self, l: &Linear, input: &[f32], k: usize, s: &mut Quant, out: &mut Vec<f32>, clock: &mut Option<StageClock>) {
        let n = l.scale.len();
        if let Some(stats) = s.stats.as_mut() {
            let st = &mut stats[l.id];
            st.resize(k, 0.0);
            for row in input.chunks_exact(k) {
                for (m, &v) in st.iter_mut().zip(row) {
                    *m = m.max(v.abs());
                }
            }
        }
        s.q.quantize(input, k, &l.exact);
        mark(clock, Stage::Quantize);
        out.resize(input.len() / k * n, 0.0);
        let weight = as_i8(&self.bytes[l.weight.clone()]);
        matmul(&s.q, &QLinear { weight, scale: &l.scale, wsum: &l.wsum, bias: &l.bias }, out);
        mark(clock, Stage::Matmul(l.id % LINEAR_KINDS.len()));
        // Four channels per pass over a row's outputs (one load and store of each output where
        // there were four), each output adding its channels in the same order as one at a time:
        // the same sums to the bit.
        let columns: Vec<(usize, &[f32])> = l.exact.iter().map(|&c| c as usize).zip(l.exact_weight.chunks_exact(n)).collect();
        for (row, dst) in input.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
            for four in columns.chunks(4) {
                if let [(c0, w0), (c1, w1), (c2, w2), (c3, w3)] = *four {
                    let (v0, v1, v2, v3) = (row[c0], row[c1], row[c2], row[c3]);
                    for ((((d, &a), &b), &c), &e) in dst.iter_mut().zip(w0).zip(w1).zip(w2).zip(w3) {
                        *d = (((*d + v0 * a) + v1 * b) + v2 * c) + v3 * e;
                    }
                } else {
                    for &(c, col) in four {
                        let v = row[c];
                        dst.iter_mut().zip(col).for_each(|(d, &w)| *d += v * w);
                    }
                }
            }
        }
        mark(clock, Stage::ExactChannels);
    }

    /// Runs [`Self::forward`] and records, per linear layer (in `LINEAR_KINDS` order, layer by
    /// layer) and input channel, the largest |activation| seen, as quantization sees it.
    pub fn channel_max(&self, seqs: &[&[u32]], stats: &mut Vec<Vec<f32>>) -> Result<()> {
        stats.resize(self.layers.len() * 4, Vec::new());
        let mut s = Scratch { q: Quant { stats: Some(std::mem::take(stats)), ..Default::default() }, ..Default::default() };
        self.forward(seqs, &mut s)?;
        *stats = s.q.stats.take().expect("set above");
        Ok(())
    }

    /// Runs the encoder over `seqs` (token ids, each at most `max_seq_length` long) and leaves the
    /// last hidden states, `Σ len × hidden`, in `s.h`.
    pub fn forward<'s>(&self, seqs: &[&[u32]], s: &'s mut Scratch) -> Result<&'s [f32]> {
        let clock = &mut s.clock;
        let h = self.cfg.hidden_size;
        let total: usize = seqs.iter().map(|q| q.len()).sum();
        s.h.clear();
        s.h.resize(total * h, 0.0);
        let word = as_i8(&self.bytes[self.word.clone()]);
        let mut t = 0;
        for seq in seqs {
            if seq.len() > self.cfg.max_seq_length {
                return Err(Error::Inference(format!("a sequence of {} tokens exceeds max_seq_length", seq.len())));
            }
            for (pos, &id) in seq.iter().enumerate() {
                let id = id as usize;
                if id >= self.cfg.vocab_size {
                    return Err(Error::Inference(format!("token id {id} is outside the vocabulary")));
                }
                let (row, sc) = (&word[id * h..(id + 1) * h], self.word_scale[id]);
                let p = &self.position[pos * h..(pos + 1) * h];
                for (j, dst) in s.h[t * h..(t + 1) * h].iter_mut().enumerate() {
                    *dst = row[j] as f32 * sc + p[j] + self.token_type[j];
                }
                t += 1;
            }
        }
        mark(clock, Stage::Embeddings);
        let eps = self.cfg.layer_norm_eps;
        layer_norm(&mut s.h, h, &self.emb_ln.gamma, &self.emb_ln.beta, eps);
        mark(clock, Stage::LayerNorm);
        for layer in &self.layers {
            self.linear(&layer.qkv, &s.h, h, &mut s.q, &mut s.qkv, clock);
            Self::attention(&self.cfg, seqs, &s.qkv, &mut s.ctx, &mut s.scores);
            mark(clock, Stage::Attention);
            self.linear(&layer.attn_out, &s.ctx, h, &mut s.q, &mut s.proj, clock);
            for (x, r) in s.h.iter_mut().zip(&s.proj) {
                *x += r;
            }
            mark(clock, Stage::Residual);
            layer_norm(&mut s.h, h, &layer.ln1.gamma, &layer.ln1.beta, eps);
            mark(clock, Stage::LayerNorm);
            let i = self.cfg.intermediate_size;
            for start in (0..total).step_by(FFN_ROWS) {
                let rows = start..(start + FFN_ROWS).min(total);
                self.linear(&layer.ffn_in, &s.h[rows.start * h..rows.end * h], h, &mut s.q, &mut s.inter, clock);
                gelu(&mut s.inter, self.tanh_gelu);
                mark(clock, Stage::Gelu);
                self.linear(&layer.ffn_out, &s.inter, i, &mut s.q, &mut s.proj, clock);
                let block = &mut s.h[rows.start * h..rows.end * h];
                for (x, r) in block.iter_mut().zip(&s.proj) {
                    *x += r;
                }
                mark(clock, Stage::Residual);
                layer_norm(block, h, &layer.ln2.gamma, &layer.ln2.beta, eps);
                mark(clock, Stage::LayerNorm);
            }
        }
        Ok(&s.h)
    }

    /// Self-attention of each text over its own rows of `s.qkv` into `s.ctx`.
    fn attention(cfg: &EdgeConfig, seqs: &[&[u32]], qkv: &[f32], ctx: &mut Vec<f32>, scores: &mut Vec<f32>) {
        let h = cfg.hidden_size;
        let heads = cfg.num_heads;
        let dh = h / heads;
        let scale = 1.0 / (dh as f32).sqrt();
        ctx.clear();
        ctx.resize(qkv.len() / 3, 0.0);
        let mut start = 0;
        for seq in seqs {
            let len = seq.len();
            scores.resize(len, 0.0);
            for head in 0..heads {
                let col = head * dh;
                for i in 0..len {
                    let qrow = (start + i) * 3 * h;
                    let q = &qkv[qrow + col..qrow + col + dh];
                    for (j, sc) in scores.iter_mut().enumerate() {
                        let krow = (start + j) * 3 * h + h;
                        *sc = dot_f32(q, &qkv[krow + col..krow + col + dh]) * scale;
                    }
                    softmax(scores);
                    let out = &mut ctx[(start + i) * h + col..(start + i) * h + col + dh];
                    for (j, &p) in scores.iter().enumerate() {
                        let vrow = (start + j) * 3 * h + 2 * h;
                        for (o, &v) in out.iter_mut().zip(&qkv[vrow + col..vrow + col + dh]) {
                            *o += p * v;
                        }
                    }
                }
            }
            start += len;
        }
    }
}
