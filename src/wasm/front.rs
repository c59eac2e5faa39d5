//! The `Front` class (a sharded catalog's front) and `FrontRequest` (one request between its
//! steps: the caller carries the messages to the shards and back).

use std::rc::Rc;

use js_sys::{Array, Float32Array, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::encoder::{JsEncoder, Model};
use super::{decode as decode_value, invalid, js_error, strings, type_name, WasmBytes};
use crate::catalog::shard::Front;
use crate::catalog::ShardInfo;
use crate::context::BoardContext;
use crate::error::Error;
use crate::rank::fanout::{decode, encode, Candidates, LookupReply, More, MoreReply};
use crate::rank::front::{self, Pending, SetFront};
use crate::rank::KnobsSource;

/// The front of a sharded catalog (`edgerec index --shards`): it holds what a request needs of
/// the whole catalog (ids, the shards' ranges, the fitted knobs) and the model for text pins;
/// the shards hold the items.
///
/// ```js
/// const front = Front.fromBundle(frontBytes, encoder);   // the Encoder moves in; optional
/// const req = front.begin(context);                      // a board context
/// const lookups = await ask(shards, "lookup", req.lookup());   // one reply per shard (null: failed)
/// const candidates = await ask(shards, "candidates", req.query(lookups));
/// let asks = req.pick(candidates);                    // per shard: a message, or null (usually all null)
/// while (asks.some((m) => m !== null)) asks = req.more(await askSome(shards, "more", asks));
/// const { items } = JSON.parse(req.finish());
/// ```
#[wasm_bindgen(js_name = Front)]
pub struct JsFront {
    front: Rc<SetFront>,
    encoder: Option<Model>,
}

/// A request between a front's steps. Each step consumes the shards' replies to the previous
/// one; a reply that is `null` or `undefined` is a shard that failed (the answer is then partial:
/// without its items).
#[wasm_bindgen(js_name = FrontRequest)]
pub struct JsFrontRequest {
    front: Rc<SetFront>,
    pending: Option<Pending>,
    lookup: Vec<u8>,
    /// Steps done: 0 begun, 1 queried, 2 picked, then one more per `more` round (finish takes it).
    step: u8,
}

/// The replies a step takes: an array with one `Uint8Array` (or null) per shard.
fn replies<T: for<'a> serde::Deserialize<'a>>(v: &JsValue, shards: usize, what: &str) -> Result<Vec<T>, JsValue> {
    let arr = v.dyn_ref::<Array>().ok_or_else(|| invalid(format!("{what}: an array of replies, got {}", type_name(v))))?;
    if arr.length() as usize != shards {
        return Err(invalid(format!("{what}: {} replies for {shards} shards", arr.length())));
    }
    let mut out = Vec::new();
    for (i, r) in arr.iter().enumerate() {
        if r.is_null() || r.is_undefined() {
            continue; // a shard that failed
        }
        let bytes = r
            .dyn_ref::<Uint8Array>()
            .ok_or_else(|| invalid(format!("{what}[{i}] must be a Uint8Array or null, got {}", type_name(&r))))?
            .to_vec();
        out.push(decode(&bytes, &format!("{what}[{i}]")).map_err(js_error)?);
    }
    Ok(out)
}

/// Step 3's messages for JS: one `Uint8Array` or `null` per shard.
fn messages(asks: Vec<Option<More>>) -> Array {
    asks.iter().map(|m| m.as_ref().map_or(JsValue::NULL, |m| Uint8Array::from(encode(m).as_slice()).into())).collect()
}

fn step_done() -> JsValue {
    invalid("this request's steps ran out of order (begin, lookup, query, pick, more while it asks, finish)".into())
}

#[wasm_bindgen(js_class = Front)]
impl JsFront {
    /// A front file streamed into a `WasmBytes` (consumed), and optionally the encoder for text
    /// pins (moved in; it must be the model the catalog was embedded with).
    #[wasm_bindgen(js_name = fromBundle)]
    pub fn from_bundle(bytes: WasmBytes, encoder: Option<JsEncoder>) -> Result<JsFront, JsValue> {
        let front = SetFront::new(Front::from_vec(bytes.bytes).map_err(js_error)?).map_err(js_error)?;
        let encoder = encoder.map(|e| e.inner);
        if let Some(e) = &encoder {
            front.whole().check_model(e.get().space_id()).map_err(js_error)?;
        }
        Ok(JsFront { front: Rc::new(front), encoder })
    }

    /// Shards in the set.
    #[wasm_bindgen(getter)]
    pub fn shards(&self) -> usize {
        self.front.front().header().shards.len()
    }

    /// Items in the whole catalog.
    #[wasm_bindgen(getter)]
    pub fn items(&self) -> usize {
        self.front.front().header().items
    }

    /// The whole catalog's content id (what every shard of the set carries).
    #[wasm_bindgen(getter, js_name = catalogId)]
    pub fn catalog_id(&self) -> String {
        self.front.front().header().set.clone()
    }

    /// The model the catalog was embedded with.
    #[wasm_bindgen(getter, js_name = modelId)]
    pub fn model_id(&self) -> String {
        self.front.front().header().model_id.clone()
    }

    /// The encoder's own model id, or `undefined` without one.
    #[wasm_bindgen(getter, js_name = encoderModelId)]
    pub fn encoder_model_id(&self) -> Option<String> {
        self.encoder.as_ref().map(|e| e.get().model_id().to_string())
    }

    /// `"fitted"` or `"defaults"`: where the ranking's knobs came from.
    #[wasm_bindgen(getter)]
    pub fn ranker(&self) -> String {
        match self.front.knobs().1 {
            KnobsSource::Fitted => "fitted".into(),
            _ => "defaults".into(),
        }
    }

    /// How many pins one request may have embedded on the fly.
    #[wasm_bindgen(getter, js_name = maxTextPins)]
    pub fn max_text_pins(&self) -> usize {
        self.front.max_text_pins()
    }

    /// Lowers it (a Worker on a CPU budget).
    #[wasm_bindgen(setter, js_name = maxTextPins)]
    pub fn set_max_text_pins(&mut self, n: usize) {
        match Rc::get_mut(&mut self.front) {
            Some(f) => f.set_max_text_pins(n),
            None => {
                // A request still holds the front: take a copy of it with the new limit.
                let mut f = SetFront::new(self.front.front().clone()).expect("a loaded front loads");
                f.set_max_text_pins(n);
                self.front = Rc::new(f);
            }
        }
    }

    /// Checks that a shard (its `Shard.describe()`) is shard `index` of this set: a missing,
    /// foreign or misplaced one is an `invalid_catalog` error.
    #[wasm_bindgen(js_name = checkShard)]
    pub fn check_shard(
        &self,
        index: usize,
        #[wasm_bindgen(unchecked_param_type = "ShardDescription")] description: JsValue,
    ) -> Result<(), JsValue> {
        #[derive(serde::Deserialize)]
        struct Described {
            set: String,
            index: usize,
            count: usize,
            start: usize,
            catalog_id: String,
            /// Absent from shards built before protocols were named: they speak none of ours.
            #[serde(default)]
            protocol: u32,
        }
        let d: Described = serde_wasm_bindgen::from_value(description)
            .map_err(|e| js_error(Error::InvalidCatalog(format!("shard {index}: not a shard's description ({e})"))))?;
        self.front.front().check_protocol(index, d.protocol).map_err(js_error)?;
        let info =
            ShardInfo { index: d.index, count: d.count, set: d.set, start: d.start, rows: self.items(), prior: (0.0, 0.0) };
        self.front.front().check_shard(index, &info, &d.catalog_id).map_err(js_error)
    }

    /// Starts a request: validates the board context, resolves its pins and embeds its text
    /// pins. Its `lookup()` is the first message to every shard.
    pub fn begin(
        &self,
        #[wasm_bindgen(unchecked_param_type = "BoardContext")] context: JsValue,
    ) -> Result<JsFrontRequest, JsValue> {
        let ctx = BoardContext::from_value(decode_value::to_json(&context).map_err(js_error)?).map_err(js_error)?;
        self.start(&ctx)
    }

    /// As `begin`, from the board context's JSON text.
    #[wasm_bindgen(js_name = beginJson)]
    pub fn begin_json(&self, #[wasm_bindgen(unchecked_param_type = "string")] text: JsValue) -> Result<JsFrontRequest, JsValue> {
        let text = text
            .as_string()
            .ok_or_else(|| invalid(format!("the board context text must be a string, got {}", type_name(&text))))?;
        self.start(&BoardContext::from_json(&text).map_err(js_error)?)
    }

    fn start(&self, ctx: &BoardContext) -> Result<JsFrontRequest, JsValue> {
        let encoder = self.encoder.as_ref().map(Model::get);
        let (pending, lookup) = self.front.begin(encoder, ctx).map_err(js_error)?;
        Ok(JsFrontRequest { front: Rc::clone(&self.front), pending: Some(pending), lookup: encode(&lookup), step: 0 })
    }

    /// Embeds texts with the front's encoder (as `Encoder.embed`).
    pub fn embed(&self, #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue) -> Result<Float32Array, JsValue> {
        let enc = self
            .encoder
            .as_ref()
            .ok_or_else(|| js_error(Error::EncoderUnavailable("this front has no encoder: embed needs one".into())))?;
        let texts = strings(&texts)?;
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(Float32Array::from(enc.get().embed(&refs).map_err(js_error)?.as_slice()))
    }
}

#[wasm_bindgen(js_class = FrontRequest)]
impl JsFrontRequest {
    /// Texts embedded on the fly for this request.
    #[wasm_bindgen(getter, js_name = embeddedTexts)]
    pub fn embedded_texts(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| p.profile().embedded_texts)
    }

    /// Step 1's message, the same to every shard.
    pub fn lookup(&self) -> Uint8Array {
        Uint8Array::from(self.lookup.as_slice())
    }

    /// Step 2: takes every shard's reply to the lookup; returns the query, the same to every shard.
    pub fn query(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "(Uint8Array | null)[]")] lookups: JsValue,
    ) -> Result<Uint8Array, JsValue> {
        let shards = self.front.front().header().shards.len();
        let lookups: Vec<LookupReply> = replies(&lookups, shards, "lookup replies")?;
        let pending = self.pending.as_mut().filter(|_| self.step == 0).ok_or_else(step_done)?;
        let q = front::query(self.front.whole(), pending, lookups).map_err(js_error)?;
        self.step = 1;
        Ok(Uint8Array::from(encode(&q).as_slice()))
    }

    /// Step 3: takes every shard's candidates; returns one message per shard for what it has to
    /// send still, for its `more` step (`null` where nothing: then that shard is not asked;
    /// usually every one is `null`, and `finish` follows at once).
    pub fn pick(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "(Uint8Array | null)[]")] candidates: JsValue,
    ) -> Result<Array, JsValue> {
        let shards = self.front.front().header().shards.len();
        let candidates: Vec<Candidates> = replies(&candidates, shards, "candidate replies")?;
        let pending = self.pending.as_mut().filter(|_| self.step == 1).ok_or_else(step_done)?;
        let ask = front::pick(pending, candidates);
        self.step = 2;
        Ok(messages(self.front.asks(pending, &ask)))
    }

    /// Takes the shards' answers to the last messages (`null` for those not asked, or failed);
    /// returns the next messages, as `pick` does: every one `null` once nothing is asked (at
    /// most two rounds).
    pub fn more(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "(Uint8Array | null)[]")] more: JsValue,
    ) -> Result<Array, JsValue> {
        let shards = self.front.front().header().shards.len();
        let more: Vec<MoreReply> = replies(&more, shards, "more replies")?;
        let pending = self.pending.as_mut().filter(|_| (2..4).contains(&self.step)).ok_or_else(step_done)?;
        let ask = front::more(pending, more);
        self.step += 1;
        Ok(messages(self.front.asks(pending, &ask)))
    }

    /// Step 4: returns the recommendations as JSON text (the `Recommendations` shape).
    pub fn finish(&mut self) -> Result<String, JsValue> {
        if self.step < 2 {
            return Err(step_done());
        }
        let pending = self.pending.take().ok_or_else(step_done)?;
        let out = front::finish(self.front.whole(), pending);
        serde_json::to_string(&out).map_err(|e| js_error(Error::Inference(format!("cannot encode the response: {e}"))))
    }
}
