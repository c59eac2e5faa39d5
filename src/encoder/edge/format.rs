//! The edge model bundle on disk: the shared envelope ([`crate::bundle`], magic `EDGERECM`)
//! whose JSON header is an [`EdgeHeader`] and whose sections are every tensor and the tokenizer.
//!
//! The loader keeps the file's bytes as they are and reads the int8 matrices in place, so the
//! weights exist once in memory. Every entry is checked against the header's config before use: a
//! truncated, corrupt or foreign file is an `invalid_model` error, never a panic later.

use std::ops::Range;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use crate::bundle::{self, Envelope, Kind, Writer};
use crate::encoder::Pooling;
use crate::error::{Error, Result};
/// The edge bundle format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The architecture and text settings the forward pass needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EdgeConfig {
    /// Rows of the word embedding table.
    pub vocab_size: usize,
    /// Width of every token vector (and of the sentence vector).
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_layers: usize,
    /// Attention heads per layer.
    pub num_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Rows of the position embedding table.
    pub max_positions: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f32,
    /// Feed-forward activation.
    pub activation: Activation,
    /// Sentence pooling.
    pub pooling: Pooling,
    /// Texts are truncated to this many tokens.
    pub max_seq_length: usize,
}

/// A feed-forward activation (`"gelu"` or `"gelu_tanh"` in a bundle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// GELU with erf.
    Gelu,
    /// GELU's tanh approximation.
    GeluTanh,
}

impl Activation {
    /// Its name in bundles.
    pub fn as_str(self) -> &'static str {
        match self {
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
        }
    }
}

/// What a tensor's elements are (little-endian; `"i8"`, `"f32"` or `"u32"` in a bundle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// Signed bytes.
    I8,
    /// 32-bit floats.
    F32,
    /// 32-bit unsigned integers.
    U32,
}

impl DType {
    /// Its name in bundles.
    pub fn as_str(self) -> &'static str {
        match self {
            DType::I8 => "i8",
            DType::F32 => "f32",
            DType::U32 => "u32",
        }
    }

    /// Bytes per element.
    pub fn width(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::F32 | DType::U32 => 4,
        }
    }
}

/// Where a tensor lives in the data region and what it holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TensorEntry {
    /// `embeddings.word.weight`, `layers.3.ffn_in.scale`, ...
    pub name: String,
    /// Its elements.
    pub dtype: DType,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Byte offset from the start of the data region.
    pub offset: usize,
}

/// What the bundle says about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EdgeHeader {
    /// This model's id: the source model's family, `-int8`, and a hash of config and data.
    pub model_id: String,
    /// The id of the f32 model it was quantized from (`BertEncoder::model_id`): its vectors live
    /// in the same embedding space, so catalogs built by either work with both.
    pub source_model_id: String,
    /// SHA-256 of the source `model.safetensors`.
    pub source_sha256: String,
    /// How weights and activations are quantized (informational).
    pub quantization: String,
    /// The edgerec version that wrote the file.
    pub built_by: String,
    /// Architecture.
    pub config: EdgeConfig,
    /// Byte offset and length of `tokenizer.json` in the data region.
    pub tokenizer: (usize, usize),
    /// Every tensor.
    pub tensors: Vec<TensorEntry>,
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::InvalidModel(format!("edge model bundle: {msg}"))
}

/// Collects tensors for [`BundleWriter::finish`].
#[derive(Default)]
pub struct BundleWriter {
    tensors: Vec<TensorEntry>,
    data: Writer,
}

impl BundleWriter {
    fn push(&mut self, name: &str, dtype: DType, shape: &[usize], bytes: &[u8]) {
        debug_assert_eq!(shape.iter().product::<usize>() * dtype.width(), bytes.len());
        let offset = self.data.add(bytes).offset;
        self.tensors.push(TensorEntry { name: name.into(), dtype, shape: shape.to_vec(), offset });
    }

    /// Adds an int8 tensor.
    pub fn i8(&mut self, name: &str, shape: &[usize], values: &[i8]) {
        self.push(name, DType::I8, shape, &values.iter().map(|&v| v as u8).collect::<Vec<u8>>());
    }

    /// Adds a u32 tensor.
    pub fn u32(&mut self, name: &str, shape: &[usize], values: &[u32]) {
        self.push(name, DType::U32, shape, &values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
    }

    /// Adds an f32 tensor.
    pub fn f32(&mut self, name: &str, shape: &[usize], values: &[f32]) {
        self.push(name, DType::F32, shape, &values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
    }

    /// Writes the file: `header` gets the tokenizer's place, the tensor table and its model id
    /// (`<family>:<hash of the data>`) filled in.
    pub fn finish(mut self, mut header: EdgeHeader, tokenizer: &[u8], family: &str) -> Vec<u8> {
        let at = self.data.add(tokenizer).offset;
        header.tokenizer = (at, tokenizer.len());
        header.tensors = self.tensors;
        let config = serde_json::to_vec(&header.config).expect("config serialises");
        let hash = xxh3_128(&[config.as_slice(), self.data.data()].concat()).to_le_bytes();
        let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
        header.model_id = format!("{family}:{hex}");
        let json = serde_json::to_vec(&header).expect("header serialises");
        self.data.finish(Kind::Model, FORMAT_VERSION, &json)
    }
}

/// A checked bundle: its header and where each tensor's bytes are in the file.
pub struct Bundle {
    /// The parsed header.
    pub header: EdgeHeader,
    data: Range<usize>,
}

impl Bundle {
    /// Checks magic, version, checksum and header; `bytes` is the whole file.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let envelope = Envelope::parse(bytes, Kind::Model, &[FORMAT_VERSION])?;
        let header: EdgeHeader = serde_json::from_slice(envelope.header).map_err(|e| bad(format!("header: {e}")))?;
        let b = Bundle { header, data: envelope.data() };
        let (at, len) = b.header.tokenizer;
        b.range(at, len, "tokenizer")?;
        Ok(b)
    }

    fn range(&self, offset: usize, len: usize, what: &str) -> Result<Range<usize>> {
        bundle::range_in(&self.data, Kind::Model, offset, len, what)
    }

    /// The byte range of tensor `name`, checked to be `dtype` with exactly `shape`.
    pub fn tensor(&self, name: &str, dtype: DType, shape: &[usize]) -> Result<Range<usize>> {
        let t = self.header.tensors.iter().find(|t| t.name == name).ok_or_else(|| bad(format!("tensor {name} is missing")))?;
        if t.dtype != dtype || t.shape != shape {
            return Err(bad(format!(
                "tensor {name} is {} {:?}, the config needs {} {shape:?}",
                t.dtype.as_str(),
                t.shape,
                dtype.as_str()
            )));
        }
        let len = shape
            .iter()
            .try_fold(dtype.width(), |a, &d| a.checked_mul(d))
            .ok_or_else(|| bad(format!("tensor {name}: size overflows")))?;
        self.range(t.offset, len, name)
    }

    /// Whether the bundle has a tensor called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.header.tensors.iter().any(|t| t.name == name)
    }

    /// The byte range of `tokenizer.json`.
    pub fn tokenizer(&self) -> Range<usize> {
        let (at, len) = self.header.tokenizer;
        self.range(at, len, "tokenizer").expect("checked in parse")
    }
}

/// Reads a u32 tensor out of the file.
pub fn u32s(bytes: &[u8]) -> Vec<u32> {
    bundle::u32s(bytes)
}

/// Reads a checked f32 tensor out of the file.
pub fn f32s(bytes: &[u8], name: &str) -> Result<Vec<f32>> {
    bundle::f32s(bytes, name, Kind::Model)
}
