//! The signals a ranking blends, per request, each z-scaled so that its weight means the same on
//! any catalog:
//! - **co-saved**: co-occurrence neighbours of the pins (Pixie-like), recency-weighted;
//! - **similar**: cosine to the best-matching interest of the focus board (PinnerSage-like), and
//!   to the mean of its pins;
//! - **board name**: what other users' boards with the same (normalised) name hold;
//! - **similar boards**: what the catalog's boards most like the request's pins hold (board
//!   nearest neighbours, as user-based collaborative filtering finds similar users);
//! - **prior**: log popularity, z-scaled over the items that have any, and a separate score for
//!   items nobody has saved yet, so that a new item is scored on what it has (its content) rather
//!   than ranked below every item with interactions.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::fanout::{BoardRef, PinRef};
use super::profile::Profile;
use super::Knobs;
use crate::catalog::{BoardTable, Catalog, QueryVector};
use crate::vector::{hamming_block, keep_best, Closest, CoarseTerms, HammingCosine};

/// The features of one candidate, in [`FEATURES`] order: what the fitted blend weighs.
pub type Features = [f32; 7];

/// Names of the [`Features`], as the fit reports them.
pub const FEATURES: [&str; 7] = ["co_saved", "similar", "similar_mean", "board_name", "popular", "new", "similar_boards"];

/// Per-catalog statistics a request's signals need: the popularity prior.
#[derive(Debug, Clone)]
pub struct Prior {
    /// z-scaled log popularity over the items that have any; 0 for the others.
    pub popular: Vec<f32>,
    /// Items without any interaction data (nobody saved them).
    pub new: Vec<bool>,
}

impl Prior {
    /// Reads the catalog's popularity table.
    pub fn new(catalog: &Catalog) -> Self {
        let pop = catalog.popularity();
        // A shard scales by the whole catalog's statistics, which its header carries.
        let (mean, std) = catalog.shard().map_or_else(|| crate::catalog::shard::prior_stats(&pop), |s| s.prior);
        let popular = pop.iter().map(|&p| if p > 0.0 && std > 0.0 { (p.ln_1p() - mean) / std } else { 0.0 }).collect();
        Self { popular, new: pop.iter().map(|&p| p <= 0.0).collect() }
    }
}

/// Sums of a sparse signal's values and their squares over some items (every other item has
/// 0): what its standard deviation over the whole catalog is made from, shard by shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Σ v.
    pub sum: f64,
    /// Σ v².
    pub sum_sq: f64,
}

impl Moments {
    /// The sums of `values`.
    pub fn of(values: &HashMap<u32, f32>) -> Self {
        let (sum, sum_sq) = values.values().fold((0f64, 0f64), |(a, b), &v| (a + v as f64, b + (v as f64).powi(2)));
        Self { sum, sum_sq }
    }

    /// The sums of two parts.
    pub fn plus(self, other: Self) -> Self {
        Self { sum: self.sum + other.sum, sum_sq: self.sum_sq + other.sum_sq }
    }

    /// `1 / std` over `n` items (0 when the signal is flat).
    pub fn inv_std(&self, n: usize) -> f32 {
        let n = n.max(1) as f64;
        let mean = self.sum / n;
        let var = (self.sum_sq / n - mean * mean).max(0.0);
        if var > 0.0 {
            (1.0 / var.sqrt()) as f32
        } else {
            0.0
        }
    }
}

/// A working-space vector and its weight (an interest).
pub type WeightedVector = (Vec<f32>, f32);

/// Per-request sparse signal: item → value, and its z-scale over the catalog.
pub struct Sparse {
    /// Raw values of the items that have the signal.
    pub values: HashMap<u32, f32>,
    /// `1 / std` over the catalog (0 when the signal is flat).
    pub inv_std: f32,
}

impl Sparse {
    /// The z-score of item `j` (the constant −mean/std shift is dropped: it moves every item alike).
    pub fn z(&self, j: u32) -> f32 {
        self.values.get(&j).map_or(0.0, |v| v * self.inv_std)
    }
}

/// Items per block of the coarse pass: a block's distances and values stay in cache while
/// every query streams over it.
const BLOCK: usize = 256;

/// One weighted query vector, prepared for the catalog's vectors.
#[derive(Clone)]
struct Query {
    v: QueryVector,
    weight: f32,
}

/// An embedding signal: the best weighted cosine between an item and some query vectors,
/// z-scaled over the catalog.
#[derive(Clone)]
pub struct Similarity {
    queries: Vec<Query>,
    /// `cos(π·h/dim)` for a Hamming distance `h`: the cosine that sign bits suggest.
    cos: HammingCosine,
    mean: f32,
    inv_std: f32,
}

impl Similarity {
    /// The signal of `vectors` (working-space vectors and their weights) over `catalog`'s items,
    /// z-scaled by `(mean, 1 / std)` (see [`Similarity::stats`]); `None` without vectors.
    pub fn with_stats(catalog: &Catalog, vectors: &[(&[f32], f32)], (mean, inv_std): (f32, f32)) -> Option<Self> {
        if vectors.is_empty() {
            return None;
        }
        let vs = catalog.vectors();
        let queries = vectors.iter().map(|(v, weight)| Query { v: vs.query(v), weight: *weight }).collect();
        let d = catalog.dim();
        Some(Self { queries, cos: HammingCosine::new(d), mean, inv_std })
    }

    /// `(mean, 1 / std)` of the signal of `vectors` over the items `sample` of `catalog`: the
    /// whole catalog's deterministic sample (a full exact pass is what the coarse pass avoids),
    /// which a sharded catalog's front holds.
    pub fn stats(catalog: &Catalog, sample: &[usize], vectors: &[(&[f32], f32)]) -> (f32, f32) {
        let Some(me) = Self::with_stats(catalog, vectors, (0.0, 0.0)) else { return (0.0, 0.0) };
        let values: Vec<f32> = sample.iter().map(|&j| me.exact(catalog, j)).collect();
        let (mean, std) = mean_std(&values);
        (mean, if std > 0.0 { 1.0 / std } else { 0.0 })
    }

    /// The raw coarse value (from sign bits) of every item, `-∞` for the items of `skip` (a
    /// request's few saved items: set one by one, not looked up for every item of the catalog).
    pub fn coarse_all(&self, catalog: &Catalog, skip: impl IntoIterator<Item = u32>) -> Vec<f32> {
        let none = vec![false; catalog.len()];
        let mut coarse = vec![0f32; catalog.len()];
        let raw = Self { mean: 0.0, inv_std: 1.0, ..self.clone() };
        raw.add_coarse(catalog, (1.0, 1.0), &none, &mut coarse, &mut []);
        for j in skip {
            if let Some(c) = coarse.get_mut(j as usize) {
                *c = f32::NEG_INFINITY;
            }
        }
        coarse
    }

    /// Query `k`'s sign bits.
    pub fn query_bits(&self, k: usize) -> &[u64] {
        self.queries[k].v.bits()
    }

    /// The exact raw value of item `j`: the best weighted cosine.
    pub fn exact(&self, catalog: &Catalog, j: usize) -> f32 {
        let mut best = -1f32;
        catalog.vectors().each_cosine(j, self.queries.iter().map(|q| &q.v), |k, c| {
            let x = self.queries[k].weight * c;
            if x > best {
                best = x;
            }
        });
        best
    }

    /// Adds `w × z(coarse similarity)` to every item's score: the hot loop over the catalog.
    /// Items go in blocks: each query's bits stay in registers while a block streams past.
    /// New items (`is_new`) weigh it `w_new` instead.
    /// `nearest`: query bits whose nearest items to gather on the way (see [`Closest`]), reusing
    /// an identical query's distances.
    fn add_coarse(
        &self,
        catalog: &Catalog,
        (w, w_new): (f32, f32),
        is_new: &[bool],
        scores: &mut [f32],
        nearest: &mut [Nearest],
    ) {
        let words = catalog.dim().div_ceil(64);
        let ab = |w: f32| (w * self.inv_std, -w * self.mean * self.inv_std);
        let (warm, new) = (ab(w), ab(w_new));
        let mut best = [0f32; BLOCK];
        let mut dist = [0u32; BLOCK];
        let vs = catalog.vectors();
        let terms = vs.coarse_terms();
        let blocks = scores.chunks_mut(BLOCK).zip(catalog.all_bits().chunks(BLOCK * words)).zip(is_new.chunks(BLOCK));
        // One weight, not negative, for every query (the default importance power gives every
        // interest the same) and int8's coarse cosine cos(π·h/dim), which falls as h grows (the
        // polynomial too: checked for every h of dimensions 240 to 768): the best query is the
        // nearest in Hamming distance, so one cosine per item instead of one per query.
        let same_weight = self.queries[0].weight >= 0.0 && self.queries.iter().all(|q| q.weight == self.queries[0].weight);
        let mut min_dist = [0u32; BLOCK];
        let same: Vec<Option<usize>> = nearest.iter().map(|n| self.queries.iter().position(|q| q.v.bits() == n.bits)).collect();
        for (b, ((block, bits), is_new)) in blocks.enumerate() {
            let best = &mut best[..block.len()];
            let dist = &mut dist[..block.len()];
            let first = (b * BLOCK) as u32;
            if terms.is_none() && same_weight {
                let min_dist = &mut min_dist[..block.len()];
                min_dist.fill(u32::MAX);
                for (k, q) in self.queries.iter().enumerate() {
                    hamming_block(q.v.bits(), bits, dist);
                    min_dist.iter_mut().zip(dist.iter()).for_each(|(m, &h)| *m = (*m).min(h));
                    offer_same(nearest, &same, k, first, dist);
                }
                best.fill(-1.0);
                keep_best(self.cos, CoarseTerms::Plain { weight: self.queries[0].weight }, min_dist, best);
            } else {
                self.best_of_queries(terms, b * BLOCK, bits, best, dist, (nearest, &same));
            }
            for (n, _) in nearest.iter_mut().zip(&same).filter(|(_, s)| s.is_none()) {
                hamming_block(n.bits, bits, dist);
                n.closest.offer(first, dist);
            }
            for ((s, &bst), &nw) in block.iter_mut().zip(best.iter()).zip(is_new) {
                let (a, b) = if nw { new } else { warm };
                *s += a * bst + b;
            }
        }
    }

    /// Each item's best weighted coarse cosine over the queries, one query at a time (`first`:
    /// the block's first item; `dist`: scratch).
    fn best_of_queries(
        &self,
        terms: Option<(&[f32], &[f32])>,
        first: usize,
        bits: &[u64],
        best: &mut [f32],
        dist: &mut [u32],
        (nearest, same): (&mut [Nearest], &[Option<usize>]),
    ) {
        best.fill(-1.0);
        let items = first..first + best.len();
        for (k, q) in self.queries.iter().enumerate() {
            hamming_block(q.v.bits(), bits, dist);
            offer_same(nearest, same, k, first as u32, dist);
            let terms = match terms {
                None => CoarseTerms::Plain { weight: q.weight },
                Some((a, spread)) => {
                    let (offset, norm) = q.v.coarse_parts();
                    CoarseTerms::Rotated {
                        offset: q.weight * offset,
                        weight: q.weight,
                        scale: q.weight * norm,
                        a: &a[items.clone()],
                        spread: &spread[items.clone()],
                    }
                }
            };
            keep_best(self.cos, terms, dist, best);
        }
    }

    fn z(&self, x: f32) -> f32 {
        (x - self.mean) * self.inv_std
    }
}

/// A query whose items nearest by sign bits the coarse pass gathers as it goes (a free-text
/// pin's: with int8 vectors, the coarse cosine's order; see [`Closest`]).
pub struct Nearest<'a> {
    /// The query's sign bits.
    pub bits: &'a [u64],
    /// What it has gathered.
    pub closest: Closest,
}

/// Offers a block's distances from query `k` to every nearest query identical to it.
#[inline]
fn offer_same(nearest: &mut [Nearest], same: &[Option<usize>], k: usize, first: u32, dist: &[u32]) {
    for (n, _) in nearest.iter_mut().zip(same).filter(|(_, s)| **s == Some(k)) {
        n.closest.offer(first, dist);
    }
}

/// Gathers `nearest` in a pass of their own (when no embedding signal makes one).
fn nearest_pass(catalog: &Catalog, nearest: &mut [Nearest]) {
    let words = catalog.dim().div_ceil(64);
    let mut dist = [0u32; BLOCK];
    for (b, bits) in catalog.all_bits().chunks(BLOCK * words).enumerate() {
        let dist = &mut dist[..bits.len() / words];
        for n in nearest.iter_mut() {
            hamming_block(n.bits, bits, dist);
            n.closest.offer((b * BLOCK) as u32, dist);
        }
    }
}

/// A request's signals over the catalog.
pub struct Signals {
    /// `w_board_name` after the decay with the focus board's pin count.
    pub name_weight: f32,
    /// Co-saved values.
    pub cosaved: Sparse,
    /// For each co-saved item, the pin (index into `Profile::pins`) that gave it the most.
    pub cosaved_pin: HashMap<u32, (usize, f32)>,
    /// Board-name values.
    pub names: Sparse,
    /// For each board-name item, the board whose name gave it the most.
    pub names_board: HashMap<u32, (usize, f32)>,
    /// Similar-boards values (this catalog's indices).
    pub boards: Sparse,
    similar: Option<Similarity>,
    similar_mean: Option<Similarity>,
}

/// The pins and named boards of a profile as the shards see them (catalog pins of boards that
/// weigh anything; boards with a name).
pub fn refs(profile: &Profile) -> (Vec<PinRef>, Vec<BoardRef>) {
    let pins = profile
        .pins
        .iter()
        .enumerate()
        .filter_map(|(pi, p)| p.item.map(|item| PinRef { pin: pi as u32, item, weight: p.weight }))
        .collect();
    let boards = profile
        .named_boards()
        .map(|(b, weight)| BoardRef { board: b as u32, name: profile.boards[b].name.clone(), weight })
        .collect();
    (pins, boards)
}

/// The interests as the similarity signal weighs them.
pub fn interest_vectors<'a>(profile: &'a Profile, kn: &Knobs) -> Vec<(&'a [f32], f32)> {
    profile.interests.iter().map(|it| (it.vector.as_slice(), it.importance.powf(kn.importance_power))).collect()
}

impl Signals {
    /// Computes every signal the knobs give a weight over a whole catalog (its own statistics).
    pub fn new(catalog: &Catalog, profile: &Profile, kn: &Knobs) -> Self {
        let n = catalog.len();
        let (pins, boards) = refs(profile);
        let (cosaved_values, _) = cosaved(catalog, &pins, kn.cosaved_power);
        let (name_values, _) = names(catalog, &boards);
        let board_values =
            if kn.w_similar_boards != 0.0 { similar_boards(catalog.boards(), &pins, kn.similar_boards) } else { Vec::new() };
        let sample: Vec<usize> = crate::catalog::shard::sample_indices(n).collect();
        let interests = interest_vectors(profile, kn);
        let centroid = profile.centroid.as_deref();
        let stats = |v: &[(&[f32], f32)]| Similarity::stats(catalog, &sample, v);
        let interests_owned: Vec<WeightedVector> = interests.iter().map(|(v, w)| (v.to_vec(), *w)).collect();
        Self::from_parts(
            catalog,
            kn,
            profile.focus_pin_count(),
            (&pins, Moments::of(&cosaved_values).inv_std(n)),
            (&boards, Moments::of(&name_values).inv_std(n), &board_values),
            (&interests_owned, stats(&interests)),
            centroid.map(|c| (c, stats(&[(c, 1.0)]))),
        )
    }

    /// The signals over `catalog`'s items (a whole catalog, or one shard) from the request's
    /// parts and the whole catalog's scales: pins and `1 / std` of the co-saved signal; named
    /// boards, that of the board-name signal and the similar-boards values (whole-catalog
    /// indices, see [`similar_boards`]); the interests and the centroid with the similarity
    /// statistics of each.
    pub fn from_parts(
        catalog: &Catalog,
        kn: &Knobs,
        focus_pins: f32,
        (pins, cosaved_inv_std): (&[PinRef], f32),
        (boards, names_inv_std, board_values): (&[BoardRef], f32, &[(u32, f32)]),
        (interests, similar): (&[WeightedVector], (f32, f32)),
        centroid: Option<(&[f32], (f32, f32))>,
    ) -> Self {
        let (cosaved_values, cosaved_pin) =
            if kn.w_cosaved != 0.0 { cosaved(catalog, pins, kn.cosaved_power) } else { Default::default() };
        let (name_values, names_board) = if kn.w_board_name != 0.0 { names(catalog, boards) } else { Default::default() };
        let interests: Vec<(&[f32], f32)> = interests.iter().map(|(v, w)| (v.as_slice(), *w)).collect();
        // This catalog's items among the values (a shard owns `start..start + len`).
        let (start, len) = (catalog.start() as u32, catalog.len() as u32);
        let board_values = if kn.w_similar_boards != 0.0 {
            board_values.iter().filter(|(j, _)| j.wrapping_sub(start) < len).map(|&(j, v)| (j - start, v)).collect()
        } else {
            HashMap::new()
        };
        Signals {
            // The z-scaling cancels any factor inside the name signal, so the decay with the focus
            // board's pin count applies to its weight.
            name_weight: weights(kn, focus_pins).warm[3],
            cosaved: Sparse { values: cosaved_values, inv_std: cosaved_inv_std },
            cosaved_pin,
            names: Sparse { values: name_values, inv_std: names_inv_std },
            names_board,
            // Scaled already: see similar_boards.
            boards: Sparse { values: board_values, inv_std: 1.0 },
            similar: kn.weighs_similar().then(|| Similarity::with_stats(catalog, &interests, similar)).flatten(),
            similar_mean: kn
                .weighs_similar_mean()
                .then(|| centroid.and_then(|(c, stats)| Similarity::with_stats(catalog, &[(c, 1.0)], stats)))
                .flatten(),
        }
    }

    /// Whether any embedding signal is on (then the shortlist is rescored exactly).
    pub fn has_similarity(&self) -> bool {
        self.similar.is_some() || self.similar_mean.is_some()
    }

    /// Adds every signal to `scores` (one per catalog item; similarity from sign bits).
    /// New items (`is_new`) weigh similarity by the knobs' new-item weights.
    ///
    /// `nearest`: query bits whose nearest items to gather on the way (see [`Closest`]): with
    /// the first embedding signal's pass, or in a pass of their own when neither is weighed.
    pub fn add_coarse(&self, catalog: &Catalog, kn: &Knobs, is_new: &[bool], scores: &mut [f32], nearest: &mut [Nearest]) {
        let pairs =
            [(&self.similar, (kn.w_similar, kn.w_new_similar)), (&self.similar_mean, (kn.w_similar_mean, kn.w_new_similar_mean))];
        let mut gathered = nearest.is_empty();
        for (sim, w) in pairs {
            if let Some(sim) = sim {
                sim.add_coarse(catalog, w, is_new, scores, if gathered { &mut [] } else { &mut *nearest });
                gathered = true;
            }
        }
        if !gathered {
            nearest_pass(catalog, nearest);
        }
        for (&j, &v) in &self.cosaved.values {
            scores[j as usize] += kn.w_cosaved * v * self.cosaved.inv_std;
        }
        for (&j, &v) in &self.names.values {
            scores[j as usize] += self.name_weight * v * self.names.inv_std;
        }
        for (&j, &v) in &self.boards.values {
            scores[j as usize] += kn.w_similar_boards * v * self.boards.inv_std;
        }
    }

    /// `(similar, similar_mean)` z-scores of item `j` (exact cosines).
    pub fn similarity(&self, catalog: &Catalog, j: usize) -> (f32, f32) {
        let part = |s: &Option<Similarity>| s.as_ref().map_or(0.0, |s| s.z(s.exact(catalog, j)));
        (part(&self.similar), part(&self.similar_mean))
    }

    /// Item `j`'s features (exact similarity), in [`FEATURES`] order; the board-name feature is
    /// the undecayed z-score.
    pub fn features(&self, catalog: &Catalog, prior: &Prior, j: u32) -> Features {
        let (sim, mean) = self.similarity(catalog, j as usize);
        let new = if prior.new[j as usize] { 1.0 } else { 0.0 };
        [self.cosaved.z(j), sim, mean, self.names.z(j), prior.popular[j as usize], new, self.boards.z(j)]
    }
}

/// The blend's weights in [`FEATURES`] order: one set for items with interaction data and one
/// for new items, which have only content to be ranked by (and `w_new` against the others).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// For items somebody saved.
    pub warm: Features,
    /// For new items (feature `new` is 1).
    pub new: Features,
}

impl Weights {
    /// The weights that apply to a candidate with features `f`.
    pub fn of(&self, f: &Features) -> &Features {
        if f[5] > 0.5 {
            &self.new
        } else {
            &self.warm
        }
    }
}

/// The knobs' weights, the board name decayed for `focus_pins`.
pub fn weights(kn: &Knobs, focus_pins: f32) -> Weights {
    let name = kn.w_board_name / (1.0 + focus_pins / kn.name_half_pins);
    Weights {
        warm: [kn.w_cosaved, kn.w_similar, kn.w_similar_mean, name, kn.w_popular, 0.0, kn.w_similar_boards],
        new: [kn.w_cosaved, kn.w_new_similar, kn.w_new_similar_mean, name, kn.w_popular, kn.w_new, kn.w_similar_boards],
    }
}

/// A new item's content score: its similarity z-scores averaged by the new items' weights
/// (0 when both weights are 0), what [`Knobs::new_slot_min_z`] is compared with.
pub fn new_content_z(kn: &Knobs, f: &Features) -> f32 {
    let total = kn.w_new_similar.abs() + kn.w_new_similar_mean.abs();
    if total == 0.0 {
        return 0.0;
    }
    (kn.w_new_similar * f[1] + kn.w_new_similar_mean * f[2]) / total
}

/// Whether a candidate may fill a slot kept for new items: it is new (feature `new`) and its
/// content score reaches [`Knobs::new_slot_min_z`]. One rule for a request and for the fit.
pub fn takes_new_slot(kn: &Knobs, f: &Features) -> bool {
    f[5] > 0.5 && new_content_z(kn, f) >= kn.new_slot_min_z
}

/// The blended score of a candidate.
pub fn blend(w: &Weights, f: &Features) -> f32 {
    w.of(f).iter().zip(f).map(|(a, b)| a * b).sum()
}

/// Co-saved values `(Σ_pins (w·W)^p)^(1/p)` of `catalog`'s items and, per item, the pin that
/// gave it the most. A pin's row is its whole-catalog index (a shard holds a row for every item
/// of the catalog, with the neighbours it owns).
pub fn cosaved(catalog: &Catalog, pins: &[PinRef], p: f32) -> (HashMap<u32, f32>, HashMap<u32, (usize, f32)>) {
    let mut acc: HashMap<u32, f32> = HashMap::new();
    let mut best: HashMap<u32, (usize, f32)> = HashMap::new();
    let table = catalog.neighbours();
    let rows = catalog.total_items();
    for pin in pins.iter().filter(|p| (p.item as usize) < rows) {
        let pi = pin.pin as usize;
        for (j, w) in table.of(pin.item as usize) {
            let x = pin.weight * w;
            *acc.entry(j).or_default() += x.powf(p);
            let b = best.entry(j).or_insert((pi, x));
            if x > b.1 {
                *b = (pi, x);
            }
        }
    }
    if p != 1.0 {
        acc.values_mut().for_each(|v| *v = v.powf(1.0 / p));
    }
    (acc, best)
}

/// Board-name values of `catalog`'s items (the share of same-named boards holding them, by
/// board weight) and, per item, the board that gave it the most.
pub fn names(catalog: &Catalog, boards: &[BoardRef]) -> (HashMap<u32, f32>, HashMap<u32, (usize, f32)>) {
    let mut values: HashMap<u32, f32> = HashMap::new();
    let mut best: HashMap<u32, (usize, f32)> = HashMap::new();
    for b in boards {
        if let Some((items, weights)) = catalog.names().lookup(&b.name) {
            for (&j, &x) in items.iter().zip(weights) {
                let (bi, w) = (b.board as usize, b.weight);
                *values.entry(j).or_default() += w * x;
                let e = best.entry(j).or_insert((bi, w * x));
                if w * x > e.1 {
                    *e = (bi, w * x);
                }
            }
        }
    }
    (values, best)
}

/// Similar-boards values of the whole catalog's items, ascending by item: the `k` boards most
/// like the request's pins, each by the weight of the pins it holds over the square root of its
/// length (a cosine with the pins), vote for what they hold by their similarity squared; an
/// item's value is its votes over the best item's, in (0, 1]. Scaled by the request's best item
/// rather than z-scaled over the catalog: on movielens' dev split the z-scaled signal lowered
/// NDCG at every weight, this one does not (README, Quality). The pins' own items get no votes
/// (they are saved), and a board holding nothing but pins — the request's own board, or a copy
/// of it — is not one of the `k`: it has nothing to add.
pub fn similar_boards(table: &BoardTable, pins: &[PinRef], k: usize) -> Vec<(u32, f32)> {
    if table.is_empty() || k == 0 {
        return Vec::new();
    }
    let mut weight: HashMap<u32, f32> = HashMap::new();
    for p in pins.iter().filter(|p| p.weight > 0.0) {
        *weight.entry(p.item).or_default() += p.weight;
    }
    // In item order, and the boards below in board order: the same sums in the same order on a
    // front and in a whole catalog (a sharded answer equals the unsharded one).
    let mut pin_items: Vec<(u32, f32)> = weight.iter().map(|(&i, &w)| (i, w)).collect();
    pin_items.sort_unstable_by_key(|&(i, _)| i);
    // Per board: the weight of the pins it holds, and how many of them.
    let mut overlap: HashMap<u32, (f32, usize)> = HashMap::new();
    for &(i, w) in &pin_items {
        for &b in table.boards_of(i as usize) {
            let o = overlap.entry(b).or_default();
            o.0 += w;
            o.1 += 1;
        }
    }
    let mut similar: Vec<(u32, f32)> = overlap
        .into_iter()
        .filter_map(|(b, (w, count))| {
            let len = table.items_of(b as usize).len();
            (count < len).then(|| (b, w / (len as f32).sqrt()))
        })
        .collect();
    let by_similarity = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if similar.len() > k {
        similar.select_nth_unstable_by(k, by_similarity);
        similar.truncate(k);
    }
    similar.sort_unstable_by_key(|&(b, _)| b);
    let mut values: HashMap<u32, f32> = HashMap::new();
    for (b, s) in similar {
        for &j in table.items_of(b as usize).iter().filter(|j| !weight.contains_key(j)) {
            *values.entry(j).or_default() += s * s;
        }
    }
    let best = values.values().copied().fold(0f32, f32::max);
    if best <= 0.0 {
        return Vec::new();
    }
    let mut out: Vec<(u32, f32)> = values.into_iter().map(|(j, v)| (j, v / best)).collect();
    out.sort_unstable_by_key(|&(j, _)| j);
    out
}

/// Mean and population standard deviation (0 and 0 for an empty slice).
pub fn mean_std(xs: &[f32]) -> (f32, f32) {
    let n = xs.len().max(1) as f32;
    let mean = xs.iter().sum::<f32>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rank::select::top_n;

    fn pin(item: u32, weight: f32) -> PinRef {
        PinRef { pin: item, item, weight }
    }

    /// `n` items with random unit vectors of `dim` components (int8-coded), no boards.
    fn random_catalog(n: usize, dim: usize, seed: u64) -> Catalog {
        let mut state = seed;
        let mut vectors: Vec<f32> = (0..n * dim)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        for row in vectors.chunks_mut(dim) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            row.iter_mut().for_each(|x| *x /= norm);
        }
        let items =
            (0..n).map(|i| crate::catalog::ItemRecord { id: format!("i{i}"), title: format!("item {i}"), ..Default::default() });
        crate::catalog::build(items.collect(), &vectors, dim, &[], "test-model", &Default::default()).unwrap().0
    }

    /// Item `j`'s stored vector, as a query would send it.
    fn working(c: &Catalog, j: usize) -> Vec<f32> {
        let mut v = vec![0f32; c.dim()];
        c.vectors().working(j, &mut v);
        v
    }

    #[test]
    fn the_coarse_pass_gathers_the_nearest_items_that_a_pass_of_their_own_finds() {
        // 1000 items: three whole blocks and a short one; queries near items 5, 700 and 990.
        let c = random_catalog(1000, 240, 7);
        assert!(c.vectors().coarse_terms().is_none(), "int8: the coarse cosine is the sign bits' own");
        let (a, b, t) = (working(&c, 5), working(&c, 700), working(&c, 990));
        // Saved items are never returned: the queries' own items among them.
        let skip = [5u32, 990, 3, 999];
        // What a pass of its own gives: every item's coarse cosine, then the best 32.
        let reference = |v: &[f32]| -> Vec<(u32, f32)> {
            let sim = Similarity::with_stats(&c, &[(v, 1.0)], (0.0, 1.0)).unwrap();
            let coarse = sim.coarse_all(&c, skip);
            top_n(&coarse, 32).into_iter().map(|j| (j, coarse[j as usize])).collect()
        };
        let texts: [&[f32]; 3] = [&b, &t, &a];
        let want: Vec<_> = texts.iter().map(|v| reference(v)).collect();
        assert_eq!(want[0].len(), 32);
        let none = vec![false; c.len()];
        // Same weights (the nearest-query shortcut) and different ones (a pass per query); the
        // text pins `b` (one of the signal's queries) and `t` (not one).
        for weights in [(1.0, 1.0), (1.0, 0.6)] {
            let sim = Similarity::with_stats(&c, &[(&a, weights.0), (&b, weights.1)], (0.1, 2.0)).unwrap();
            let singles: Vec<Similarity> =
                texts.iter().map(|v| Similarity::with_stats(&c, &[(v, 1.0)], (0.0, 1.0)).unwrap()).collect();
            let mut nearest: Vec<Nearest> =
                singles.iter().map(|s| Nearest { bits: s.query_bits(0), closest: Closest::new(c.dim(), 32, &skip) }).collect();
            let (mut plain, mut gathering) = (vec![0.5f32; c.len()], vec![0.5f32; c.len()]);
            sim.add_coarse(&c, (0.7, 0.3), &none, &mut plain, &mut []);
            sim.add_coarse(&c, (0.7, 0.3), &none, &mut gathering, &mut nearest);
            assert_eq!(plain, gathering, "gathering leaves the scores alone");
            let got: Vec<_> = nearest.into_iter().map(|n| n.closest.into_sorted()).collect();
            assert_eq!(got, want, "weights {weights:?}");
        }
        // Neither embedding signal weighed: a pass of their own.
        let singles: Vec<Similarity> =
            texts.iter().map(|v| Similarity::with_stats(&c, &[(v, 1.0)], (0.0, 1.0)).unwrap()).collect();
        let mut nearest: Vec<Nearest> =
            singles.iter().map(|s| Nearest { bits: s.query_bits(0), closest: Closest::new(c.dim(), 32, &skip) }).collect();
        nearest_pass(&c, &mut nearest);
        assert_eq!(nearest.into_iter().map(|n| n.closest.into_sorted()).collect::<Vec<_>>(), want);
    }

    #[test]
    fn similar_boards_vote_for_what_boards_like_the_pins_hold() {
        // A: 2 new to the pins; B: 3 and 4; C: unrelated; D: the request's own board.
        let table = BoardTable::new(&[vec![0, 1, 2], vec![0, 1, 3, 4], vec![5, 6], vec![0, 1]], 7);
        let pins = [pin(0, 1.0), pin(1, 1.0)];
        // A's similarity 2/√3, B's 2/√4: A's item leads (1), B's items get (1 / (4/3)) of it.
        let v = similar_boards(&table, &pins, 50);
        assert_eq!(v.iter().map(|x| x.0).collect::<Vec<_>>(), vec![2, 3, 4], "the pins' own items and C's get no votes");
        assert_eq!(v[0].1, 1.0);
        assert!((v[1].1 - 0.75).abs() < 1e-6 && v[1].1 == v[2].1, "{v:?}");
        // Only the most similar board: A.
        assert_eq!(similar_boards(&table, &pins, 1), vec![(2, 1.0)]);
        assert!(similar_boards(&table, &pins, 0).is_empty());
        assert!(similar_boards(&table, &[pin(5, 0.0)], 50).is_empty(), "a pin of no weight says nothing");
        assert!(similar_boards(&BoardTable::default(), &pins, 50).is_empty());
    }
}
