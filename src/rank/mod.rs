//! Ranking: a board context in, the catalog's best items out, each with a score and a reason.
//!
//! One request flows through [`profile`] (pins resolved, weighted, clustered into interests),
//! [`signals`] (co-saved, similarity, board names, the popularity prior, scored over the whole
//! catalog), [`select`] (top-k with near-duplicate collapse, MMR and the pins' quotas) and
//! [`reason`]. The blend's weights are [`Knobs`]: fitted to the catalog at index time when the
//! bundle carries them (see `train` natively), else the defaults.
//!
//! A request allocates one score array over the catalog; everything else is sparse or top-k sized.

mod knobs;
pub mod profile;
pub mod reason;
pub mod select;
pub mod signals;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

pub use knobs::Knobs;
pub use profile::{build_profile, needs_encoder, Profile};
pub use reason::{Reason, Signal};
pub use signals::{Features, FEATURES};

use crate::catalog::Catalog;
use crate::context::{BoardContext, MAX_TEXT_PINS};
use crate::encoder::Encoder;
use crate::error::{Error, Result};
use select::{select, top_n, Candidate, Slot};
use signals::{blend, weights, Prior, Signals};

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

/// A catalog ready to rank: the bundle plus per-catalog statistics and the knobs.
pub struct Ranker {
    catalog: Catalog,
    knobs: Knobs,
    source: KnobsSource,
    prior: Prior,
    max_text_pins: usize,
}

/// A request's shortlist with every candidate's features (for fitting the blend).
pub struct Scored {
    /// `(catalog index, features)`, best first by the knobs in use.
    pub candidates: Vec<(u32, Features)>,
    /// The focus board's pin count (the board-name weight decays with it).
    pub focus_pins: f32,
}

impl Ranker {
    /// Wraps a catalog with its fitted knobs, or the defaults when it has none. A fitted section
    /// that does not parse or holds unusable knobs is an `invalid_catalog` error.
    pub fn new(catalog: Catalog) -> Result<Self> {
        let Some(bytes) = catalog.ranker_section() else {
            return Ok(Self::build(catalog, Knobs::default(), KnobsSource::Defaults));
        };
        let bad = |m: String| Error::InvalidCatalog(format!("fitted ranker section: {m}"));
        let s: FittedSection = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if s.format != FITTED_FORMAT {
            return Err(bad(format!("format {}; this build reads format {FITTED_FORMAT}", s.format)));
        }
        s.knobs.check().map_err(bad)?;
        Ok(Self::build(catalog, s.knobs, KnobsSource::Fitted))
    }

    /// Wraps a catalog with the given knobs (ignoring any fitted ones).
    pub fn with_knobs(catalog: Catalog, knobs: Knobs) -> Self {
        Self::build(catalog, knobs, KnobsSource::Given)
    }

    fn build(catalog: Catalog, knobs: Knobs, source: KnobsSource) -> Self {
        let prior = Prior::new(&catalog);
        Self { catalog, knobs, source, prior, max_text_pins: MAX_TEXT_PINS }
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
        &self.catalog
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
        needs_encoder(&self.catalog, ctx)
    }

    /// Validates the request, builds the profile (embedding free-text pins with `encoder`),
    /// and returns the top `k` (default 10) items with reasons.
    pub fn recommend(&self, encoder: Option<&dyn Encoder>, ctx: &BoardContext) -> Result<Recommendations> {
        ctx.validate()?;
        let kn = &self.knobs;
        let profile = build_profile(&self.catalog, encoder, ctx, kn, self.max_text_pins)?;
        let k = ctx.k.unwrap_or(10);
        let sig = Signals::new(&self.catalog, &profile, kn);
        let ranked = self.score(&profile, &sig, &ctx.exclude);
        // Never recommended: the user's own items and the excluded ids.
        let ranked_out: HashSet<u32> = ctx
            .exclude
            .iter()
            .filter_map(|id| self.catalog.index_of(id))
            .map(|i| i as u32)
            .chain(profile.saved.iter().copied())
            .collect();
        let sources = reason::Sources::new(&self.catalog, &profile);
        let need = self.quotas(&profile, &sources, k);
        let w = weights(kn, profile.focus_pin_count());
        let explain = |j: u32, f: &Features| reason::explain(&self.catalog, &sig, &self.prior, &sources, j, &w, f);
        // The pool MMR picks from: the best by score, plus what the pins with a quota need.
        let pool_size = (k * 5).max(50);
        let mut cands: Vec<Candidate> = Vec::new();
        let mut explained: HashMap<u32, (Signal, Option<usize>, Option<usize>)> = HashMap::new();
        // Three candidates per owed slot, so that near-duplicates cannot starve a quota.
        let mut owed: HashMap<Slot, usize> = need.iter().map(|(&s, &n)| (s, 3 * n)).collect();
        for (rank, &(j, score, ref f)) in ranked.iter().enumerate() {
            let in_pool = rank < pool_size;
            if !in_pool && owed.is_empty() {
                break;
            }
            let e = explain(j, f);
            let source = e.1.filter(|_| e.0 != Signal::BoardName);
            // Only a new item the content vouches for may take a slot kept for new items.
            let cand = Candidate { item: j, score, source, new: signals::takes_new_slot(kn, f) };
            let mut owed_here = false;
            owed.retain(|&s, n| {
                if cand.fills(s) {
                    owed_here = true;
                    *n -= 1;
                }
                *n > 0
            });
            if in_pool || owed_here {
                explained.insert(j, e);
                cands.push(cand);
            }
        }
        // A free-text pin is always heard: when no ranked candidate's reason names it (its
        // nearest items score low on every other signal, as with a weak text model), its nearest
        // items by content join the candidates, explained by it.
        let unheard: Vec<usize> = need
            .keys()
            .filter_map(|&s| match s {
                Slot::Pin(i) if profile.pins[i].text && !cands.iter().any(|c| c.fills(s)) => Some(i),
                _ => None,
            })
            .collect();
        for i in unheard {
            let taken: HashSet<u32> = cands.iter().map(|c| c.item).collect();
            let skip = |j: u32| taken.contains(&j) || ranked_out.contains(&j);
            for j in signals::nearest(&self.catalog, &profile.pins[i].vector, 3, skip) {
                let f = sig.features(&self.catalog, &self.prior, j);
                explained.insert(j, (Signal::Similar, Some(i), None));
                cands.push(Candidate { item: j, score: blend(&w, &f), source: Some(i), new: signals::takes_new_slot(kn, &f) });
            }
        }
        let picked = select(&self.catalog, &cands, k, ctx.diversity.unwrap_or(0.0), kn.duplicate_cosine, &need);
        let items = picked
            .into_iter()
            .map(|c| {
                let Candidate { item: j, score, .. } = cands[c];
                let it = self.catalog.item(j as usize);
                let (signal, pin, board) = explained[&j];
                Recommendation {
                    id: it.id.clone(),
                    title: it.title.clone(),
                    score,
                    reason: reason::reason(&profile, signal, pin, board),
                }
            })
            .collect();
        Ok(Recommendations {
            items,
            embedded_texts: profile.embedded_texts,
            unknown_pins: profile.unknown_pins,
            model_id: self.catalog.header().model_id.clone(),
            catalog_id: self.catalog.catalog_id().to_string(),
        })
    }

    /// Every item's score, similarity from sign bits (excluded and saved items at −∞).
    fn coarse_scores(&self, profile: &Profile, sig: &Signals, exclude: &[String]) -> Vec<f32> {
        let kn = &self.knobs;
        let p = &self.prior;
        let mut scores: Vec<f32> =
            p.popular.iter().zip(&p.new).map(|(&pop, &new)| kn.w_popular * pop + if new { kn.w_new } else { 0.0 }).collect();
        sig.add_coarse(&self.catalog, kn, &p.new, &mut scores);
        let excluded = exclude.iter().filter_map(|id| self.catalog.index_of(id)).map(|i| i as u32);
        for j in excluded.chain(profile.saved.iter().copied()) {
            scores[j as usize] = f32::NEG_INFINITY;
        }
        scores
    }

    /// Scores every item (similarity from sign bits), rescores the best `shortlist` exactly, and
    /// returns those with their features (reasons read them), best first.
    fn score(&self, profile: &Profile, sig: &Signals, exclude: &[String]) -> Vec<(u32, f32, Features)> {
        let scores = self.coarse_scores(profile, sig, exclude);
        let w = weights(&self.knobs, profile.focus_pin_count());
        let shortlist = self.knobs.shortlist.max(1);
        let mut ranked: Vec<(u32, f32, Features)> = top_n(&scores, shortlist)
            .into_iter()
            .chain(self.best_new(&scores, shortlist))
            .collect::<HashSet<u32>>()
            .into_iter()
            .map(|j| {
                let f = sig.features(&self.catalog, &self.prior, j);
                (j, blend(&w, &f), f)
            })
            .collect();
        // Exact rescoring may have reordered the shortlist.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
    }

    /// The new items among the best `n / 4` by `scores` (their quota's candidates, which the
    /// best by score alone may not hold).
    fn best_new(&self, scores: &[f32], n: usize) -> Vec<u32> {
        if self.knobs.new_share <= 0.0 {
            return Vec::new();
        }
        let only_new: Vec<f32> =
            scores.iter().zip(&self.prior.new).map(|(&s, &new)| if new { s } else { f32::NEG_INFINITY }).collect();
        top_n(&only_new, (n / 4).max(1))
    }

    /// Slots owed: one to every free-text pin; one each to the focus board's `pin_quota` × `k`
    /// (rounded) heaviest catalog pins, so that as many pins as there are slots are heard; and
    /// `new_share` × `k` to the new items.
    fn quotas(&self, profile: &Profile, sources: &reason::Sources, k: usize) -> HashMap<Slot, usize> {
        let mut need = HashMap::new();
        let new = (self.knobs.new_share * k as f32).round() as usize;
        if new > 0 {
            need.insert(Slot::New, new);
        }
        let slots = (self.knobs.pin_quota * k as f32).round() as usize;
        let mut pins: Vec<usize> = sources.indices().collect();
        pins.sort_by(|&a, &b| profile.pins[b].weight.total_cmp(&profile.pins[a].weight).then(a.cmp(&b)));
        let (text, catalog): (Vec<usize>, Vec<usize>) = pins.into_iter().partition(|&i| profile.pins[i].text);
        for i in text.into_iter().chain(catalog.into_iter().take(slots)) {
            need.insert(Slot::Pin(i), 1);
        }
        need
    }

    /// The shortlist of a request with every candidate's features, plus `extra` items (for the
    /// fit: the target of a training example, wherever the knobs in use would rank it).
    pub fn scored(&self, ctx: &BoardContext, extra: &[u32]) -> Result<Scored> {
        ctx.validate()?;
        let profile = build_profile(&self.catalog, None, ctx, &self.knobs, self.max_text_pins)?;
        let sig = Signals::new(&self.catalog, &profile, &self.knobs);
        let scores = self.coarse_scores(&profile, &sig, &ctx.exclude);
        let shortlist = top_n(&scores, self.knobs.shortlist.max(1));
        // Candidates by each signal alone too, so that every blend's top finds its competitors
        // here: a fit whose candidates came from one blend only would learn that whatever that
        // blend ranks low (new items, say) is the answer.
        let per = (self.knobs.shortlist / 4).max(1);
        let alone = |kn: Knobs, only_new: bool| {
            let mut s = vec![0f32; self.catalog.len()];
            sig.add_coarse(&self.catalog, &kn, &self.prior.new, &mut s);
            for (j, x) in s.iter_mut().enumerate() {
                if scores[j] == f32::NEG_INFINITY || (only_new && !self.prior.new[j]) {
                    *x = f32::NEG_INFINITY;
                } else if kn.w_popular != 0.0 {
                    *x += self.prior.popular[j];
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
            w_popular: 0.0,
            ..self.knobs.clone()
        };
        let mut by_signal = Vec::new();
        for kn in [
            Knobs { w_cosaved: 1.0, ..off.clone() },
            Knobs { w_similar: 1.0, w_new_similar: 1.0, ..off.clone() },
            Knobs { w_similar_mean: 1.0, w_new_similar_mean: 1.0, ..off.clone() },
            Knobs { w_board_name: 1.0, ..off.clone() },
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
            .map(|j| (j, sig.features(&self.catalog, &self.prior, j)))
            .collect();
        Ok(Scored { candidates, focus_pins: profile.focus_pin_count() })
    }
}
