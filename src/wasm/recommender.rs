//! The `Recommender` class: a catalog, and optionally the encoder for free-text pins.

use js_sys::{Float32Array, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::encoder::{JsEncoder, Model};
use super::{decode, invalid, js_error, strings, type_name, WasmBytes};
use crate::catalog::Catalog;
use crate::context::BoardContext;
use crate::error::Error;
use crate::rank::{KnobsSource, Ranker};

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
        // The bytes become the catalog's storage: it never exists twice in wasm memory.
        let catalog = Catalog::from_vec(bytes).map_err(js_error)?;
        let encoder = encoder.map(|e| e.inner);
        if let Some(e) = &encoder {
            catalog.check_model(e.get().space_id()).map_err(js_error)?;
        }
        Ok(JsRecommender { ranker: Ranker::new(catalog).map_err(js_error)?, encoder })
    }

    /// Ranks the catalog for a board context (see the TypeScript types: `BoardContext` in,
    /// `Recommendations` out). The value is read with bounded depth and counted limits, so a
    /// deeply nested, cyclic or oversized one is an error before it costs memory.
    #[wasm_bindgen(unchecked_return_type = "Recommendations")]
    pub fn recommend(&self, #[wasm_bindgen(unchecked_param_type = "BoardContext")] context: JsValue) -> Result<JsValue, JsValue> {
        let ctx = BoardContext::from_value(decode::to_json(&context).map_err(js_error)?).map_err(js_error)?;
        let out = self.run(&ctx)?;
        out.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .map_err(|e| js_error(Error::Inference(format!("cannot encode the response: {e}"))))
    }

    /// As `recommend`, from and to JSON text: one parse and one serialisation, inside wasm (what
    /// a Worker holds is the request body's text).
    #[wasm_bindgen(js_name = recommendJson)]
    pub fn recommend_json(&self, #[wasm_bindgen(unchecked_param_type = "string")] text: JsValue) -> Result<String, JsValue> {
        // A JsValue, not &str: the glue would throw a TypeError (no code) for a non-string.
        let text = text
            .as_string()
            .ok_or_else(|| invalid(format!("the board context text must be a string, got {}", type_name(&text))))?;
        let ctx = BoardContext::from_json(&text).map_err(js_error)?;
        let out = self.run(&ctx)?;
        serde_json::to_string(&out).map_err(|e| js_error(Error::Inference(format!("cannot encode the response: {e}"))))
    }

    fn run(&self, ctx: &BoardContext) -> Result<crate::rank::Recommendations, JsValue> {
        let encoder = self.encoder.as_ref().map(Model::get);
        self.ranker.recommend(encoder, ctx).map_err(js_error)
    }

    /// Where the ranking's knobs came from: `"fitted"` (to this catalog, at index time) or
    /// `"defaults"`.
    #[wasm_bindgen(getter)]
    pub fn ranker(&self) -> String {
        match self.ranker.knobs_source() {
            KnobsSource::Fitted => "fitted".into(),
            KnobsSource::Defaults => "defaults".into(),
            KnobsSource::Given => "given".into(),
        }
    }

    /// Embeds texts with the recommender's encoder (as `Encoder.embed`).
    pub fn embed(&self, #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue) -> Result<Float32Array, JsValue> {
        let enc = self
            .encoder
            .as_ref()
            .ok_or_else(|| js_error(Error::EncoderUnavailable("this recommender has no encoder: embed needs one".into())))?;
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
