//! `WasmBytes`: a buffer in wasm memory that JS streams a download into.

use wasm_bindgen::prelude::*;

use super::{invalid, js_error};
use crate::error::Error;

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
    pub(crate) bytes: Vec<u8>,
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
        bytes
            .try_reserve_exact(capacity as usize)
            .map_err(|_| js_error(Error::ResourceExhausted(format!("cannot allocate {capacity} bytes of wasm memory"))))?;
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
