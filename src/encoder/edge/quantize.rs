//! f32 model files → edge bundle: int8 linear layers and word embeddings, the rest f32.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::bert::{Config, HiddenAct};
use sha2::{Digest, Sha256};

use super::format::{Activation, BundleWriter, EdgeConfig, EdgeHeader};
use crate::encoder::bert::{fingerprint, validate_config};
use crate::encoder::text::TextTokenizer;
use crate::encoder::{EncoderSettings, ModelFiles};
use crate::error::{Error, Result};

/// Choices of [`quantize`].
#[derive(Debug, Clone)]
pub struct QuantizeOptions {
    /// Per linear layer, this many input channels (those with the largest activations on a
    /// built-in calibration text set) are multiplied exactly in f32 instead of quantized.
    /// Transformers put a few "massive activations" in fixed channels (on `[CLS]`, `[SEP]` and
    /// punctuation); left in the grid they coarsen every other channel of the token.
    pub exact_channels: usize,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        Self { exact_channels: 4 }
    }
}

/// Texts whose activations choose the exact channels: generic, short and long, punctuation,
/// numbers, other scripts. Not taken from any evaluation set.
const CALIBRATION: &[&str] = &[
    "",
    ".",
    "!!",
    "?",
    "a",
    "The",
    "Hello there, how are you doing today?",
    "Fresh homemade bread with a crunchy crust and soft crumb.",
    "10 tips for a tidy kitchen (number 7 will surprise you)",
    "Vintage leather armchair, restored, 1960s",
    "Mountain hiking trail at sunrise with fog in the valley",
    "How do I fix a leaking tap without calling a plumber?",
    "Wireless noise-cancelling headphones - black, 30h battery",
    "A quiet thriller about a detective who cannot sleep.",
    "Watercolor painting of a harbour in the evening light",
    "Science fiction; space travel; time loops; robots",
    "Café au lait et croissant au beurre",
    "Ein kleines Haus am See mit Garten",
    "東京の夜景と桜",
    "Живопись маслом: пейзаж",
    "#diy #homedecor #smallspaces :) <3",
    "1 2 3 4 5 6 7 8 9 10",
    "$19.99 — free shipping on orders over $50!",
    "https://example.com/page?id=42&ref=home",
    "The committee reviewed the proposal in detail and, after a long discussion about costs, \
     timelines and the risks of delay, agreed to fund the first phase while asking for a revised \
     plan for the second one by the end of the quarter.",
    "Kids birthday party ideas: games, cake, decorations and party favours on a budget",
    "Minimal black and white bathroom with brass fixtures",
    "Drama | Romance | War",
    "I can't believe it's not butter!!!",
    "yes",
    "no no no no no no no no",
];

fn model_err(msg: impl std::fmt::Display) -> Error {
    Error::InvalidModel(msg.to_string())
}

struct Weights(HashMap<String, Tensor>);

impl Weights {
    /// A tensor as f32, by its Hugging Face name (with or without the `bert.` prefix; LayerNorm
    /// `weight`/`bias` or the older `gamma`/`beta`).
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let alt = name.replace(".weight", ".gamma").replace(".bias", ".beta");
        let candidates = [name.to_string(), format!("bert.{name}"), alt.clone(), format!("bert.{alt}")];
        let t = candidates
            .iter()
            .find_map(|n| self.0.get(n))
            .ok_or_else(|| model_err(format!("model.safetensors has no tensor {name}")))?;
        if t.dims() != shape {
            return Err(model_err(format!("{name} has shape {:?}, the config needs {shape:?}", t.dims())));
        }
        let v = t
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| model_err(format!("{name}: {e}")))?;
        if v.iter().any(|x| !x.is_finite()) {
            return Err(model_err(format!("{name} holds a value that is not finite")));
        }
        Ok(v)
    }
}

impl Weights {
    /// A dense layer's `n × k` weights and `n` biases, `path` without `.weight` / `.bias`.
    fn dense(&self, path: &str, n: usize, k: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((self.get(&format!("{path}.weight"), &[n, k])?, self.get(&format!("{path}.bias"), &[n])?))
    }

    /// Copies a LayerNorm (`path`) into the bundle as `name.gamma` / `name.beta`.
    fn add_norm(&self, out: &mut BundleWriter, name: &str, path: &str, h: usize) -> Result<()> {
        out.f32(&format!("{name}.gamma"), &[h], &self.get(&format!("{path}.weight"), &[h])?);
        out.f32(&format!("{name}.beta"), &[h], &self.get(&format!("{path}.bias"), &[h])?);
        Ok(())
    }
}

/// Symmetric int8 per row (`crate::vector::quantize_i8`): `row ≈ scale · q`. An all-zero row
/// gets scale 1 (any scale reproduces it; the loader requires scales > 0).
fn quantize_rows(w: &[f32], k: usize) -> (Vec<i8>, Vec<f32>) {
    let mut q = vec![0i8; w.len()];
    let scales = w
        .chunks_exact(k)
        .zip(q.chunks_exact_mut(k))
        .map(|(row, out)| match crate::vector::quantize_i8(row, out) {
            0.0 => 1.0,
            s => s,
        })
        .collect();
    (q, scales)
}

/// Adds one linear layer (`n × k` weights) as int8, with the f32 weight columns of its `exact`
/// input channels.
fn add_linear(out: &mut BundleWriter, name: &str, w: Vec<f32>, bias: &[f32], k: usize, exact: &[u32]) {
    let n = w.len() / k;
    if !exact.is_empty() {
        let cols: Vec<f32> = exact.iter().flat_map(|&c| (0..n).map(|o| w[o * k + c as usize]).collect::<Vec<_>>()).collect();
        out.u32(&format!("{name}.exact"), &[exact.len()], exact);
        out.f32(&format!("{name}.exact_weight"), &[exact.len(), n], &cols);
    }
    let (q, scales) = quantize_rows(&w, k);
    out.i8(&format!("{name}.weight"), &[n, k], &q);
    out.f32(&format!("{name}.scale"), &[n], &scales);
    out.f32(&format!("{name}.bias"), &[n], bias);
}

/// Quantizes a BERT-family sentence-transformers model into an edge bundle (the file's bytes).
///
/// Two passes when `exact_channels > 0`: a first bundle runs the calibration texts to find each
/// layer's largest input channels, the second keeps those exact.
pub fn quantize(files: &ModelFiles, opts: QuantizeOptions) -> Result<Vec<u8>> {
    let first = build(files, &opts, &[])?;
    if opts.exact_channels == 0 {
        return Ok(first);
    }
    let stats = super::EdgeEncoder::from_bytes(first)?.channel_max(CALIBRATION)?;
    let exact: Vec<Vec<u32>> = stats
        .iter()
        .map(|st| {
            let mut idx: Vec<u32> = (0..st.len() as u32).collect();
            idx.sort_by(|&a, &b| st[b as usize].total_cmp(&st[a as usize]));
            idx.truncate(opts.exact_channels);
            idx.sort_unstable();
            idx
        })
        .collect();
    build(files, &opts, &exact)
}

/// One bundle; `exact[layer·4 + kind]` lists the exact channels of each linear layer (or none).
fn build(files: &ModelFiles, opts: &QuantizeOptions, exact: &[Vec<u32>]) -> Result<Vec<u8>> {
    let exact_of = |l: usize, kind: usize| exact.get(l * 4 + kind).map_or(&[][..], |v| v.as_slice());
    let cfg: Config =
        serde_json::from_slice(&files.config).map_err(|e| model_err(format!("config.json is not a BERT config: {e}")))?;
    validate_config(&cfg)?;
    let settings =
        EncoderSettings::parse(files.pooling.as_deref(), files.sentence_config.as_deref(), cfg.max_position_embeddings)?;
    TextTokenizer::from_bytes(&files.tokenizer, settings.max_seq_length, cfg.vocab_size)?;
    let activation = match cfg.hidden_act {
        HiddenAct::Gelu => Activation::Gelu,
        HiddenAct::GeluApproximate => Activation::GeluTanh,
        _ => return Err(model_err("only GELU BERT models can be quantized")),
    };
    let weights = Weights(
        candle_core::safetensors::load_buffer(&files.weights, &Device::Cpu)
            .map_err(|e| model_err(format!("model.safetensors: {e}")))?,
    );
    let (h, i, v, p) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size, cfg.max_position_embeddings);

    let mut out = BundleWriter::default();
    let (word, word_scale) = quantize_rows(&weights.get("embeddings.word_embeddings.weight", &[v, h])?, h);
    out.i8("embeddings.word.weight", &[v, h], &word);
    out.f32("embeddings.word.scale", &[v], &word_scale);
    out.f32("embeddings.position", &[p, h], &weights.get("embeddings.position_embeddings.weight", &[p, h])?);
    let types = weights.get("embeddings.token_type_embeddings.weight", &[cfg.type_vocab_size, h])?;
    // Sentence encoders see one segment: only token type 0 is ever used.
    out.f32("embeddings.token_type", &[h], &types[..h]);
    weights.add_norm(&mut out, "embeddings.ln", "embeddings.LayerNorm", h)?;

    for l in 0..cfg.num_hidden_layers {
        let pre = format!("encoder.layer.{l}");
        let name = format!("layers.{l}");
        let mut qkv = Vec::with_capacity(3 * h * h);
        let mut qkv_bias = Vec::with_capacity(3 * h);
        for part in ["query", "key", "value"] {
            let (w, b) = weights.dense(&format!("{pre}.attention.self.{part}"), h, h)?;
            qkv.extend(w);
            qkv_bias.extend(b);
        }
        add_linear(&mut out, &format!("{name}.qkv"), qkv, &qkv_bias, h, exact_of(l, 0));
        let (w, b) = weights.dense(&format!("{pre}.attention.output.dense"), h, h)?;
        add_linear(&mut out, &format!("{name}.attn_out"), w, &b, h, exact_of(l, 1));
        weights.add_norm(&mut out, &format!("{name}.ln1"), &format!("{pre}.attention.output.LayerNorm"), h)?;
        let (w, b) = weights.dense(&format!("{pre}.intermediate.dense"), i, h)?;
        add_linear(&mut out, &format!("{name}.ffn_in"), w, &b, h, exact_of(l, 2));
        let (w, b) = weights.dense(&format!("{pre}.output.dense"), h, i)?;
        add_linear(&mut out, &format!("{name}.ffn_out"), w, &b, i, exact_of(l, 3));
        weights.add_norm(&mut out, &format!("{name}.ln2"), &format!("{pre}.output.LayerNorm"), h)?;
    }

    let source_model_id = fingerprint(&cfg, settings.pooling, &files.config, &files.tokenizer, &files.weights);
    let source_sha256: String = Sha256::digest(&files.weights).iter().map(|b| format!("{b:02x}")).collect();
    let header = EdgeHeader {
        model_id: String::new(),
        source_model_id,
        source_sha256,
        quantization: format!(
            "weights int8 per output channel; activations 7-bit per token with zero point; {} exact channels per layer",
            if exact.is_empty() { 0 } else { opts.exact_channels }
        ),
        built_by: format!("edgerec {}", env!("CARGO_PKG_VERSION")),
        config: EdgeConfig {
            vocab_size: v,
            hidden_size: h,
            num_layers: cfg.num_hidden_layers,
            num_heads: cfg.num_attention_heads,
            intermediate_size: i,
            max_positions: p,
            layer_norm_eps: cfg.layer_norm_eps as f32,
            activation,
            pooling: settings.pooling,
            max_seq_length: settings.max_seq_length,
        },
        tokenizer: (0, 0),
        tensors: Vec::new(),
    };
    let family = format!("bert-{}x{h}-{}-int8", cfg.num_hidden_layers, settings.pooling.as_str());
    Ok(out.finish(header, &files.tokenizer, &family))
}
