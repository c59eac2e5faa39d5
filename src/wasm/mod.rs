//! The JavaScript binding: wasm-bindgen types, argument decoding and error mapping only, one
//! file per exported class ([`encoder`], [`recommender`], [`bytes`], and a sharded catalog's
//! [`front`] and [`shard`]) and [`decode`] for request values.
//!
//! Every function here validates what JS hands it and turns [`crate::Error`] into a JS `Error`
//! with a `code` property; the logic lives in the core modules.

mod bytes;
mod decode;
mod encoder;
mod front;
mod recommender;
mod shard;

use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error::{Error, ERROR_CODES};

pub use bytes::WasmBytes;
pub use encoder::JsEncoder;
pub use front::{JsFront, JsFrontRequest};
pub use recommender::JsRecommender;
pub use shard::JsShard;

/// A JS `Error` carrying the crate's stable error code as `code`.
pub(crate) fn js_error(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&err, &"code".into(), &e.code().into());
    err.into()
}

pub(crate) fn invalid(msg: String) -> JsValue {
    js_error(Error::InvalidInput(msg))
}

pub(crate) fn type_name(v: &JsValue) -> String {
    if v.is_null() {
        "null".into()
    } else if Array::is_array(v) {
        "array".into()
    } else {
        v.js_typeof().as_string().unwrap_or_default()
    }
}

/// Reads `obj[key]` as bytes; `None` when absent and `required` is false.
pub(crate) fn bytes_field(obj: &JsValue, key: &str, required: bool) -> Result<Option<Vec<u8>>, JsValue> {
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
pub(crate) fn strings(texts: &JsValue) -> Result<Vec<String>, JsValue> {
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
        .map(|(i, v)| v.as_string().ok_or_else(|| invalid(format!("texts[{i}] must be a string, got {}", type_name(&v)))))
        .collect()
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

/// The request limits (board counts, pins, text field bytes, `k`), to check input against before
/// sending it.
#[wasm_bindgen(unchecked_return_type = "Limits")]
pub fn limits() -> Result<JsValue, JsValue> {
    use serde::Serialize;
    crate::context::LIMITS
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| js_error(Error::Inference(format!("cannot encode the limits: {e}"))))
}

/// Every error code the module can throw (the `code` of its errors), for bindings to check
/// their own tables against.
#[wasm_bindgen(js_name = errorCodes, unchecked_return_type = "ErrorCode[]")]
pub fn error_codes() -> Array {
    ERROR_CODES.iter().map(|c| JsValue::from_str(c)).collect()
}

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** The files of a sentence-transformers model folder. */
export interface ModelFiles {
  config: Uint8Array;
  tokenizer: Uint8Array;
  weights: Uint8Array;
  pooling?: Uint8Array;
  sentenceConfig?: Uint8Array;
}
/** Errors thrown by edgerec carry a stable code (`errorCodes()` lists them; `io`,
 * `invalid_checkpoint`, `output_exists` and `gate_refused` are native only). */
export type ErrorCode = "invalid_model" | "invalid_tokenizer" | "invalid_input" | "limit_exceeded"
  | "invalid_catalog" | "model_mismatch" | "io" | "inference_failed" | "encoder_unavailable"
  | "resource_exhausted" | "invalid_checkpoint" | "output_exists" | "gate_refused";
"#;

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
