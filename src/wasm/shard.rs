//! The `Shard` class: one shard of a sharded catalog, answering its front's messages.

use js_sys::Uint8Array;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::{invalid, js_error, type_name, WasmBytes};
use crate::catalog::Catalog;
use crate::error::Error;
use crate::rank::fanout::{decode, encode, Lookup, More, Query, Shard};

/// One shard of a sharded catalog (`edgerec index --shards`): its front sends it two messages
/// per request, and now and then one or two `more` (bytes in, bytes out: see `rank::fanout`).
///
/// ```js
/// const shard = Shard.fromBundle(bytes);   // a shard bundle streamed into WasmBytes
/// const reply = shard.lookup(message);     // Uint8Array in, Uint8Array out
/// ```
#[wasm_bindgen(js_name = Shard)]
pub struct JsShard {
    shard: Shard,
}

/// What a shard says about itself (its front checks it: `Front.checkShard`).
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Serialize)]
pub struct ShardDescription {
    /// The whole catalog's content id, which every shard and the front of a set carry.
    pub set: String,
    /// This shard's number, from 0.
    pub index: usize,
    /// Shards in the set.
    pub count: usize,
    /// The whole catalog's index of its first item.
    pub start: usize,
    /// Its items.
    pub items: usize,
    /// Its bundle's content id.
    pub catalog_id: String,
    /// The messages' layout it speaks (`rank::fanout::PROTOCOL`).
    pub protocol: u32,
}

fn message(v: &JsValue, what: &str) -> Result<Vec<u8>, JsValue> {
    v.dyn_ref::<Uint8Array>()
        .map(Uint8Array::to_vec)
        .ok_or_else(|| invalid(format!("{what} must be a Uint8Array, got {}", type_name(v))))
}

#[wasm_bindgen(js_class = Shard)]
impl JsShard {
    /// A shard bundle streamed into a `WasmBytes` (consumed: it becomes the catalog's storage).
    /// A whole catalog, or any other file, is an `invalid_catalog` error.
    #[wasm_bindgen(js_name = fromBundle)]
    pub fn from_bundle(bytes: WasmBytes) -> Result<JsShard, JsValue> {
        let catalog = Catalog::from_vec(bytes.bytes).map_err(js_error)?;
        if catalog.shard().is_none() {
            return Err(js_error(Error::InvalidCatalog("a whole catalog, not a shard: serve it with Recommender".into())));
        }
        Ok(JsShard { shard: Shard::new(catalog) })
    }

    /// What the shard is, for its front to check.
    #[wasm_bindgen(unchecked_return_type = "ShardDescription")]
    pub fn describe(&self) -> Result<JsValue, JsValue> {
        let c = self.shard.catalog();
        let s = c.shard().expect("checked at load");
        let d = ShardDescription {
            set: s.set.clone(),
            index: s.index,
            count: s.count,
            start: s.start,
            items: c.len(),
            catalog_id: c.catalog_id().to_string(),
            protocol: crate::rank::fanout::PROTOCOL,
        };
        d.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .map_err(|e| js_error(Error::Inference(format!("cannot encode the description: {e}"))))
    }

    /// Step 1 of a request: the pins' vectors and the signals' sums over this shard.
    pub fn lookup(&self, message_bytes: JsValue) -> Result<Uint8Array, JsValue> {
        let q: Lookup = decode(&message(&message_bytes, "the lookup")?, "lookup").map_err(js_error)?;
        let reply = self.shard.lookup(&q).map_err(js_error)?;
        Ok(Uint8Array::from(encode(&reply).as_slice()))
    }

    /// Step 2: this shard's candidates, and the vector codes of those the front may pick.
    pub fn candidates(&self, message_bytes: JsValue) -> Result<Uint8Array, JsValue> {
        let q: Query = decode(&message(&message_bytes, "the query")?, "query").map_err(js_error)?;
        let reply = self.shard.candidates(&q).map_err(js_error)?;
        Ok(Uint8Array::from(encode(&reply).as_slice()))
    }

    /// Step 3 (now and then): the features and vector codes of the asked items this shard owns.
    pub fn more(&self, message_bytes: JsValue) -> Result<Uint8Array, JsValue> {
        let m: More = decode(&message(&message_bytes, "the more request")?, "more request").map_err(js_error)?;
        let reply = self.shard.more(&m).map_err(js_error)?;
        Ok(Uint8Array::from(encode(&reply).as_slice()))
    }
}
