//! The request: a user's boards (a name plus pins), which board to recommend for, and knobs.
//!
//! Shared by the CLI, the wasm layer and the Worker (deserialised with serde), and validated here
//! once, so every limit has one name and one number.

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

/// One saved item: a catalog item (`id`) or free text (title, description, tags), or both.
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
    #[serde(default)]
    pub tags: Vec<String>,
    /// When the pin was saved (any monotonic unit, e.g. Unix seconds); newer pins weigh more.
    /// Without it, a board's pins are taken to be in the order they were saved.
    #[serde(default)]
    pub saved_at: Option<f64>,
}

/// A named collection of pins.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// The board's name as the user typed it.
    #[serde(default)]
    pub name: String,
    /// Its pins, oldest first unless `saved_at` says otherwise.
    #[serde(default)]
    pub pins: Vec<Pin>,
}

/// A recommendation request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BoardContext {
    /// The user's boards.
    pub boards: Vec<Board>,
    /// The name of the board to recommend for; the other boards weigh less. Without it, all
    /// boards weigh the same.
    #[serde(default)]
    pub target_board: Option<String>,
    /// How many results (default 10).
    #[serde(default)]
    pub k: Option<usize>,
    /// Catalog ids never to return (pins already saved are never returned anyway).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// 0 (pure relevance, the default) to 1 (most diverse): the MMR trade-off.
    #[serde(default)]
    pub diversity: Option<f32>,
    /// Recency half-life in pins: a pin this many saves older weighs half as much.
    /// Default: the tuned value (see `rank::Knobs`).
    #[serde(default)]
    pub recency_half_life: Option<f32>,
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
    /// Checks every limit and value; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        if self.boards.is_empty() {
            return Err(Error::InvalidInput("boards is empty: send at least one board".into()));
        }
        limit("boards".into(), self.boards.len(), MAX_BOARDS)?;
        let mut total = 0;
        for (b, board) in self.boards.iter().enumerate() {
            field(|| format!("boards[{b}].name length in bytes"), &board.name)?;
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
            return Err(Error::InvalidInput(
                "the boards have no pins and no names: nothing to recommend from".into(),
            ));
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
