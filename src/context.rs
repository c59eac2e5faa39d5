//! The request: a user's boards (a name plus pins), which board to recommend for, and knobs.
//!
//! Shared by the CLI, the wasm layer and the Worker (deserialised with serde), and validated here
//! once, so every limit has one name and one number. The counted limits (boards, pins, tags,
//! exclude) are enforced while decoding, so an oversized request is refused before it is built.

use std::cell::RefCell;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Most boards in one request.
pub const MAX_BOARDS: usize = 1_000;
/// Most pins on one board.
pub const MAX_PINS_PER_BOARD: usize = 5_000;
/// Most pins over all boards of one request.
pub const MAX_PINS_TOTAL: usize = 20_000;
/// Most pins without a known catalog id (each needs an encoder pass) in one request.
pub const MAX_TEXT_PINS: usize = 256;
/// Longest board name, pin title, description or tag, in UTF-8 bytes.
pub const MAX_FIELD_BYTES: usize = 4_096;
/// Most tags on one pin.
pub const MAX_TAGS_PER_PIN: usize = 64;
/// Most ids in `exclude`.
pub const MAX_EXCLUDE: usize = 10_000;
/// Largest `k`.
pub const MAX_K: usize = 500;

/// Every limit of a request in one value, for bindings to check input before sending it (a page
/// can refuse an over-long text as the user types it rather than fail every later request).
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// [`MAX_BOARDS`].
    pub boards: usize,
    /// [`MAX_PINS_PER_BOARD`].
    pub pins_per_board: usize,
    /// [`MAX_PINS_TOTAL`].
    pub pins_total: usize,
    /// [`MAX_TEXT_PINS`] (a deployment may set its recommender's lower).
    pub text_pins: usize,
    /// [`MAX_FIELD_BYTES`]: a board name, pin title, description or tag, in UTF-8 bytes.
    pub field_bytes: usize,
    /// [`MAX_TAGS_PER_PIN`].
    pub tags_per_pin: usize,
    /// [`MAX_EXCLUDE`].
    pub exclude: usize,
    /// [`MAX_K`].
    pub k: usize,
}

/// The request limits.
pub const LIMITS: Limits = Limits {
    boards: MAX_BOARDS,
    pins_per_board: MAX_PINS_PER_BOARD,
    pins_total: MAX_PINS_TOTAL,
    text_pins: MAX_TEXT_PINS,
    field_bytes: MAX_FIELD_BYTES,
    tags_per_pin: MAX_TAGS_PER_PIN,
    exclude: MAX_EXCLUDE,
    k: MAX_K,
};

/// One saved item: a catalog item (`id`) or free text (title, description, tags), or both.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// The catalog id, when the pin is a catalog item.
    #[serde(default)]
    pub id: Option<String>,
    /// Free-text title.
    #[serde(default)]
    pub title: Option<String>,
    /// Free-text description.
    #[serde(default)]
    pub description: Option<String>,
    /// Free-text tags.
    #[serde(default, deserialize_with = "tags")]
    pub tags: Vec<String>,
    /// When the pin was saved (any monotonic unit, e.g. Unix seconds); newer pins weigh more.
    /// Without it, a board's pins are taken to be in the order they were saved.
    #[serde(default)]
    pub saved_at: Option<f64>,
}

/// A named collection of pins.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// The board's name as the user typed it.
    #[serde(default)]
    pub name: String,
    /// Its pins, oldest first unless `saved_at` says otherwise.
    #[serde(default, deserialize_with = "pins")]
    pub pins: Vec<Pin>,
}

/// A recommendation request.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BoardContext {
    /// The user's boards (names unique).
    #[serde(deserialize_with = "boards")]
    pub boards: Vec<Board>,
    /// The name of the board to recommend for; the other boards weigh less. Without it, all
    /// boards weigh the same.
    #[serde(default)]
    pub target_board: Option<String>,
    /// How many results, 1..=500 (default 10).
    #[serde(default)]
    pub k: Option<usize>,
    /// Catalog ids never to return (pins already saved are never returned anyway).
    #[serde(default, deserialize_with = "exclude")]
    pub exclude: Vec<String>,
    /// 0 (pure relevance, the default) to 1 (most diverse): the MMR trade-off.
    #[serde(default)]
    pub diversity: Option<f32>,
    /// Recency half-life in pins: a pin this many saves older weighs half as much.
    /// Default: the tuned value (see `rank::Knobs`).
    #[serde(default)]
    pub recency_half_life: Option<f32>,
}

thread_local! {
    /// The typed error a decoding limit raised (serde errors are only text).
    static DECODE_LIMIT: RefCell<Option<Error>> = const { RefCell::new(None) };
}

/// Checked after each element of a [`Bounded`] sequence: `(actual, limit, what)` when over.
type After<T> = fn(&T, &mut usize) -> Option<(usize, usize, &'static str)>;

/// A sequence of at most `max` elements, refused at element `max + 1` (before decoding it).
struct Bounded<T> {
    what: &'static str,
    max: usize,
    /// Checked after each element (the boards' running pin total).
    each: After<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Bounded<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "an array of at most {} {}", self.max, self.what)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Vec<T>, A::Error> {
        let mut out = Vec::new();
        let mut running = 0;
        loop {
            if out.len() == self.max {
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(over(self.what.to_string(), self.max + 1, self.max));
                }
                return Ok(out);
            }
            let Some(x) = seq.next_element::<T>()? else { return Ok(out) };
            if let Some((actual, limit, what)) = (self.each)(&x, &mut running) {
                return Err(over(what.to_string(), actual, limit));
            }
            out.push(x);
        }
    }
}

/// Stashes a limit error for [`BoardContext::from_json`] and returns its serde form.
fn over<E: de::Error>(what: String, actual: usize, limit: usize) -> E {
    let e = Error::LimitExceeded { what: format!("{what} (at least)"), actual, limit };
    let msg = e.to_string();
    DECODE_LIMIT.with(|d| *d.borrow_mut() = Some(e));
    E::custom(msg)
}

fn bounded<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    what: &'static str,
    max: usize,
) -> std::result::Result<Vec<T>, D::Error> {
    d.deserialize_seq(Bounded { what, max, each: |_, _| None })
}

fn tags<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    bounded(d, "tags of a pin", MAX_TAGS_PER_PIN)
}

fn pins<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<Pin>, D::Error> {
    bounded(d, "pins of a board", MAX_PINS_PER_BOARD)
}

fn exclude<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    bounded(d, "exclude", MAX_EXCLUDE)
}

fn boards<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<Board>, D::Error> {
    d.deserialize_seq(Bounded {
        what: "boards",
        max: MAX_BOARDS,
        each: |b: &Board, total| {
            *total += b.pins.len();
            (*total > MAX_PINS_TOTAL).then_some((*total, MAX_PINS_TOTAL, "pins over all boards"))
        },
    })
}

fn limit(what: String, actual: usize, limit: usize) -> Result<()> {
    if actual > limit {
        return Err(Error::LimitExceeded { what, actual, limit });
    }
    Ok(())
}

fn field(what: impl Fn() -> String, s: &str) -> Result<()> {
    limit(what(), s.len(), MAX_FIELD_BYTES)
}

impl Pin {
    /// True when the pin carries some text to embed.
    pub fn has_text(&self) -> bool {
        self.title.as_deref().is_some_and(|t| !t.trim().is_empty())
            || self.description.as_deref().is_some_and(|t| !t.trim().is_empty())
            || self.tags.iter().any(|t| !t.trim().is_empty())
    }
}

impl BoardContext {
    /// Decodes a request from JSON text, refusing counted limits while decoding (a
    /// `limit_exceeded` error naming the limit); any other defect is `invalid_input`.
    pub fn from_json(text: &str) -> Result<Self> {
        Self::decode(|| serde_json::from_str(text))
    }

    /// [`Self::from_json`] for a parsed JSON value.
    pub fn from_value(value: serde_json::Value) -> Result<Self> {
        Self::decode(|| serde_json::from_value(value))
    }

    fn decode(f: impl FnOnce() -> serde_json::Result<Self>) -> Result<Self> {
        DECODE_LIMIT.with(|d| d.borrow_mut().take());
        f().map_err(|e| {
            DECODE_LIMIT.with(|d| d.borrow_mut().take()).unwrap_or_else(|| {
                let why = if e.is_syntax() || e.is_eof() { "board context is not valid JSON" } else { "board context" };
                Error::InvalidInput(format!("{why}: {e}"))
            })
        })
    }

    /// Checks every limit and value; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        if self.boards.is_empty() {
            return Err(Error::InvalidInput("boards is empty: send at least one board".into()));
        }
        limit("boards".into(), self.boards.len(), MAX_BOARDS)?;
        let mut total = 0;
        let mut names = std::collections::HashSet::new();
        for (b, board) in self.boards.iter().enumerate() {
            field(|| format!("boards[{b}].name length in bytes"), &board.name)?;
            if !names.insert(board.name.as_str()) {
                return Err(Error::InvalidInput(format!(
                    "boards[{b}].name {:?} is the name of an earlier board: board names must be unique",
                    board.name
                )));
            }
            limit(format!("boards[{b}].pins"), board.pins.len(), MAX_PINS_PER_BOARD)?;
            total += board.pins.len();
            for (p, pin) in board.pins.iter().enumerate() {
                let at = || format!("boards[{b}].pins[{p}]");
                if let Some(id) = &pin.id {
                    field(|| format!("{}.id length in bytes", at()), id)?;
                }
                if let Some(t) = &pin.title {
                    field(|| format!("{}.title length in bytes", at()), t)?;
                }
                if let Some(t) = &pin.description {
                    field(|| format!("{}.description length in bytes", at()), t)?;
                }
                limit(format!("{}.tags", at()), pin.tags.len(), MAX_TAGS_PER_PIN)?;
                for t in &pin.tags {
                    field(|| format!("{}.tags[] length in bytes", at()), t)?;
                }
                if let Some(s) = pin.saved_at {
                    if !s.is_finite() {
                        return Err(Error::InvalidInput(format!("{}.saved_at must be a finite number", at())));
                    }
                }
                if pin.id.is_none() && !pin.has_text() {
                    return Err(Error::InvalidInput(format!(
                        "{} has neither an id nor any text (title, description or tags)",
                        at()
                    )));
                }
            }
        }
        limit("pins over all boards".into(), total, MAX_PINS_TOTAL)?;
        if total == 0 && self.boards.iter().all(|b| b.name.trim().is_empty()) {
            return Err(Error::InvalidInput("the boards have no pins and no names: nothing to recommend from".into()));
        }
        if let Some(t) = &self.target_board {
            if !self.boards.iter().any(|b| &b.name == t) {
                return Err(Error::InvalidInput(format!("target_board {t:?} is not one of the boards")));
            }
        }
        if let Some(k) = self.k {
            if k == 0 {
                return Err(Error::InvalidInput("k must be at least 1".into()));
            }
            limit("k".into(), k, MAX_K)?;
        }
        limit("exclude".into(), self.exclude.len(), MAX_EXCLUDE)?;
        if let Some(d) = self.diversity {
            if !(0.0..=1.0).contains(&d) {
                return Err(Error::InvalidInput(format!("diversity must be in [0, 1], got {d}")));
            }
        }
        if let Some(h) = self.recency_half_life {
            if !(h.is_finite() && h > 0.0) {
                return Err(Error::InvalidInput(format!("recency_half_life must be a positive number, got {h}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_limits_are_refused_while_decoding() {
        let pins = |n: usize| format!("[{}]", vec![r#"{"id":"a"}"#; n].join(","));
        let ok = BoardContext::from_json(&format!(r#"{{"boards":[{{"name":"b","pins":{}}}]}}"#, pins(3))).unwrap();
        assert_eq!(ok.boards[0].pins.len(), 3);
        let e = BoardContext::from_json(&format!(r#"{{"boards":[{{"name":"b","pins":{}}}]}}"#, pins(MAX_PINS_PER_BOARD + 1)))
            .unwrap_err();
        assert_eq!(e.code(), "limit_exceeded");
        assert!(e.to_string().contains("pins of a board"), "{e}");
        let many: Vec<String> = (0..5).map(|i| format!(r#"{{"name":"b{i}","pins":{}}}"#, pins(4_500))).collect();
        let e = BoardContext::from_json(&format!(r#"{{"boards":[{}]}}"#, many.join(","))).unwrap_err();
        assert!(e.to_string().contains("pins over all boards"), "{e}");
        let tags = format!(r#"{{"boards":[{{"name":"b","pins":[{{"title":"t","tags":{:?}}}]}}]}}"#, vec!["x"; 65]);
        assert_eq!(BoardContext::from_json(&tags).unwrap_err().code(), "limit_exceeded");
        // Other defects stay invalid_input, and the stash never leaks into the next call.
        assert_eq!(BoardContext::from_json("{").unwrap_err().code(), "invalid_input");
        assert!(BoardContext::from_json("{")
            .unwrap_err()
            .to_string()
            .starts_with("invalid input: board context is not valid JSON"));
        assert_eq!(BoardContext::from_json(r#"{"boards":[],"kk":1}"#).unwrap_err().code(), "invalid_input");
        let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
        assert_eq!(
            BoardContext::from_json(&format!(r#"{{"boards":[{{"name":"b","pins":[{{"title":"t","tags":{deep}}}]}}]}}"#))
                .unwrap_err()
                .code(),
            "invalid_input"
        );
    }

    #[test]
    fn duplicate_board_names_are_refused() {
        let c =
            BoardContext::from_json(r#"{"boards":[{"name":"a","pins":[{"id":"1"}]},{"name":"a","pins":[{"id":"2"}]}]}"#).unwrap();
        let e = c.validate().unwrap_err();
        assert!(e.to_string().contains("must be unique"), "{e}");
    }
}
