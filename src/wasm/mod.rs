//! The JavaScript binding: wasm-bindgen types, argument decoding and error mapping only.
//!
//! Every function here validates what JS hands it and turns [`crate::Error`] into a JS `Error`
//! with a `code` property; the logic lives in the core modules.

use js_sys::{Array, Float32Array, Reflect, Uint32Array, Uint8Array};
use wasm_bindgen::prelude::*;
use serde::Serialize;
use wasm_bindgen::JsCast;

use crate::catalog::Catalog;
use crate::context::BoardContext;
use crate::encoder::{BertEncoder, EdgeEncoder};
use crate::error::Error;
use crate::rank::Ranker;

/// A JS `Error` carrying the crate's stable error code as `code`.
fn js_error(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&err, &"code".into(), &e.code().into());
    err.into()
}

fn invalid(msg: String) -> JsValue {
    js_error(Error::InvalidInput(msg))
}

fn type_name(v: &JsValue) -> String {
    if v.is_null() {
        "null".into()
    } else if Array::is_array(v) {
        "array".into()
    } else {
        v.js_typeof().as_string().unwrap_or_default()
    }
}

/// Reads `obj[key]` as bytes; `None` when absent and `required` is false.
fn bytes_field(obj: &JsValue, key: &str, required: bool) -> Result<Option<Vec<u8>>, JsValue> {
    let v = Reflect::get(obj, &key.into()).map_err(|_| invalid(format!("cannot read {key}")))?;
    if v.is_undefined() || v.is_null() {
        return if required { Err(invalid(format!("model files: {key} is missing"))) } else { Ok(None) };
    }
    match v.dyn_ref::<Uint8Array>() {
        Some(a) => Ok(Some(a.to_vec())),
        None => Err(invalid(format!("model files: {key} must be a Uint8Array, got {}", type_name(&v)))),
    }
}

/// Reads a JS array of strings; any other element is an error naming its index.
fn strings(texts: &JsValue) -> Result<Vec<String>, JsValue> {
    let arr = texts
        .dyn_ref::<Array>()
        .ok_or_else(|| invalid(format!("texts must be an array of strings, got {}", type_name(texts))))?;
    let n = arr.length() as usize;
    if n > crate::encoder::MAX_TEXTS_PER_CALL {
        return Err(js_error(Error::LimitExceeded {
            what: "texts per call".into(),
            actual: n,
            limit: crate::encoder::MAX_TEXTS_PER_CALL,
        }));
    }
    arr.iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_string()
                .ok_or_else(|| invalid(format!("texts[{i}] must be a string, got {}", type_name(&v))))
        })
        .collect()
}

/// A sentence encoder built from a model's files, all in memory.
///
/// ```js
/// const enc = new Encoder({ config, tokenizer, weights, pooling, sentenceConfig }); // Uint8Arrays
/// const vectors = enc.embed(["a text", "another"]); // Float32Array, 2 × enc.dim
/// ```
#[wasm_bindgen(js_name = Encoder)]
pub struct JsEncoder {
    inner: Model,
}

/// The two model formats an `Encoder` can hold.
enum Model {
    F32(BertEncoder),
    Edge(EdgeEncoder),
}

impl Model {
    fn get(&self) -> &dyn crate::encoder::Encoder {
        match self {
            Model::F32(e) => e,
            Model::Edge(e) => e,
        }
    }
}

/// Bytes held in wasm memory, filled by JS chunk by chunk (a download streamed straight in), then
/// handed to `Encoder.fromEdgeBundle` or `Recommender.fromBundle`, which keep them as they are:
/// a model or catalog never exists twice in memory.
///
/// ```js
/// const bytes = new WasmBytes(Number(response.headers.get("content-length")));
/// for await (const chunk of response.body) bytes.push(chunk);
/// const enc = Encoder.fromEdgeBundle(bytes); // bytes is consumed
/// ```
#[wasm_bindgen]
pub struct WasmBytes {
    bytes: Vec<u8>,
}

/// The largest `WasmBytes` (a wasm32 memory holds at most 4 GiB, and a 128 MB Worker far less).
const MAX_WASM_BYTES: usize = 1 << 30;

#[wasm_bindgen]
impl WasmBytes {
    /// Reserves `capacity` bytes (the total that will be pushed).
    #[wasm_bindgen(constructor)]
    pub fn new(capacity: f64) -> Result<WasmBytes, JsValue> {
        if !(capacity.is_finite() && capacity >= 0.0 && capacity.fract() == 0.0) {
            return Err(invalid(format!("capacity must be a whole number of bytes, got {capacity}")));
        }
        if capacity > MAX_WASM_BYTES as f64 {
            return Err(js_error(Error::LimitExceeded {
                what: "WasmBytes capacity".into(),
                actual: capacity as usize,
                limit: MAX_WASM_BYTES,
            }));
        }
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(capacity as usize).map_err(|_| {
            js_error(Error::Inference(format!("cannot allocate {capacity} bytes of wasm memory")))
        })?;
        Ok(WasmBytes { bytes })
    }

    /// Appends a chunk; more than the capacity is an error (and nothing is appended).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsValue> {
        if self.bytes.len() + chunk.len() > self.bytes.capacity() {
            return Err(js_error(Error::LimitExceeded {
                what: "bytes pushed into WasmBytes".into(),
                actual: self.bytes.len() + chunk.len(),
                limit: self.bytes.capacity(),
            }));
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// Bytes pushed so far.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.bytes.len()
    }

    /// The capacity given to the constructor.
    #[wasm_bindgen(getter)]
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }
}

/// Bytes of wasm linear memory in use now (it grows, never shrinks).
#[wasm_bindgen(js_name = wasmMemoryBytes)]
pub fn wasm_memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) * 65536) as f64
}

/// Which instruction set this build's int8 kernels use: `"wasm-relaxed-simd"` or `"wasm-simd128"`.
#[wasm_bindgen]
pub fn isa() -> String {
    crate::encoder::edge::Isa::current().name().to_string()
}

#[wasm_bindgen(js_class = Encoder)]
impl JsEncoder {
    /// `files`: `{ config, tokenizer, weights, pooling?, sentenceConfig? }`, each a `Uint8Array`
    /// holding `config.json`, `tokenizer.json`, `model.safetensors`, `1_Pooling/config.json`
    /// and `sentence_bert_config.json`.
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_param_type = "ModelFiles")] files: JsValue) -> Result<JsEncoder, JsValue> {
        if !files.is_object() {
            return Err(invalid(format!("model files must be an object, got {}", type_name(&files))));
        }
        let config = bytes_field(&files, "config", true)?.unwrap_or_default();
        let tokenizer = bytes_field(&files, "tokenizer", true)?.unwrap_or_default();
        let pooling = bytes_field(&files, "pooling", false)?;
        let sentence_config = bytes_field(&files, "sentenceConfig", false)?;
        // The weights last, and dropped as soon as the tensors hold them: wasm memory never shrinks.
        let weights = bytes_field(&files, "weights", true)?.unwrap_or_default();
        let inner = BertEncoder::from_bytes(
            &config,
            &tokenizer,
            &weights,
            pooling.as_deref(),
            sentence_config.as_deref(),
        )
        .map_err(js_error)?;
        Ok(JsEncoder { inner: Model::F32(inner) })
    }

    /// The int8 edge model (`edgerec quantize`): its bundle file, streamed into a `WasmBytes`,
    /// which is consumed and becomes the weights.
    #[wasm_bindgen(js_name = fromEdgeBundle)]
    pub fn from_edge_bundle(bytes: WasmBytes) -> Result<JsEncoder, JsValue> {
        let inner = EdgeEncoder::from_bytes(bytes.bytes).map_err(js_error)?;
        Ok(JsEncoder { inner: Model::Edge(inner) })
    }

    /// `"f32"` (a model folder) or `"int8"` (an edge bundle).
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        match self.inner {
            Model::F32(_) => "f32".into(),
            Model::Edge(_) => "int8".into(),
        }
    }

    /// The vector length.
    #[wasm_bindgen(getter)]
    pub fn dim(&self) -> usize {
        self.inner.get().dim()
    }

    /// The model's identifier (architecture, pooling and content hash).
    #[wasm_bindgen(getter, js_name = modelId)]
    pub fn model_id(&self) -> String {
        self.inner.get().model_id().to_string()
    }

    /// The embedding space: the model id, or for an edge model the id of its f32 source.
    /// Catalogs record it, so one catalog serves both.
    #[wasm_bindgen(getter, js_name = spaceId)]
    pub fn space_id(&self) -> String {
        self.inner.get().space_id().to_string()
    }

    /// The longest input, in tokens (special tokens included); longer texts are truncated.
    #[wasm_bindgen(getter, js_name = maxSeqLength)]
    pub fn max_seq_length(&self) -> usize {
        self.inner.get().max_seq_length()
    }

    /// Embeds an array of strings: a `Float32Array` of `texts.length × dim`, rows of unit norm.
    pub fn embed(&self, #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue) -> Result<Float32Array, JsValue> {
        let texts = strings(&texts)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let v = self.inner.get().embed(&refs).map_err(js_error)?;
        Ok(Float32Array::from(v.as_slice()))
    }

    /// The token ids the model sees for one text (special tokens added, truncated).
    pub fn tokenize(&self, text: JsValue) -> Result<Uint32Array, JsValue> {
        let text = text
            .as_string()
            .ok_or_else(|| invalid(format!("text must be a string, got {}", type_name(&text))))?;
        let ids = self.inner.get().tokenize(&text).map_err(js_error)?;
        Ok(Uint32Array::from(ids.as_slice()))
    }

    /// Sets how many texts go through one forward pass (f32 models; an edge model batches by
    /// token budget and ignores this).
    #[wasm_bindgen(js_name = setBatchSize)]
    pub fn set_batch_size(&mut self, n: usize) {
        if let Model::F32(e) = &mut self.inner {
            e.set_batch_size(n);
        }
    }
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** One saved item: a catalog item (`id`) or free text, or both. */
export interface Pin {
  id?: string;
  title?: string;
  description?: string;
  tags?: string[];
  /** When it was saved (any monotonic unit); newer pins weigh more. */
  saved_at?: number;
}
/** A named collection of pins, oldest first unless `saved_at` says otherwise. */
export interface Board {
  name: string;
  pins: Pin[];
}
/** A recommendation request. */
export interface BoardContext {
  boards: Board[];
  /** The board to recommend for; the others weigh less. */
  target_board?: string;
  /** How many results, 1..500 (default 10). */
  k?: number;
  /** Catalog ids never to return. */
  exclude?: string[];
  /** 0 (pure relevance, default) to 1 (most diverse). */
  diversity?: number;
  /** Recency half-life in pins. */
  recency_half_life?: number;
}
export type Signal = "co_saved" | "similar" | "board_name" | "popular";
export interface Reason {
  signal: Signal;
  board?: string;
  pin?: string;
  text: string;
}
export interface Recommendation {
  id: string;
  title: string;
  score: number;
  reason: Reason;
}
export interface Recommendations {
  items: Recommendation[];
  /** Texts embedded on the fly for this request. */
  embedded_texts: number;
  /** Pins with an unknown id and no text (ignored). */
  unknown_pins: number;
  model_id: string;
  catalog_id: string;
}
/** The files of a sentence-transformers model folder. */
export interface ModelFiles {
  config: Uint8Array;
  tokenizer: Uint8Array;
  weights: Uint8Array;
  pooling?: Uint8Array;
  sentenceConfig?: Uint8Array;
}
/** Errors thrown by edgerec carry a stable code. */
export type ErrorCode = "invalid_model" | "invalid_tokenizer" | "invalid_catalog" | "model_mismatch"
  | "invalid_input" | "limit_exceeded" | "inference_failed";
"#;

/// A recommender: a catalog bundle, and optionally the encoder for pins that are not catalog
/// items (without one, such pins are an error; catalog pins never need it).
///
/// ```js
/// const rec = new Recommender(catalogBytes, new Encoder(files)); // the Encoder moves in
/// const { items } = rec.recommend({ boards: [{ name: "reading nook", pins: [{ id: "42" }] }] });
/// ```
#[wasm_bindgen(js_name = Recommender)]
pub struct JsRecommender {
    ranker: Ranker,
    encoder: Option<Model>,
}

#[wasm_bindgen(js_class = Recommender)]
impl JsRecommender {
    /// `catalog`: the bundle's bytes (`edgerec index`). `encoder`: an `Encoder`, moved into the
    /// recommender (the JS handle is emptied); it must be the model the catalog was built with.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] catalog: JsValue,
        encoder: Option<JsEncoder>,
    ) -> Result<JsRecommender, JsValue> {
        let bytes = catalog
            .dyn_ref::<Uint8Array>()
            .ok_or_else(|| invalid(format!("catalog must be a Uint8Array, got {}", type_name(&catalog))))?
            .to_vec();
        Self::build(bytes, encoder)
    }

    /// As the constructor, from a catalog bundle streamed into a `WasmBytes` (consumed).
    #[wasm_bindgen(js_name = fromBundle)]
    pub fn from_bundle(bytes: WasmBytes, encoder: Option<JsEncoder>) -> Result<JsRecommender, JsValue> {
        Self::build(bytes.bytes, encoder)
    }

    fn build(bytes: Vec<u8>, encoder: Option<JsEncoder>) -> Result<JsRecommender, JsValue> {
        let catalog = Catalog::from_bytes(&bytes).map_err(js_error)?;
        drop(bytes);
        let encoder = encoder.map(|e| e.inner);
        if let Some(e) = &encoder {
            catalog.check_model(e.get().space_id()).map_err(js_error)?;
        }
        Ok(JsRecommender { ranker: Ranker::new(catalog), encoder })
    }

    /// Ranks the catalog for a board context (see the TypeScript types: `BoardContext` in,
    /// `Recommendations` out).
    #[wasm_bindgen(unchecked_return_type = "Recommendations")]
    pub fn recommend(
        &self,
        #[wasm_bindgen(unchecked_param_type = "BoardContext")] context: JsValue,
    ) -> Result<JsValue, JsValue> {
        // serde-wasm-bindgen reads only the fields a struct names, so a typo such as `kk` would
        // pass silently: a first pass through serde_json::Value sees every key. The second,
        // direct pass keeps numbers exact (JSON has no NaN), so validation can name them.
        let value: serde_json::Value = serde_wasm_bindgen::from_value(context.clone())
            .map_err(|e| invalid(format!("board context: {e}")))?;
        serde_json::from_value::<BoardContext>(value).map_err(|e| invalid(format!("board context: {e}")))?;
        let ctx: BoardContext = serde_wasm_bindgen::from_value(context)
            .map_err(|e| invalid(format!("board context: {e}")))?;
        let encoder = self.encoder.as_ref().map(Model::get);
        let out = self.ranker.recommend(encoder, &ctx).map_err(js_error)?;
        out.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .map_err(|e| js_error(Error::Inference(format!("cannot encode the response: {e}"))))
    }

    /// Embeds texts with the recommender's encoder (as `Encoder.embed`).
    pub fn embed(&self, #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue) -> Result<Float32Array, JsValue> {
        let enc = self.encoder.as_ref().ok_or_else(|| invalid("this recommender has no encoder".into()))?;
        let texts = strings(&texts)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(Float32Array::from(enc.get().embed(&refs).map_err(js_error)?.as_slice()))
    }

    /// Number of catalog items.
    #[wasm_bindgen(getter)]
    pub fn items(&self) -> usize {
        self.ranker.catalog().len()
    }

    /// The catalog's content id.
    #[wasm_bindgen(getter, js_name = catalogId)]
    pub fn catalog_id(&self) -> String {
        self.ranker.catalog().catalog_id().to_string()
    }

    /// How many pins one request may have embedded on the fly (text pins that are not catalog
    /// items); more is a `limit_exceeded` error. Default 256, the most it can be set to.
    #[wasm_bindgen(getter, js_name = maxTextPins)]
    pub fn max_text_pins(&self) -> usize {
        self.ranker.max_text_pins()
    }

    /// Lowers the per-request limit of pins embedded on the fly (a Worker on a CPU budget).
    #[wasm_bindgen(setter, js_name = maxTextPins)]
    pub fn set_max_text_pins(&mut self, n: usize) {
        self.ranker.set_max_text_pins(n);
    }

    /// The encoder's own model id (an edge model's differs from its catalog's `modelId`, which
    /// names the embedding space), or `undefined` without an encoder.
    #[wasm_bindgen(getter, js_name = encoderModelId)]
    pub fn encoder_model_id(&self) -> Option<String> {
        self.encoder.as_ref().map(|e| e.get().model_id().to_string())
    }

    /// The id of the model the catalog was built with.
    #[wasm_bindgen(getter, js_name = modelId)]
    pub fn model_id(&self) -> String {
        self.ranker.catalog().header().model_id.clone()
    }
}

/// The crate version, for health checks and bug reports.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}


/// Runs once when the module is instantiated: panics (which would be bugs: every input is
/// validated) are written to the console before the instance traps, so they can be reported.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("edgerec panicked (a bug, please report): {info}").into());
    }));
}
