//! Ranking: a board context in, the catalog's best items out, each with a score and a reason.
//!
//! One request flows through [`profile`] (pins resolved, weighted, clustered into interests),
//! [`signals`] (co-saved, similarity, board names, similar boards, the popularity prior, scored over the whole
//! catalog), [`select`] (top-k with near-duplicate collapse, MMR and the pins' quotas) and
//! [`reason`]. The blend's weights are [`Knobs`]: fitted to the catalog at index time when the
//! bundle carries them (see `train` natively), else the defaults.
//!
//! A request allocates one score array over the catalog; everything else is sparse or top-k sized.

pub mod fanout;
pub mod front;
mod knobs;
pub mod profile;
pub mod reason;
pub mod select;
pub mod signals;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

pub use knobs::Knobs;
pub use profile::{build_profile, needs_encoder, Profile};
pub use reason::{Reason, Signal};
pub use signals::{Features, FEATURES};

use crate::catalog::Catalog;
use crate::context::{BoardContext, MAX_TEXT_PINS};
use crate::encoder::Encoder;
use crate::error::{Error, Result};
use fanout::{Shard, Whole};
use select::top_n;
use signals::{Prior, Signals};

/// One ranked item.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Catalog id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Blended score (higher is better; comparable within one response).
    pub score: f32,
    /// Why.
    pub reason: Reason,
}

/// The answer to a request.
#[cfg_attr(target_arch = "wasm32", derive(tsify::Tsify))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendations {
    /// Ranked items, best first.
    pub items: Vec<Recommendation>,
    /// Texts embedded on the fly (pins that are not catalog items).
    pub embedded_texts: usize,
    /// Pins with an id not in the catalog and no text (ignored).
    pub unknown_pins: usize,
    /// The catalog's model id.
    pub model_id: String,
    /// The catalog's content id.
    pub catalog_id: String,
}

/// The fitted-ranker section of a catalog bundle (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedSection {
    /// Version of this section's layout.
    pub format: u32,
    /// The fitted knobs.
    pub knobs: Knobs,
    /// What the fit measured (validation scores, weights, dropped features), for people.
    #[serde(default)]
    pub report: serde_json::Value,
}

/// The fitted-ranker section layout this build reads and writes.
pub const FITTED_FORMAT: u32 = 1;

/// Where a ranker's knobs came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KnobsSource {
    /// Fitted to this catalog's boards at index time.
    Fitted,
    /// The built-in defaults (the catalog carries no fitted ranker).
    Defaults,
    /// Set by the caller (evaluation, tuning).
    Given,
}

/// A catalog ready to rank: the bundle (as its own only shard: see [`fanout`]) and the knobs.
pub struct Ranker {
    shard: Shard,
    knobs: Knobs,
    source: KnobsSource,
    max_text_pins: usize,
}

/// A request's shortlist with every candidate's features (for fitting the blend).
pub struct Scored {
    /// `(catalog index, features)`, best first by the knobs in use.
    pub candidates: Vec<(u32, Features)>,
    /// The focus board's pin count (the board-name weight decays with it).
    pub focus_pins: f32,
}

/// Reads a fitted-ranker section: a section that does not parse or holds unusable knobs is an
/// `invalid_catalog` error.
pub fn fitted_knobs(bytes: &[u8]) -> Result<Knobs> {
    let bad = |m: String| Error::InvalidCatalog(format!("fitted ranker section: {m}"));
    let s: FittedSection = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if s.format != FITTED_FORMAT {
        return Err(bad(format!("format {}; this build reads format {FITTED_FORMAT}", s.format)));
    }
    s.knobs.check().map_err(bad)?;
    Ok(s.knobs)
}

impl Ranker {
    /// Wraps a catalog with its fitted knobs, or the defaults when it has none. A fitted section
    /// that does not parse or holds unusable knobs is an `invalid_catalog` error.
    pub fn new(catalog: Catalog) -> Result<Self> {
        match catalog.ranker_section() {
            None => Ok(Self::build(catalog, Knobs::default(), KnobsSource::Defaults)),
            Some(bytes) => {
                let knobs = fitted_knobs(bytes)?;
                Ok(Self::build(catalog, knobs, KnobsSource::Fitted))
            }
        }
    }

    /// Wraps a catalog with the given knobs (ignoring any fitted ones).
    pub fn with_knobs(catalog: Catalog, knobs: Knobs) -> Self {
        Self::build(catalog, knobs, KnobsSource::Given)
    }

    fn build(catalog: Catalog, knobs: Knobs, source: KnobsSource) -> Self {
        Self { shard: Shard::new(catalog), knobs, source, max_text_pins: MAX_TEXT_PINS }
    }

    /// Lowers the number of pins one request may have embedded on the fly (the encoder's cost:
    /// a Worker on a CPU budget sets it low); never above [`MAX_TEXT_PINS`].
    pub fn set_max_text_pins(&mut self, n: usize) {
        self.max_text_pins = n.min(MAX_TEXT_PINS);
    }

    /// How many pins one request may have embedded on the fly.
    pub fn max_text_pins(&self) -> usize {
        self.max_text_pins
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        self.shard.catalog()
    }

    /// The knobs in use.
    pub fn knobs(&self) -> &Knobs {
        &self.knobs
    }

    /// Where the knobs in use came from.
    pub fn knobs_source(&self) -> KnobsSource {
        self.source
    }

    /// Replaces the knobs (evaluation and tuning).
    pub fn set_knobs(&mut self, knobs: Knobs) {
        self.knobs = knobs;
        self.source = KnobsSource::Given;
    }

    /// True when `ctx` has pins that need the encoder (not catalog items, with text).
    pub fn needs_encoder(&self, ctx: &BoardContext) -> bool {
        needs_encoder(Whole::Catalog(self.catalog()), ctx)
    }

    /// Validates the request, builds the profile (embedding free-text pins with `encoder`),
    /// and returns the top `k` (default 10) items with reasons: the front's steps, with the
    /// catalog as its only shard.
    pub fn recommend(&self, encoder: Option<&dyn Encoder>, ctx: &BoardContext) -> Result<Recommendations> {
        let whole = Whole::Catalog(self.catalog());
        let (mut pending, lookup) = front::begin(whole, encoder, ctx, &self.knobs, self.max_text_pins)?;
        let query = front::query(whole, &mut pending, vec![self.shard.lookup(&lookup)?])?;
        let mut ask = front::pick(&mut pending, vec![self.shard.candidates(&query)?]);
        while !ask.is_empty() {
            let asks = front::asks(&pending, &ask, 1, |_| Some(0));
            let replies = asks.into_iter().flatten().map(|m| self.shard.more(&m)).collect::<Result<_>>()?;
            ask = front::more(&mut pending, replies);
        }
        Ok(front::finish(whole, pending))
    }

    /// The shortlist of a request with every candidate's features, plus `extra` items (for the
    /// fit: the target of a training example, wherever the knobs in use would rank it).
    pub fn scored(&self, ctx: &BoardContext, extra: &[u32]) -> Result<Scored> {
        let catalog = self.catalog();
        let whole = Whole::Catalog(catalog);
        let (pending, lookup) = front::begin(whole, None, ctx, &self.knobs, self.max_text_pins)?;
        let items = self.shard.lookup(&lookup)?.items.into_iter().map(|it| (it.item, it)).collect();
        let profile = profile::complete(pending.profile().clone(), &items, &self.knobs, catalog.dim())?;
        let sig = Signals::new(catalog, &profile, &self.knobs);
        let prior = self.shard.prior();
        let out: HashSet<u32> = ctx
            .exclude
            .iter()
            .filter_map(|id| catalog.index_of(id))
            .map(|i| i as u32)
            .chain(profile.saved.iter().copied())
            .collect();
        let scores = coarse_scores(catalog, prior, &self.knobs, &sig, &out, &mut []);
        let shortlist = top_n(&scores, self.knobs.shortlist.max(1));
        // Candidates by each signal alone too, so that every blend's top finds its competitors
        // here: a fit whose candidates came from one blend only would learn that whatever that
        // blend ranks low (new items, say) is the answer.
        let per = (self.knobs.shortlist / 4).max(1);
        let alone = |kn: Knobs, only_new: bool| {
            let mut s = vec![0f32; catalog.len()];
            sig.add_coarse(catalog, &kn, &prior.new, &mut s, &mut []);
            for (j, x) in s.iter_mut().enumerate() {
                if scores[j] == f32::NEG_INFINITY || (only_new && !prior.new[j]) {
                    *x = f32::NEG_INFINITY;
                } else if kn.w_popular != 0.0 {
                    *x += prior.popular[j];
                }
            }
            top_n(&s, per)
        };
        let off = Knobs {
            w_cosaved: 0.0,
            w_similar: 0.0,
            w_similar_mean: 0.0,
            w_new_similar: 0.0,
            w_new_similar_mean: 0.0,
            w_board_name: 0.0,
            w_similar_boards: 0.0,
            w_popular: 0.0,
            ..self.knobs.clone()
        };
        let mut by_signal = Vec::new();
        for kn in [
            Knobs { w_cosaved: 1.0, ..off.clone() },
            Knobs { w_similar: 1.0, w_new_similar: 1.0, ..off.clone() },
            Knobs { w_similar_mean: 1.0, w_new_similar_mean: 1.0, ..off.clone() },
            Knobs { w_board_name: 1.0, ..off.clone() },
            Knobs { w_similar_boards: 1.0, ..off.clone() },
            Knobs { w_popular: 1.0, ..off.clone() },
        ] {
            by_signal.extend(alone(kn, false));
        }
        // and the new items most similar to the pins.
        by_signal.extend(alone(Knobs { w_new_similar: 1.0, ..off.clone() }, true));
        by_signal.extend(alone(Knobs { w_new_similar_mean: 1.0, ..off.clone() }, true));
        let mut seen: HashSet<u32> = HashSet::new();
        let candidates = shortlist
            .into_iter()
            .chain(by_signal)
            .chain(extra.iter().copied().filter(|j| !profile.saved.contains(j)))
            .filter(|&j| seen.insert(j))
            .map(|j| (j, sig.features(catalog, prior, j)))
            .collect();
        Ok(Scored { candidates, focus_pins: profile.focus_pin_count() })
    }
}

/// Every item's score from the signals (similarity from sign bits), `out` items at −∞.
pub(crate) fn coarse_scores(
    catalog: &Catalog,
    prior: &Prior,
    kn: &Knobs,
    sig: &Signals,
    out: &HashSet<u32>,
    nearest: &mut [signals::Nearest],
) -> Vec<f32> {
    let mut scores: Vec<f32> =
        prior.popular.iter().zip(&prior.new).map(|(&pop, &new)| kn.w_popular * pop + if new { kn.w_new } else { 0.0 }).collect();
    sig.add_coarse(catalog, kn, &prior.new, &mut scores, nearest);
    for &j in out {
        scores[j as usize] = f32::NEG_INFINITY;
    }
    scores
}
