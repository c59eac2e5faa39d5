//! The ranking function's knobs: weights over the signals and the scalar choices around them.
//!
//! A catalog built with boards carries knobs fitted to it (`edgerec index`, see [`crate::train`]
//! natively); [`Knobs::default`] is the fallback for a catalog without them. All are scale-free
//! (fractions, exponents, z-score weights), so one set means the same on any catalog size.

use serde::{Deserialize, Serialize};

/// The ranking function's knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// Weight of the boards other than `target_board` (the target board weighs 1).
    pub other_boards: f32,
    /// Recency half-life as a fraction of the board's pin count, at least one pin (a request's
    /// `recency_half_life` overrides it with a number of pins).
    pub recency_half_life: f32,
    /// Interests per board: `ceil(interests_per_sqrt_pin × √pins)` clusters of catalog pins
    /// (every free-text pin is an interest of its own).
    pub interests_per_sqrt_pin: f32,
    /// An interest's weight is its importance (share of the board) to this power.
    pub importance_power: f32,
    /// Co-saved aggregation: `(Σ_pins (w·W)^p)^(1/p)`; p < 1 rewards items reached from many pins.
    pub cosaved_power: f32,
    /// Weight of the co-saved signal.
    pub w_cosaved: f32,
    /// Weight of the similarity to the best-matching interest.
    pub w_similar: f32,
    /// Weight of the similarity to the mean of the focus board's pins.
    pub w_similar_mean: f32,
    /// Weight of the board-name signal for a board without pins; a board with `n` pins uses
    /// `w_board_name / (1 + n / name_half_pins)`: the name matters most before pins say more.
    pub w_board_name: f32,
    /// See `w_board_name`.
    pub name_half_pins: f32,
    /// Weight of the similar-boards signal: what the catalog's boards most like the request's
    /// pins hold, its best item at 1 (a co-saved z-score reaches tens). The default, 4, was
    /// chosen on movielens' dev split (0.1437 → 0.1448 Recall@10; 2 and 8 give 0.1437).
    pub w_similar_boards: f32,
    /// How many of the most similar boards the similar-boards signal draws on.
    pub similar_boards: usize,
    /// Weight of the popularity prior (log popularity, z-scaled over the items that have any).
    pub w_popular: f32,
    /// Score of an item nobody has saved yet (no co-saved, name or popularity data), against the
    /// popularity prior's average item at 0: how new items compete with items that have data.
    pub w_new: f32,
    /// Weight of the similarity to the best-matching interest for a new item (one nobody has
    /// saved): new items are ranked among themselves by content only, so they get their own.
    pub w_new_similar: f32,
    /// Weight of the similarity to the focus board's mean for a new item.
    pub w_new_similar_mean: f32,
    /// Share of the `k` slots kept for the best new items (rounded), whatever items with
    /// interaction data score: what a new item needs to be seen at all next to them.
    pub new_share: f32,
    /// A new item fills a kept slot only when its content score — the new items' similarity
    /// z-scores averaged by their weights, over the catalog — is at least this: a slot goes to a
    /// new item when the content says it belongs, not on every request. The default, 3 (the
    /// catalog's far tail), was chosen on movielens' dev split (0.1399 → 0.1465 Recall@10 against
    /// always, cold recall still above the plain model's); −10 keeps the slot always.
    pub new_slot_min_z: f32,
    /// Share of the `k` slots given one each to the focus board's heaviest catalog pins by weight
    /// (filled by each pin's best candidate, by reason); every free-text pin gets one besides.
    pub pin_quota: f32,
    /// Two results closer than this cosine are near-duplicates: only the better one is kept.
    pub duplicate_cosine: f32,
    /// The similarity signals are first estimated for the whole catalog from sign bits, then
    /// computed exactly for this many best candidates, from which the results are picked.
    pub shortlist: usize,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            other_boards: 0.0,
            recency_half_life: 0.05,
            interests_per_sqrt_pin: 0.5,
            importance_power: 0.0,
            cosaved_power: 1.0,
            w_cosaved: 1.0,
            w_similar: 1.5,
            w_similar_mean: 0.0,
            w_board_name: 0.5,
            name_half_pins: 1.0,
            w_similar_boards: 4.0,
            similar_boards: 50,
            w_popular: 0.25,
            w_new: -0.5,
            w_new_similar: 1.5,
            w_new_similar_mean: 0.0,
            new_share: 0.1,
            new_slot_min_z: 3.0,
            pin_quota: 0.2,
            duplicate_cosine: 0.985,
            shortlist: 500,
        }
    }
}

impl Knobs {
    /// True when the similarity to the interests weighs anything (for warm or new items): only
    /// then is it computed.
    pub fn weighs_similar(&self) -> bool {
        self.w_similar != 0.0 || self.w_new_similar != 0.0
    }

    /// The same for the similarity to the focus pins' mean.
    pub fn weighs_similar_mean(&self) -> bool {
        self.w_similar_mean != 0.0 || self.w_new_similar_mean != 0.0
    }

    /// Rejects knobs a ranking cannot use (a fitted section or `--knobs` is untrusted input).
    pub fn check(&self) -> Result<(), String> {
        let finite = [
            ("other_boards", self.other_boards),
            ("recency_half_life", self.recency_half_life),
            ("interests_per_sqrt_pin", self.interests_per_sqrt_pin),
            ("importance_power", self.importance_power),
            ("cosaved_power", self.cosaved_power),
            ("w_cosaved", self.w_cosaved),
            ("w_similar", self.w_similar),
            ("w_similar_mean", self.w_similar_mean),
            ("w_board_name", self.w_board_name),
            ("name_half_pins", self.name_half_pins),
            ("w_similar_boards", self.w_similar_boards),
            ("w_popular", self.w_popular),
            ("w_new", self.w_new),
            ("w_new_similar", self.w_new_similar),
            ("w_new_similar_mean", self.w_new_similar_mean),
            ("new_share", self.new_share),
            ("new_slot_min_z", self.new_slot_min_z),
            ("pin_quota", self.pin_quota),
            ("duplicate_cosine", self.duplicate_cosine),
        ];
        if let Some((name, v)) = finite.iter().find(|(_, v)| !v.is_finite()) {
            return Err(format!("knob {name} is {v}, not a finite number"));
        }
        if !(self.recency_half_life > 0.0 && self.name_half_pins > 0.0 && self.cosaved_power > 0.0) {
            return Err("recency_half_life, name_half_pins and cosaved_power must be positive".into());
        }
        if !(0.0..=1.0).contains(&self.pin_quota)
            || !(0.0..=1.0).contains(&self.new_share)
            || !(0.0..=16.0).contains(&self.interests_per_sqrt_pin)
        {
            return Err("pin_quota and new_share must be in [0, 1], interests_per_sqrt_pin in [0, 16]".into());
        }
        if self.similar_boards > 1_000 {
            return Err(format!("similar_boards {} must be at most 1000", self.similar_boards));
        }
        if !(1..=5_000).contains(&self.shortlist) {
            return Err(format!("shortlist {} must be in 1..=5000", self.shortlist));
        }
        Ok(())
    }
}
