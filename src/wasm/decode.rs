//! A request's JS value → `serde_json::Value`, with bounded depth and counted limits, before any
//! of it is deserialised.
//!
//! A value nested a few thousand levels deep, converted recursively, overflows the 1 MiB wasm
//! stack and leaves the instance corrupt (every later call traps); a cyclic object never ends;
//! a 100k-pin request grows linear memory by tens of MB before a limit refuses it, and linear
//! memory never shrinks. So this walk stops at [`MAX_DEPTH`] levels (a cycle is too deep too),
//! refuses arrays and strings over the request limits by their JS length before copying them, and
//! counts every value against [`MAX_VALUES`].

use js_sys::{Array, JsString, Object, Reflect};
use serde_json::{Map, Number, Value};
use wasm_bindgen::{JsCast, JsValue};

use crate::context::{MAX_BOARDS, MAX_EXCLUDE, MAX_FIELD_BYTES, MAX_PINS_PER_BOARD, MAX_PINS_TOTAL, MAX_TAGS_PER_PIN};
use crate::error::{Error, Result};

/// Deepest nesting read: a board context is 5 levels deep (context, boards, board, pins, pin,
/// tags); anything deeper is not one.
pub const MAX_DEPTH: usize = 16;
/// Most values (objects, arrays, strings, numbers, ...) read from one request: well above the
/// largest valid request's ~100k values (20,000 pins with an id and a few fields each).
pub const MAX_VALUES: usize = 400_000;
/// Most keys of one object (the largest request object has 7 fields).
const MAX_KEYS: usize = 64;

/// One step of the path to a value (spelled out only for an error).
enum Step {
    Key(String),
    Index(usize),
}

struct Walk {
    values: usize,
    pins: usize,
    path: Vec<Step>,
}

impl Walk {
    fn at(&self) -> String {
        let mut s = String::new();
        for p in &self.path {
            match p {
                Step::Index(i) => s.push_str(&format!("[{i}]")),
                Step::Key(k) if s.is_empty() => s.push_str(k),
                Step::Key(k) => {
                    s.push('.');
                    s.push_str(k);
                }
            }
        }
        if s.is_empty() {
            "the board context".into()
        } else {
            s
        }
    }

    fn invalid(&self, what: &str) -> Error {
        Error::InvalidInput(format!("board context: {} {what}", self.at()))
    }

    fn value(&mut self, v: &JsValue) -> Result<Value> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(Error::LimitExceeded {
                what: "values in the board context".into(),
                actual: self.values,
                limit: MAX_VALUES,
            });
        }
        if self.path.len() > MAX_DEPTH {
            return Err(self.invalid(&format!("is nested more than {MAX_DEPTH} levels deep (or is cyclic)")));
        }
        // The commonest first (ids and titles, then pins): each check is a call into JS.
        if let Some(s) = v.dyn_ref::<JsString>() {
            // UTF-16 units never outnumber UTF-8 bytes: over the limit here is over it for sure.
            let units = s.length() as usize;
            if units > MAX_FIELD_BYTES {
                return Err(Error::LimitExceeded {
                    what: format!("{} length in bytes", self.at()),
                    actual: units,
                    limit: MAX_FIELD_BYTES,
                });
            }
            return Ok(Value::String(String::from(s)));
        }
        if Array::is_array(v) {
            let a: &Array = v.unchecked_ref();
            let len = a.length() as usize;
            let key = match self.path.last() {
                Some(Step::Key(k)) => k.as_str(),
                _ => "",
            };
            let limit = match key {
                "boards" => MAX_BOARDS,
                "pins" => MAX_PINS_PER_BOARD,
                "tags" => MAX_TAGS_PER_PIN,
                "exclude" => MAX_EXCLUDE,
                _ => MAX_PINS_TOTAL,
            };
            if len > limit {
                return Err(Error::LimitExceeded { what: self.at(), actual: len, limit });
            }
            if key == "pins" {
                self.pins += len;
                if self.pins > MAX_PINS_TOTAL {
                    return Err(Error::LimitExceeded {
                        what: "pins over all boards".into(),
                        actual: self.pins,
                        limit: MAX_PINS_TOTAL,
                    });
                }
            }
            let mut out = Vec::with_capacity(len);
            for i in 0..len {
                self.path.push(Step::Index(i));
                let x = self.value(&a.get(i as u32));
                self.path.pop();
                out.push(x?);
            }
            return Ok(Value::Array(out));
        }
        // `is_object`: typeof "object" and not null.
        if v.is_object() && !js_sys::ArrayBuffer::is_view(v) {
            let keys = Object::keys(v.unchecked_ref::<Object>());
            let n = keys.length() as usize;
            if n > MAX_KEYS {
                return Err(self.invalid(&format!("has {n} fields; a request object has at most {MAX_KEYS}")));
            }
            let mut out = Map::new();
            for key in keys.iter() {
                let k = key.as_string().unwrap_or_default();
                // A getter or a proxy may throw: that is the caller's value being unreadable.
                let x = Reflect::get(v, &key).map_err(|_| self.invalid(&format!("field {k:?} cannot be read")))?;
                if x.is_undefined() {
                    continue; // as JSON.stringify does
                }
                self.path.push(Step::Key(k));
                let x = self.value(&x);
                let k = match self.path.pop() {
                    Some(Step::Key(k)) => k,
                    _ => String::new(), // never: the key pushed just above
                };
                out.insert(k, x?);
            }
            return Ok(Value::Object(out));
        }
        if v.is_null() || v.is_undefined() {
            return Ok(Value::Null);
        }
        if let Some(b) = v.as_bool() {
            return Ok(Value::Bool(b));
        }
        if let Some(x) = v.as_f64() {
            // JS has one number type; a whole number must read as an integer (`k: 5`).
            if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
                return Ok(Value::Number(Number::from(x as i64)));
            }
            return Number::from_f64(x).map(Value::Number).ok_or_else(|| self.invalid("must be a finite number"));
        }
        Err(self.invalid(&format!("is a {}, which a board context cannot hold", super::type_name(v))))
    }
}

/// Reads a JS value as JSON, within the limits above.
pub fn to_json(v: &JsValue) -> Result<Value> {
    Walk { values: 0, pins: 0, path: Vec::new() }.value(v)
}
