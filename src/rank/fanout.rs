//! One request in three steps between a front and the shards that hold the catalog's items, so
//! that a catalog split over several isolates (`edgerec index --shards`) ranks exactly as the
//! whole one does. A whole catalog takes the same steps with itself as its only shard (in
//! memory): there is one ranking, whatever holds the items.
//!
//! 1. [`Lookup`]: the front has resolved the pins (by id) and weighed them; each shard returns
//!    the vectors and titles of the pins it owns, and the sums the co-saved and board-name
//!    signals are z-scaled by over its items ([`Moments`]: they add up across shards).
//! 2. [`Query`]: the front has built the profile (interests, centroid), every signal's scale and
//!    the slots owed to pins and new items; each shard scores its items, and returns its best by
//!    the coarse score and its best new items (the first [`Query::exact`] and
//!    [`Query::exact_new`] of them with their features and reasons, the rest by the coarse
//!    score alone: only the whole catalog's best are ranked, and a shard seldom holds most of
//!    them), its items nearest to each free-text pin, and the stored vector codes ([`Levels`])
//!    of those the front can pick from (its best [`Query::pool`] by the blend, the first
//!    candidates of each owed slot, the nearest items), from which the front computes the
//!    cosines between candidates exactly as a whole catalog does.
//! 3. [`More`], now and then: the features of the whole catalog's best that a shard sent by
//!    coarse score alone, and vector codes the front lacks: at most two rounds, the second only
//!    for vector codes. Two round trips per request, three or four at times.
//!
//! Items are named by their index in the whole catalog; a shard owns a contiguous run of them.
//! Every message is serde (postcard on the wire: [`encode`], [`decode`]).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::reason::{self, Signal, Sources};
use super::select::top_n;
use super::signals::{blend, weights, Features, Moments, Nearest, Prior, Signals, Similarity, WeightedVector, Weights};
use super::Knobs;
use crate::catalog::shard::{sample_indices, Front};
use crate::catalog::{BoardTable, Catalog};
use crate::error::{Error, Result};
use crate::vector::Closest;

/// Items a shard returns nearest to each free-text pin (the front keeps the best three of all).
pub const NEAREST: usize = 32;

/// The messages' layout. A front and its shards must speak the same one (they are built
/// together: deploy them together); a shard that speaks another is refused at load
/// ([`crate::catalog::shard::Front::check_protocol`]).
pub const PROTOCOL: u32 = 4;

/// A catalog pin as the shards see it: its place in the profile, its item and weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinRef {
    /// Index into the profile's pins.
    pub pin: u32,
    /// Its item.
    pub item: u32,
    /// Its weight.
    pub weight: f32,
}

/// A named board as the shards see it (for the board-name signal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoardRef {
    /// Index into the profile's boards.
    pub board: u32,
    /// Its name as typed.
    pub name: String,
    /// Its weight.
    pub weight: f32,
}

/// Step 1: what the front asks every shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lookup {
    /// The catalog pins (of boards that weigh anything).
    pub pins: Vec<PinRef>,
    /// Every item saved on the request's boards, whatever their weight: each owner returns its
    /// vector and title (pins are built from them).
    pub items: Vec<u32>,
    /// The named boards.
    pub boards: Vec<BoardRef>,
    /// The co-saved aggregation's power (see [`Knobs::cosaved_power`]).
    pub cosaved_power: f32,
}

/// A pin's item as its owner stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PinItem {
    /// The item.
    pub item: u32,
    /// Its vector in the set's working space.
    pub vector: Vec<f32>,
    /// Its title.
    pub title: String,
}

/// Step 1: a shard's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LookupReply {
    /// The asked items this shard owns.
    pub items: Vec<PinItem>,
    /// The co-saved signal's sums over this shard's items.
    pub cosaved: Moments,
    /// The board-name signal's sums over this shard's items.
    pub names: Moments,
}

/// Step 2: what the front asks every shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// The knobs in use.
    pub knobs: Knobs,
    /// The focus board's pin count (the board-name weight decays with it).
    pub focus_pins: f32,
    /// As in [`Lookup`].
    pub pins: Vec<PinRef>,
    /// As in [`Lookup`].
    pub boards: Vec<BoardRef>,
    /// `1 / std` of the co-saved signal over the whole catalog.
    pub cosaved_inv_std: f32,
    /// `1 / std` of the board-name signal over the whole catalog.
    pub names_inv_std: f32,
    /// The similar-boards values, ascending by item (whole-catalog indices): the front holds
    /// the boards and computes them once (see `signals::similar_boards`).
    pub similar_boards: Vec<(u32, f32)>,
    /// The interests: working-space vectors and their weights.
    pub interests: Vec<WeightedVector>,
    /// `(mean, 1 / std)` of the interests' similarity over the catalog's sample.
    pub similar: (f32, f32),
    /// The focus pins' weighted mean.
    pub centroid: Option<Vec<f32>>,
    /// `(mean, 1 / std)` of the centroid's similarity over the catalog's sample.
    pub similar_mean: (f32, f32),
    /// The pins reasons may name for similarity: `(pin, working-space vector, √weight)`.
    pub sources: Vec<(u32, Vec<f32>, f32)>,
    /// The free-text pins whose nearest items the front may need: `(pin, vector)`.
    pub nearest: Vec<(u32, Vec<f32>)>,
    /// Items never to return (saved on the boards, or excluded).
    pub out: Vec<u32>,
    /// The pool the front picks from: the best this many by the blend.
    pub pool: u32,
    /// The pins owed a slot each (the front picks among their three best candidates).
    pub owed_pins: Vec<u32>,
    /// Slots owed to new items (the front picks among their three best candidates each).
    pub new_slots: u32,
    /// How many of its best by the coarse score a shard sends with their features.
    pub exact: u32,
    /// As `exact`, of its best new items.
    pub exact_new: u32,
}

/// A candidate as its shard scored it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// The item.
    pub item: u32,
    /// Its score from sign bits (what the shortlists are cut by).
    pub coarse: f32,
    /// Its features (exact similarity).
    pub features: Features,
    /// What explains it: the signal, and the pin or board behind it.
    pub signal: Signal,
    /// Index into the profile's pins.
    pub pin: Option<u32>,
    /// Index into the profile's boards.
    pub board: Option<u32>,
}

/// Step 2: a shard's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidates {
    /// Its best `shortlist` items by the coarse score, best first: the first [`Query::exact`].
    pub shortlist: Vec<Scored>,
    /// The rest of them: `(item, coarse score)`.
    pub shortlist_rest: Vec<(u32, f32)>,
    /// Its best new items by the coarse score (when new items have a share of the slots): the
    /// first [`Query::exact_new`].
    pub new: Vec<Scored>,
    /// The rest of them.
    pub new_rest: Vec<(u32, f32)>,
    /// For each of [`Query::nearest`], its [`NEAREST`] items by the coarse cosine, with the
    /// exact one.
    pub nearest: Vec<Vec<(Scored, f32)>>,
    /// The vector codes and display fields of the candidates the front may pick (see the
    /// module doc).
    pub levels: Vec<Levels>,
}

/// What the front needs of an item it may pick: its stored vector, as cosines between items read
/// it, and its display fields (sent for these only: a shortlist is far longer than a pool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Levels {
    /// The item.
    pub item: u32,
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its levels (int8 values, or rotated4's odd levels).
    pub levels: Vec<i8>,
    /// Its scale.
    pub scale: f32,
    /// rotated4: its offset term (`s·c·Rμ`); 0 for int8.
    pub offset: f32,
}

/// Step 3, when the front needs it: what it asks one shard for.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct More {
    /// The query again when `exact` is not empty (a shard keeps nothing between steps).
    pub query: Option<Query>,
    /// Items of the whole catalog's best that this shard sent by coarse score alone, with that
    /// score: their features and reasons.
    pub exact: Vec<(u32, f32)>,
    /// Items whose vector codes and display fields the front lacks.
    pub levels: Vec<u32>,
}

/// Step 3: a shard's answer (the asked items it owns).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MoreReply {
    /// The `exact` items, scored.
    pub scored: Vec<Scored>,
    /// The `levels` items' levels.
    pub levels: Vec<Levels>,
}

/// Most items one [`More`] may ask about (a whole catalog's best and their pool are far fewer).
const MAX_ASKED: usize = 100_000;

/// Most interests, sources or nearest-item lists a query may carry (a request's text pins and
/// interests are bounded far below this by the request's own limits).
const MAX_VECTORS: usize = 4096;

fn bad(what: &str) -> Error {
    Error::InvalidInput(format!("shard message: {what}"))
}

fn check_vector(v: &[f32], dim: usize, what: &str) -> Result<()> {
    if v.len() != dim || v.iter().any(|x| !x.is_finite()) {
        return Err(bad(&format!("{what} must be {dim} finite numbers")));
    }
    Ok(())
}

impl Lookup {
    /// Checks what a shard is asked about a catalog of `rows` items (from elsewhere: the
    /// front's message is untrusted input to a shard).
    pub fn check(&self, rows: usize) -> Result<()> {
        if self.pins.iter().any(|p| p.item as usize >= rows || !p.weight.is_finite())
            || self.items.iter().any(|&i| i as usize >= rows)
        {
            return Err(bad("a pin names an item the catalog does not have, or has no finite weight"));
        }
        if self.boards.iter().any(|b| !b.weight.is_finite()) || !(self.cosaved_power.is_finite() && self.cosaved_power > 0.0) {
            return Err(bad("board weights and the co-saved power must be finite (the power positive)"));
        }
        Ok(())
    }
}

impl Query {
    /// Checks a query for a catalog of `rows` items and vectors of `dim` (see [`Lookup::check`]).
    pub fn check(&self, dim: usize, rows: usize) -> Result<()> {
        self.knobs.check().map_err(|e| bad(&e))?;
        let lookup = Lookup {
            pins: self.pins.clone(),
            items: Vec::new(),
            boards: self.boards.clone(),
            cosaved_power: self.knobs.cosaved_power,
        };
        lookup.check(rows)?;
        if self.interests.len() > MAX_VECTORS || self.sources.len() > MAX_VECTORS || self.nearest.len() > MAX_VECTORS {
            return Err(bad("too many vectors"));
        }
        for (v, w) in &self.interests {
            check_vector(v, dim, "an interest")?;
            if !w.is_finite() {
                return Err(bad("an interest's weight is not finite"));
            }
        }
        for (_, v, w) in &self.sources {
            check_vector(v, dim, "a source pin")?;
            if !w.is_finite() {
                return Err(bad("a source pin's weight is not finite"));
            }
        }
        for (_, v) in &self.nearest {
            check_vector(v, dim, "a text pin")?;
        }
        if let Some(c) = &self.centroid {
            check_vector(c, dim, "the centroid")?;
        }
        if self.similar_boards.iter().any(|&(j, v)| j as usize >= rows || !v.is_finite()) {
            return Err(bad("a similar-boards value names an item the catalog does not have, or is not finite"));
        }
        let finite = [
            self.focus_pins,
            self.cosaved_inv_std,
            self.names_inv_std,
            self.similar.0,
            self.similar.1,
            self.similar_mean.0,
            self.similar_mean.1,
        ];
        if finite.iter().any(|x| !x.is_finite()) {
            return Err(bad("a scale is not finite"));
        }
        Ok(())
    }
}

/// A message in its wire form (postcard).
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    postcard::to_allocvec(message).expect("messages serialise")
}

/// A message from its wire form; anything else is an `invalid_input` error naming `what`.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| Error::InvalidInput(format!("{what}: not a valid message ({e})")))
}

/// A catalog answering a front's steps: a whole catalog, or one shard of a set.
pub struct Shard {
    catalog: Catalog,
    prior: Prior,
}

impl Shard {
    /// Wraps a catalog.
    pub fn new(catalog: Catalog) -> Self {
        let prior = Prior::new(&catalog);
        Self { catalog, prior }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The popularity prior of its items.
    pub fn prior(&self) -> &Prior {
        &self.prior
    }

    /// The local index of whole-catalog item `i`, if this shard owns it.
    fn local(&self, i: u32) -> Option<u32> {
        let start = self.catalog.start() as u32;
        (i >= start && ((i - start) as usize) < self.catalog.len()).then(|| i - start)
    }

    /// Step 1 (the question checked first: see [`Lookup::check`]).
    pub fn lookup(&self, q: &Lookup) -> Result<LookupReply> {
        q.check(self.catalog.total_items())?;
        let c = &self.catalog;
        let items = q
            .items
            .iter()
            .filter_map(|&i| self.local(i).map(|j| (i, j)))
            .map(|(item, j)| {
                let mut vector = vec![0f32; c.dim()];
                c.vectors().working(j as usize, &mut vector);
                PinItem { item, vector, title: c.title(j as usize).to_string() }
            })
            .collect();
        let (cosaved, _) = super::signals::cosaved(c, &q.pins, q.cosaved_power);
        let (names, _) = super::signals::names(c, &q.boards);
        Ok(LookupReply { items, cosaved: Moments::of(&cosaved), names: Moments::of(&names) })
    }

    /// The request's signals over this shard's items.
    fn signals(&self, q: &Query) -> Signals {
        let c = &self.catalog;
        Signals::from_parts(
            c,
            &q.knobs,
            q.focus_pins,
            (&q.pins, q.cosaved_inv_std),
            (&q.boards, q.names_inv_std, &q.similar_boards),
            (&q.interests, q.similar),
            q.centroid.as_deref().map(|v| (v, q.similar_mean)),
        )
    }

    /// Step 2 (the query checked first: see [`Query::check`]).
    pub fn candidates(&self, q: &Query) -> Result<Candidates> {
        q.check(self.catalog.dim(), self.catalog.total_items())?;
        let c = &self.catalog;
        let kn = &q.knobs;
        let scoring = Scoring::new(self, q);
        let sig = &scoring.signals;
        let out: HashSet<u32> = q.out.iter().filter_map(|&i| self.local(i)).collect();
        // The free-text pins' nearest items: the best by the coarse cosine. With int8 vectors
        // that is the nearest by sign bits, gathered during the scoring pass (no pass of their
        // own); rotated4's coarse cosine has per-item terms, so there each pin takes a pass.
        let near: Vec<Similarity> =
            q.nearest.iter().filter_map(|(_, v)| Similarity::with_stats(c, &[(v.as_slice(), 1.0)], (0.0, 1.0))).collect();
        let by_bits = c.vectors().coarse_terms().is_none();
        let skip: Vec<u32> = out.iter().copied().collect();
        let mut gather: Vec<Nearest> = if by_bits {
            near.iter().map(|sim| Nearest { bits: sim.query_bits(0), closest: Closest::new(c.dim(), NEAREST, &skip) }).collect()
        } else {
            Vec::new()
        };
        let scores = super::coarse_scores(c, &self.prior, kn, sig, &out, &mut gather);
        let start = c.start() as u32;
        let scored = |j: u32, coarse: f32| scoring.scored(j, coarse);
        // The first `exact` scored, the rest by the coarse score alone.
        let split = |best: Vec<u32>, exact: u32| {
            let exact = (exact as usize).min(best.len());
            let rest = best[exact..].iter().map(|&j| (start + j, scores[j as usize])).collect();
            (best[..exact].iter().map(|&j| scored(j, scores[j as usize])).collect::<Vec<_>>(), rest)
        };
        let shortlist = kn.shortlist.max(1);
        let (best, shortlist_rest) = split(top_n(&scores, shortlist), q.exact);
        let (new, new_rest) = if kn.new_share > 0.0 {
            let only_new: Vec<f32> =
                scores.iter().zip(&self.prior.new).map(|(&s, &new)| if new { s } else { f32::NEG_INFINITY }).collect();
            split(top_n(&only_new, (shortlist / 4).max(1)), q.exact_new)
        } else {
            (Vec::new(), Vec::new())
        };
        let mut gathered = gather.into_iter().map(|n| n.closest.into_sorted());
        let nearest: Vec<Vec<(Scored, f32)>> = near
            .iter()
            .map(|sim| {
                let found = gathered.next().unwrap_or_else(|| {
                    let coarse = sim.coarse_all(c, out.iter().copied());
                    top_n(&coarse, NEAREST).into_iter().map(|j| (j, coarse[j as usize])).collect()
                });
                found.into_iter().map(|(j, coarse)| (scored(j, coarse), sim.exact(c, j as usize))).collect()
            })
            .collect();
        let levels = self.levels(&pickable(q, &best, &new, &nearest));
        Ok(Candidates { shortlist: best, shortlist_rest, new, new_rest, nearest, levels })
    }

    /// Step 3 (the query, when sent, checked first): the asked items this shard owns.
    pub fn more(&self, m: &More) -> Result<MoreReply> {
        if m.exact.len() + m.levels.len() > MAX_ASKED {
            return Err(bad(&format!("more than {MAX_ASKED} items asked")));
        }
        let rows = self.catalog.total_items();
        if m.exact.iter().any(|&(i, s)| i as usize >= rows || s.is_nan()) || m.levels.iter().any(|&i| i as usize >= rows) {
            return Err(bad("an asked item is not in the catalog, or its coarse score is NaN"));
        }
        let scored = match (&m.query, m.exact.is_empty()) {
            (_, true) => Vec::new(),
            (None, false) => return Err(bad("items to score without the query")),
            (Some(q), false) => {
                q.check(self.catalog.dim(), rows)?;
                let scoring = Scoring::new(self, q);
                m.exact.iter().filter_map(|&(i, coarse)| self.local(i).map(|j| scoring.scored(j, coarse))).collect()
            }
        };
        Ok(MoreReply { scored, levels: self.levels(&m.levels) })
    }

    /// The levels of the asked items this shard owns.
    pub fn levels(&self, items: &[u32]) -> Vec<Levels> {
        items
            .iter()
            .filter_map(|&i| {
                let j = self.local(i)?;
                let (levels, scale, offset) = self.catalog.vectors().levels(j as usize);
                let (id, title) = (self.catalog.id(j as usize).to_string(), self.catalog.title(j as usize).to_string());
                Some(Levels { item: i, id, title, levels, scale, offset })
            })
            .collect()
    }
}

/// What scores one item exactly for a query: its features and reason.
struct Scoring<'a> {
    shard: &'a Shard,
    signals: Signals,
    sources: Sources,
    weights: Weights,
}

impl<'a> Scoring<'a> {
    fn new(shard: &'a Shard, q: &Query) -> Self {
        let sources = Sources::prepare(&shard.catalog, &q.sources);
        Self { shard, signals: shard.signals(q), sources, weights: weights(&q.knobs, q.focus_pins) }
    }

    /// Local item `j`, whose coarse score is `coarse`.
    fn scored(&self, j: u32, coarse: f32) -> Scored {
        let (c, prior) = (&self.shard.catalog, &self.shard.prior);
        let f = self.signals.features(c, prior, j);
        let (signal, pin, board) = reason::explain(c, &self.signals, prior, &self.sources, j, &self.weights, &f);
        let item = c.start() as u32 + j;
        Scored { item, coarse, features: f, signal, pin: pin.map(|p| p as u32), board: board.map(|b| b as u32) }
    }
}

/// The items of one shard's candidates the front can pick: as the front's own pick scans the
/// merged candidates by the blend, its pool (the best [`Query::pool`]) and the first three
/// candidates of each owed slot hold only items that are among the same of some shard's own;
/// and every item nearest to a text pin (their fallback).
fn pickable(q: &Query, best: &[Scored], new: &[Scored], nearest: &[Vec<(Scored, f32)>]) -> Vec<u32> {
    let kn = &q.knobs;
    let w = weights(kn, q.focus_pins);
    let mut seen = HashSet::new();
    let mut ranked: Vec<(f32, &Scored)> =
        best.iter().chain(new).filter(|s| seen.insert(s.item)).map(|s| (blend(&w, &s.features), s)).collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.item.cmp(&b.1.item)));
    let mut want: Vec<u32> = ranked.iter().take(q.pool as usize).map(|(_, s)| s.item).collect();
    let source = |s: &Scored| s.pin.filter(|_| s.signal != Signal::BoardName);
    for &pin in &q.owed_pins {
        want.extend(ranked.iter().filter(|(_, s)| source(s) == Some(pin)).take(3).map(|(_, s)| s.item));
    }
    if q.new_slots > 0 {
        let eligible = ranked.iter().filter(|(_, s)| super::signals::takes_new_slot(kn, &s.features));
        want.extend(eligible.take(3 * q.new_slots as usize).map(|(_, s)| s.item));
    }
    want.extend(nearest.iter().flatten().map(|(s, _)| s.item));
    want.sort_unstable();
    want.dedup();
    want
}

/// The whole catalog as the front sees it: a catalog, or the front of a sharded set.
#[derive(Clone, Copy)]
pub enum Whole<'a> {
    /// A whole catalog (its own only shard).
    Catalog(&'a Catalog),
    /// The front of a set.
    Front(&'a Front),
}

impl Whole<'_> {
    /// The whole catalog's index of the item with this id.
    pub fn index_of(&self, id: &str) -> Option<u32> {
        match self {
            Whole::Catalog(c) => c.index_of(id),
            Whole::Front(f) => f.index_of(id),
        }
        .map(|i| i as u32)
    }

    /// A catalog in the set's vector coding (the catalog itself, or the front's sample): what
    /// moves a text's vector into the working space and makes query vectors.
    pub fn coding(&self) -> &Catalog {
        match self {
            Whole::Catalog(c) => c,
            Whole::Front(f) => f.sample(),
        }
    }

    /// The similarity sample: a catalog and the indices of the sample's items in it.
    pub fn sample(&self) -> (&Catalog, Vec<usize>) {
        match self {
            Whole::Catalog(c) => (c, sample_indices(c.len()).collect()),
            Whole::Front(f) => (f.sample(), (0..f.sample().len()).collect()),
        }
    }

    /// The whole catalog's boards.
    pub fn boards(&self) -> &BoardTable {
        match self {
            Whole::Catalog(c) => c.boards(),
            Whole::Front(f) => f.boards(),
        }
    }

    /// Items in the whole catalog.
    pub fn len(&self) -> usize {
        match self {
            Whole::Catalog(c) => c.len(),
            Whole::Front(f) => f.header().items,
        }
    }

    /// Shards the items are in (a whole catalog is its own only shard).
    pub fn shards(&self) -> usize {
        match self {
            Whole::Catalog(_) => 1,
            Whole::Front(f) => f.header().shards.len(),
        }
    }

    /// True for a catalog without items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The model that made the vectors.
    pub fn model_id(&self) -> &str {
        match self {
            Whole::Catalog(c) => &c.header().model_id,
            Whole::Front(f) => &f.header().model_id,
        }
    }

    /// The whole catalog's content id (a set's, for a front).
    pub fn catalog_id(&self) -> &str {
        match self {
            Whole::Catalog(c) => c.catalog_id(),
            Whole::Front(f) => &f.header().set,
        }
    }

    /// Refuses an encoder other than the one that made the vectors.
    pub fn check_model(&self, space_id: &str) -> Result<()> {
        if self.model_id() != space_id {
            return Err(Error::ModelMismatch { catalog: self.model_id().to_string(), encoder: space_id.to_string() });
        }
        Ok(())
    }
}

/// One of the whole catalog's candidates as the shards sent it: scored, or by its coarse score
/// alone (its features still to be asked for: [`More`]).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub item: u32,
    pub coarse: f32,
    pub scored: Option<Scored>,
}

/// The candidates the front ranks, picked from every shard's as a whole catalog picks them:
/// the best `shortlist` by the coarse score, then the best new items (an item may be both).
pub(crate) fn cut(replies: &mut [Candidates], kn: &Knobs) -> Vec<Entry> {
    let shortlist = kn.shortlist.max(1);
    let entries = |scored: Vec<Scored>, rest: Vec<(u32, f32)>| {
        scored
            .into_iter()
            .map(|s| Entry { item: s.item, coarse: s.coarse, scored: Some(s) })
            .chain(rest.into_iter().map(|(item, coarse)| Entry { item, coarse, scored: None }))
    };
    // Best by coarse score, ties to the lower index: top_n's order.
    let cut = |mut all: Vec<Entry>, n: usize| {
        all.sort_by(|a, b| b.coarse.total_cmp(&a.coarse).then(a.item.cmp(&b.item)));
        all.truncate(n);
        all
    };
    let best = replies
        .iter_mut()
        .flat_map(|r| entries(std::mem::take(&mut r.shortlist), std::mem::take(&mut r.shortlist_rest)))
        .collect();
    let new = replies.iter_mut().flat_map(|r| entries(std::mem::take(&mut r.new), std::mem::take(&mut r.new_rest))).collect();
    let mut all = cut(best, shortlist);
    all.extend(cut(new, (shortlist / 4).max(1)));
    all
}

/// The cut's candidates, each once, ordered by the blend (exact rescoring may have reordered
/// them): those with features only (the ones still without are an answer's lost shard's).
pub(crate) fn rank(cut: Vec<Entry>, kn: &Knobs, focus_pins: f32) -> Vec<Scored> {
    let mut seen = HashSet::new();
    let w = weights(kn, focus_pins);
    let mut ranked: Vec<(f32, Scored)> =
        cut.into_iter().filter_map(|e| e.scored).filter(|s| seen.insert(s.item)).map(|s| (blend(&w, &s.features), s)).collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.item.cmp(&b.1.item)));
    ranked.into_iter().map(|(_, s)| s).collect()
}

/// The items nearest to free-text pin `k` of the query over every shard: the best
/// [`NEAREST`] by the coarse cosine, ordered by the exact one (ties to the lower index).
pub(crate) fn nearest(replies: &[Candidates], k: usize) -> Vec<Scored> {
    let mut all: Vec<&(Scored, f32)> = replies.iter().filter_map(|r| r.nearest.get(k)).flatten().collect();
    all.sort_by(|a, b| b.0.coarse.total_cmp(&a.0.coarse).then(a.0.item.cmp(&b.0.item)));
    all.truncate(NEAREST);
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.item.cmp(&b.0.item)));
    all.into_iter().map(|(s, _)| s.clone()).collect()
}

/// Cosines between candidates from their [`Levels`], exactly as the catalog computes them
/// (`Vectors::item_cosine`).
pub(crate) struct CandidateVectors {
    levels: HashMap<u32, Levels>,
    mean_sq: Option<f32>,
}

impl CandidateVectors {
    /// `mean_sq`: the coding's `‖Rμ‖²` (rotated4), `None` for int8.
    pub fn new(levels: HashMap<u32, Levels>, coding: &Catalog) -> Self {
        Self { levels, mean_sq: coding.vectors().mean_sq() }
    }

    /// True when item `i`'s levels (and display fields) are at hand.
    pub fn has(&self, i: u32) -> bool {
        self.levels.contains_key(&i)
    }

    /// Item `i`'s id and title ("" for an item whose levels are missing).
    pub fn display(&self, i: u32) -> (&str, &str) {
        self.levels.get(&i).map_or(("", ""), |l| (&l.id, &l.title))
    }

    /// The cosine of items `a` and `b` (0 for an item whose levels are missing).
    pub fn cosine(&self, a: u32, b: u32) -> f32 {
        let (Some(x), Some(y)) = (self.levels.get(&a), self.levels.get(&b)) else { return 0.0 };
        crate::catalog::levels_cosine((&x.levels, x.scale, x.offset), (&y.levels, y.scale, y.offset), self.mean_sq)
    }
}
