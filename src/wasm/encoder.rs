//! The `Encoder` class: a sentence encoder from a model's files or an edge bundle.

use js_sys::{Array, Float32Array, Float64Array, Function, Reflect, Uint32Array};
use wasm_bindgen::prelude::*;

use super::{bytes_field, invalid, js_error, strings, type_name, WasmBytes};
use crate::encoder::edge::STAGES;
use crate::encoder::{BertEncoder, EdgeEncoder, LiteEncoder};

/// A sentence encoder built from a model's files, all in memory.
///
/// ```js
/// const enc = new Encoder({ config, tokenizer, weights, pooling, sentenceConfig }); // Uint8Arrays
/// const vectors = enc.embed(["a text", "another"]); // Float32Array, 2 × enc.dim
/// ```
#[wasm_bindgen(js_name = Encoder)]
pub struct JsEncoder {
    pub(crate) inner: Model,
}

/// The model formats an `Encoder` can hold.
pub(crate) enum Model {
    F32(BertEncoder),
    Edge(EdgeEncoder),
    Lite(LiteEncoder),
}

impl Model {
    pub(crate) fn get(&self) -> &dyn crate::encoder::Encoder {
        match self {
            Model::F32(e) => e,
            Model::Edge(e) => e,
            Model::Lite(e) => e,
        }
    }
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
        let inner = BertEncoder::from_bytes(&config, &tokenizer, &weights, pooling.as_deref(), sentence_config.as_deref())
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

    /// The lite model (`edgerec distill`): its bundle file, streamed into a `WasmBytes`, which is
    /// consumed and becomes the model. An int8 edge bundle here is an `invalid_model` error that
    /// says so.
    #[wasm_bindgen(js_name = fromLiteBundle)]
    pub fn from_lite_bundle(bytes: WasmBytes) -> Result<JsEncoder, JsValue> {
        let inner = LiteEncoder::from_bytes(bytes.bytes).map_err(js_error)?;
        Ok(JsEncoder { inner: Model::Lite(inner) })
    }

    /// Either model bundle, by its magic bytes: the int8 edge model or the lite model (what a
    /// manifest's `model` entry holds). Anything else is an `invalid_model` error.
    #[wasm_bindgen(js_name = fromBundle)]
    pub fn from_bundle(bytes: WasmBytes) -> Result<JsEncoder, JsValue> {
        let inner = match crate::bundle::Kind::of(&bytes.bytes) {
            Some(crate::bundle::Kind::Lite) => Model::Lite(LiteEncoder::from_bytes(bytes.bytes).map_err(js_error)?),
            _ => Model::Edge(EdgeEncoder::from_bytes(bytes.bytes).map_err(js_error)?),
        };
        Ok(JsEncoder { inner })
    }

    /// `"f32"` (a model folder), `"int8"` (an edge bundle) or `"lite"` (a lite bundle).
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        match self.inner {
            Model::F32(_) => "f32".into(),
            Model::Edge(_) => "int8".into(),
            Model::Lite(_) => "lite".into(),
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

    /// Embeds `texts` as [`JsEncoder::embed`] does and returns where the time went instead:
    /// milliseconds per stage, in [`JsEncoder::stage_names`] order, read from
    /// `globalThis.performance.now()` (an edge model only; for benchmarks).
    #[wasm_bindgen(js_name = stageTimes)]
    pub fn stage_times(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue,
    ) -> Result<Float64Array, JsValue> {
        let Model::Edge(e) = &self.inner else {
            return Err(invalid("stage times are measured for an edge model (Encoder.fromEdgeBundle)".into()));
        };
        let texts = strings(&texts)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let no_clock = || invalid("stage times need globalThis.performance.now()".into());
        let perf = Reflect::get(&js_sys::global(), &"performance".into()).map_err(|_| no_clock())?;
        let now: Function = Reflect::get(&perf, &"now".into()).ok().and_then(|f| f.dyn_into().ok()).ok_or_else(no_clock)?;
        let clock = || now.call0(&perf).ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
        let (_, spent) = e.embed_timed(&refs, &clock).map_err(js_error)?;
        Ok(Float64Array::from(&spent[..]))
    }

    /// The stages [`JsEncoder::stage_times`] reports, in its order.
    #[wasm_bindgen(js_name = stageNames)]
    pub fn stage_names() -> Array {
        STAGES.iter().map(|s| JsValue::from_str(s)).collect()
    }

    /// The token ids the model sees for one text (special tokens added, truncated).
    pub fn tokenize(&self, text: JsValue) -> Result<Uint32Array, JsValue> {
        let text = text.as_string().ok_or_else(|| invalid(format!("text must be a string, got {}", type_name(&text))))?;
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
