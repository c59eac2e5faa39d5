//! Scoring the catalog for a profile, top-k with near-duplicate collapse and MMR, and reasons.
//!
//! Signals, each z-normalised over the catalog so that their weights are comparable across
//! catalogs and requests:
//! - **co-saved**: co-occurrence neighbours of the pins (Pixie-like), recency-weighted;
//! - **similar**: cosine to the best-matching interest of the target board (PinnerSage-like);
//! - **board name**: what other users' boards with the same (normalised) name hold;
//! - **popular**: a weak log-popularity prior.
//!
//! A request allocates one score array over the catalog; everything else is sparse or top-k sized.

mod dot;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

pub use dot::dot_i8;

use crate::catalog::{quantize, Catalog};
use crate::context::BoardContext;
use crate::encoder::Encoder;
use crate::error::Result;
use crate::profile::{build_profile, Profile, ProfilePin};

/// The ranking function's knobs. Defaults were tuned on a dev split of movielens-small that
/// never sees the evaluation targets (README, "Quality"); all are scale-free.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// Weight of the boards other than `target_board` (the target board weighs 1).
    pub other_boards: f32,
    /// Recency half-life as a fraction of the board's pin count (a request's
    /// `recency_half_life` overrides it with a number of pins).
    pub recency_half_life: f32,
    /// Interests per board: `ceil(interests_per_sqrt_pin × √pins)` clusters.
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
    /// Weight of the popularity prior.
    pub w_popular: f32,
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
            w_popular: 0.25,
            duplicate_cosine: 0.985,
            shortlist: 500,
        }
    }
}

/// Which signal carried a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Saved together with one of the pins by other users.
    CoSaved,
    /// Close in meaning to one of the pins.
    Similar,
    /// Common on other users' boards with the same name.
    BoardName,
    /// Popular overall.
    Popular,
}

/// Why an item was recommended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The signal that contributed most.
    pub signal: Signal,
    /// The board it came from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board: Option<String>,
    /// The pin it came from (its title), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// A sentence for people.
    pub text: String,
}

/// One ranked item.
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

/// Per-request sparse signal: item → value, and its z-scale over the catalog.
struct Sparse {
    values: HashMap<u32, f32>,
    inv_std: f32,
}

impl Sparse {
    fn new(values: HashMap<u32, f32>, n: usize) -> Self {
        let n = n.max(1) as f64;
        let (s, s2) = values.values().fold((0f64, 0f64), |(a, b), &v| (a + v as f64, b + (v as f64).powi(2)));
        let mean = s / n;
        let var = (s2 / n - mean * mean).max(0.0);
        let inv_std = if var > 0.0 { (1.0 / var.sqrt()) as f32 } else { 0.0 };
        Self { values, inv_std }
    }
    fn z(&self, j: u32) -> f32 {
        // The constant −mean/std shift is dropped: it moves every item alike.
        self.values.get(&j).map_or(0.0, |v| v * self.inv_std)
    }
}

/// A catalog ready to rank: the bundle plus per-catalog statistics.
pub struct Ranker {
    catalog: Catalog,
    knobs: Knobs,
    log_pop: Vec<f32>,
    max_text_pins: usize,
}

/// One weighted query vector, int8 and as sign bits.
struct Query {
    q: Vec<i8>,
    scale: f32,
    weight: f32,
    bits: Vec<u64>,
}

/// An embedding signal: the best weighted cosine between an item and some query vectors,
/// z-scaled over the catalog.
struct Similarity {
    queries: Vec<Query>,
    /// `cos(π·h/dim)` for a Hamming distance `h`: the cosine that sign bits suggest.
    cos_of_hamming: Vec<f32>,
    mean: f32,
    inv_std: f32,
}

impl Similarity {
    fn new(catalog: &Catalog, vectors: &[(&[f32], f32)]) -> Option<Self> {
        if vectors.is_empty() {
            return None;
        }
        let d = catalog.dim();
        let queries = vectors
            .iter()
            .map(|(v, weight)| {
                let mut q = vec![0i8; d];
                let scale = quantize(v, &mut q);
                let bits = crate::catalog::sign_bits(&q);
                Query { q, scale, weight: *weight, bits }
            })
            .collect();
        let cos_of_hamming = (0..=d).map(|h| (std::f32::consts::PI * h as f32 / d as f32).cos()).collect();
        let mut me = Self { queries, cos_of_hamming, mean: 0.0, inv_std: 0.0 };
        // z-scale from a deterministic sample of the catalog (a full exact pass is what the
        // coarse pass avoids).
        let n = catalog.len();
        let step = (n / 512).max(1);
        let sample: Vec<f32> = (0..n).step_by(step).map(|j| me.exact(catalog, j)).collect();
        let (mean, std) = mean_std(&sample);
        me.mean = mean;
        me.inv_std = if std > 0.0 { 1.0 / std } else { 0.0 };
        Some(me)
    }

    fn exact(&self, catalog: &Catalog, j: usize) -> f32 {
        let (v, s) = catalog.vector(j);
        let mut best = -1f32;
        for q in &self.queries {
            let x = q.weight * dot_i8(&q.q, v) as f32 * q.scale * s;
            if x > best {
                best = x;
            }
        }
        best
    }

    fn coarse(&self, catalog: &Catalog, j: usize) -> f32 {
        let bits = catalog.bits(j);
        let mut h = [0u32];
        self.queries
            .iter()
            .map(|q| {
                hamming_block(&q.bits, bits, &mut h);
                q.weight * self.cos_of_hamming[h[0] as usize]
            })
            .fold(-1.0, f32::max)
    }

    /// Adds `w × z(coarse similarity)` to every item's score: the hot loop over the catalog.
    /// Items go in blocks: each query's bits stay in registers while a block streams past.
    fn add_coarse(&self, catalog: &Catalog, w: f32, scores: &mut [f32]) {
        const BLOCK: usize = 256;
        let words = catalog.dim().div_ceil(64);
        let (a, b) = (w * self.inv_std, -w * self.mean * self.inv_std);
        let mut best = [0f32; BLOCK];
        let mut dist = [0u32; BLOCK];
        for (block, bits) in scores.chunks_mut(BLOCK).zip(catalog.all_bits().chunks(BLOCK * words)) {
            let best = &mut best[..block.len()];
            let dist = &mut dist[..block.len()];
            best.fill(-1.0);
            for q in &self.queries {
                hamming_block(&q.bits, bits, dist);
                for (bst, &h) in best.iter_mut().zip(dist.iter()) {
                    // A comparison, not f32::max: in wasm that is a call to fmaxf (NaN rules).
                    let x = q.weight * self.cos_of_hamming[h as usize];
                    if x > *bst {
                        *bst = x;
                    }
                }
            }
            for (s, &bst) in block.iter_mut().zip(best.iter()) {
                *s += a * bst + b;
            }
        }
    }

    fn z(&self, x: f32) -> f32 {
        (x - self.mean) * self.inv_std
    }
}

impl Ranker {
    /// Wraps a catalog with the default knobs.
    pub fn new(catalog: Catalog) -> Self {
        Self::with_knobs(catalog, Knobs::default())
    }

    /// Wraps a catalog with the given knobs.
    pub fn with_knobs(catalog: Catalog, knobs: Knobs) -> Self {
        let raw: Vec<f32> = catalog.popularity().iter().map(|p| p.ln_1p()).collect();
        let (mean, std) = mean_std(&raw);
        let log_pop = raw.iter().map(|x| if std > 0.0 { (x - mean) / std } else { 0.0 }).collect();
        Self { catalog, knobs, log_pop, max_text_pins: crate::context::MAX_TEXT_PINS }
    }

    /// Lowers the number of pins one request may have embedded on the fly (the encoder's cost:
    /// a Worker on a CPU budget sets it low); never above [`crate::context::MAX_TEXT_PINS`].
    pub fn set_max_text_pins(&mut self, n: usize) {
        self.max_text_pins = n.min(crate::context::MAX_TEXT_PINS);
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

    /// Replaces the knobs (evaluation and tuning).
    pub fn set_knobs(&mut self, knobs: Knobs) {
        self.knobs = knobs;
    }

    /// Validates the request, builds the profile (embedding free-text pins with `encoder`),
    /// and returns the top `k` (default 10) items with reasons.
    pub fn recommend(&self, encoder: Option<&dyn Encoder>, ctx: &BoardContext) -> Result<Recommendations> {
        ctx.validate()?;
        let profile = build_profile(&self.catalog, encoder, ctx, &self.knobs, self.max_text_pins)?;
        let exclude: HashSet<u32> = ctx
            .exclude
            .iter()
            .filter_map(|id| self.catalog.index_of(id))
            .map(|i| i as u32)
            .chain(profile.saved.iter().copied())
            .collect();
        let k = ctx.k.unwrap_or(10);
        let signals = self.signals(&profile, ctx);
        let (scores, shortlist) = self.score_all(&signals, &exclude);
        let picked = self.select(&scores, &shortlist, k, ctx.diversity.unwrap_or(0.0));
        let items = picked
            .into_iter()
            .map(|j| {
                let it = self.catalog.item(j as usize);
                Recommendation {
                    id: it.id.clone(),
                    title: it.title.clone(),
                    score: scores[j as usize],
                    reason: self.reason(j, &signals, &profile, ctx),
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

    fn signals(&self, profile: &Profile, ctx: &BoardContext) -> Signals {
        let n = self.catalog.len();
        let kn = &self.knobs;
        let cosaved = if kn.w_cosaved != 0.0 { self.cosaved(profile) } else { HashMap::new() };
        let mut names: HashMap<u32, f32> = HashMap::new();
        if kn.w_board_name != 0.0 {
            for &(b, w) in &profile.names {
                if let Some((items, weights)) = self.catalog.names().lookup(&ctx.boards[b].name) {
                    for (&j, &x) in items.iter().zip(weights) {
                        *names.entry(j).or_default() += w * x;
                    }
                }
            }
        }
        // The z-scaling cancels any factor inside the name signal, so the decay with the focus
        // board's pin count applies to its weight.
        let focus_pins = match &ctx.target_board {
            Some(t) => ctx.boards.iter().filter(|b| &b.name == t).map(|b| b.pins.len()).sum::<usize>() as f32,
            None => ctx.boards.iter().map(|b| b.pins.len()).sum::<usize>() as f32 / ctx.boards.len().max(1) as f32,
        };
        Signals {
            name_weight: kn.w_board_name / (1.0 + focus_pins / kn.name_half_pins.max(f32::MIN_POSITIVE)),
            cosaved: Sparse::new(cosaved, n),
            names: Sparse::new(names, n),
            similar: (kn.w_similar != 0.0)
                .then(|| {
                    let v: Vec<(&[f32], f32)> = profile
                        .interests
                        .iter()
                        .map(|it| (it.vector.as_slice(), it.importance.powf(kn.importance_power)))
                        .collect();
                    Similarity::new(&self.catalog, &v)
                })
                .flatten(),
            similar_mean: (kn.w_similar_mean != 0.0)
                .then(|| profile.centroid.as_ref().and_then(|c| Similarity::new(&self.catalog, &[(c.as_slice(), 1.0)])))
                .flatten(),
        }
    }

    fn cosaved(&self, profile: &Profile) -> HashMap<u32, f32> {
        let p = self.knobs.cosaved_power;
        let mut acc: HashMap<u32, f32> = HashMap::new();
        for pin in &profile.pins {
            let Some(i) = pin.item else { continue };
            let (items, weights) = self.catalog.neighbours().of(i as usize);
            for (&j, &w) in items.iter().zip(weights) {
                *acc.entry(j).or_default() += (pin.weight * w).powf(p);
            }
        }
        if p != 1.0 {
            acc.values_mut().for_each(|v| *v = v.powf(1.0 / p));
        }
        acc
    }

    /// The embedding part of item `j`'s score, exact or from sign bits.
    fn similarity_score(&self, sig: &Signals, j: usize, exact: bool) -> f32 {
        let kn = &self.knobs;
        let part = |s: &Option<Similarity>, w: f32| {
            s.as_ref().map_or(0.0, |s| w * s.z(if exact { s.exact(&self.catalog, j) } else { s.coarse(&self.catalog, j) }))
        };
        part(&sig.similar, kn.w_similar) + part(&sig.similar_mean, kn.w_similar_mean)
    }

    /// Scores every item (similarity from sign bits), then rescores the best `shortlist`
    /// exactly; returns the scores and the shortlist.
    fn score_all(&self, sig: &Signals, exclude: &HashSet<u32>) -> (Vec<f32>, Vec<u32>) {
        let kn = &self.knobs;
        let mut scores: Vec<f32> = self.log_pop.iter().map(|p| kn.w_popular * p).collect();
        for (sim, w) in [(&sig.similar, kn.w_similar), (&sig.similar_mean, kn.w_similar_mean)] {
            if let Some(sim) = sim {
                sim.add_coarse(&self.catalog, w, &mut scores);
            }
        }
        for (&j, &v) in &sig.cosaved.values {
            scores[j as usize] += kn.w_cosaved * v * sig.cosaved.inv_std;
        }
        for (&j, &v) in &sig.names.values {
            scores[j as usize] += sig.name_weight * v * sig.names.inv_std;
        }
        for &j in exclude {
            scores[j as usize] = f32::NEG_INFINITY;
        }
        let shortlist = top_n(&scores, kn.shortlist.max(1));
        if sig.similar.is_some() || sig.similar_mean.is_some() {
            for &j in &shortlist {
                let j = j as usize;
                scores[j] += self.similarity_score(sig, j, true) - self.similarity_score(sig, j, false);
            }
        }
        (scores, shortlist)
    }

    /// Top `k` by score, skipping near-duplicates of what is already picked; with
    /// `diversity > 0`, greedy MMR over the best candidates.
    fn select(&self, scores: &[f32], shortlist: &[u32], k: usize, diversity: f32) -> Vec<u32> {
        let pool = (k * 5).max(50);
        // The shortlist is ordered by coarse score; exact rescoring may have reordered it.
        let mut cands: Vec<(f32, u32)> = shortlist.iter().map(|&j| (scores[j as usize], j)).collect();
        cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        cands.truncate(pool);
        let (lo, hi) = (cands.last().map_or(0.0, |c| c.0), cands.first().map_or(0.0, |c| c.0));
        let span = (hi - lo).max(1e-6);
        let cos = |a: u32, b: u32| {
            let ((va, sa), (vb, sb)) = (self.catalog.vector(a as usize), self.catalog.vector(b as usize));
            dot_i8(va, vb) as f32 * sa * sb
        };
        let mut picked: Vec<u32> = Vec::with_capacity(k);
        let mut max_sim: Vec<f32> = vec![f32::NEG_INFINITY; cands.len()];
        let mut used = vec![false; cands.len()];
        while picked.len() < k {
            let mut best: Option<(f32, usize)> = None;
            for (c, &(s, _)) in cands.iter().enumerate() {
                if used[c] || max_sim[c] >= self.knobs.duplicate_cosine {
                    continue;
                }
                let rel = (s - lo) / span;
                let mmr = (1.0 - diversity) * rel - diversity * max_sim[c].max(0.0);
                if best.is_none_or(|(b, _)| mmr > b) {
                    best = Some((mmr, c));
                }
            }
            let Some((_, c)) = best else { break };
            used[c] = true;
            let j = cands[c].1;
            picked.push(j);
            for (o, &(_, jo)) in cands.iter().enumerate() {
                if !used[o] {
                    max_sim[o] = max_sim[o].max(cos(j, jo));
                }
            }
        }
        picked
    }

    fn reason(&self, j: u32, sig: &Signals, profile: &Profile, ctx: &BoardContext) -> Reason {
        let kn = &self.knobs;
        let similar = self.similarity_score(sig, j as usize, true);
        let parts = [
            (Signal::CoSaved, kn.w_cosaved * sig.cosaved.z(j)),
            (Signal::Similar, similar),
            (Signal::BoardName, sig.name_weight * sig.names.z(j)),
            (Signal::Popular, kn.w_popular * self.log_pop[j as usize]),
        ];
        let (signal, _) = parts.iter().copied().fold((Signal::Popular, f32::MIN), |b, p| if p.1 > b.1 { p } else { b });
        let board_name = |b: usize| ctx.boards[b].name.clone();
        match signal {
            Signal::CoSaved => {
                // The pin whose neighbour list gave j the most.
                let best = best_pin(profile.pins.iter().filter_map(|p| {
                    let (items, weights) = self.catalog.neighbours().of(p.item? as usize);
                    let w = items.iter().position(|&x| x == j).map(|k| weights[k])?;
                    Some((p.weight * w, p))
                }));
                let text = |p: &ProfilePin| format!("often saved together with “{}”", p.label);
                pin_reason(signal, best, board_name, text, "often saved together with your pins")
            }
            Signal::Similar => {
                let mut v = vec![0f32; self.catalog.dim()];
                self.catalog.vector_f32(j as usize, &mut v);
                let best = best_pin(
                    profile.pins.iter().map(|p| (p.weight.sqrt() * p.vector.iter().zip(&v).map(|(a, b)| a * b).sum::<f32>(), p)),
                );
                let text = |p: &ProfilePin| format!("similar to “{}” on {}", p.label, board_name(p.board));
                pin_reason(signal, best, board_name, text, "similar to your boards")
            }
            Signal::BoardName => {
                let b = profile
                    .names
                    .iter()
                    .find(|(b, _)| {
                        self.catalog.names().lookup(&ctx.boards[*b].name).is_some_and(|(items, _)| items.contains(&j))
                    })
                    .map(|&(b, _)| board_name(b));
                let text = match &b {
                    Some(name) => format!("often saved on boards named “{name}”"),
                    None => "often saved on boards like yours".into(),
                };
                Reason { signal, board: b, pin: None, text }
            }
            Signal::Popular => Reason { signal, board: None, pin: None, text: "popular with many people".into() },
        }
    }
}

struct Signals {
    /// `w_board_name` after the decay with the focus board's pin count.
    name_weight: f32,
    cosaved: Sparse,
    names: Sparse,
    similar: Option<Similarity>,
    similar_mean: Option<Similarity>,
}

/// Mean and population standard deviation (0 and 0 for an empty slice).
fn mean_std(xs: &[f32]) -> (f32, f32) {
    let n = xs.len().max(1) as f32;
    let mean = xs.iter().sum::<f32>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n;
    (mean, var.sqrt())
}

/// The pin with the largest score (the first one on ties).
fn best_pin<'a>(scored: impl Iterator<Item = (f32, &'a ProfilePin)>) -> Option<&'a ProfilePin> {
    scored.fold(None::<(f32, &ProfilePin)>, |b, x| match b {
        Some(b) if b.0 >= x.0 => Some(b),
        _ => Some(x),
    })
    .map(|(_, p)| p)
}

/// A reason naming `pin` and its board, or `fallback` when no pin stands out.
fn pin_reason(
    signal: Signal,
    pin: Option<&ProfilePin>,
    board_name: impl Fn(usize) -> String,
    text: impl Fn(&ProfilePin) -> String,
    fallback: &str,
) -> Reason {
    match pin {
        Some(p) => Reason { signal, board: Some(board_name(p.board)), pin: Some(p.label.clone()), text: text(p) },
        None => Reason { signal, board: None, pin: None, text: fallback.into() },
    }
}

/// The `n` best finite scores, best first (ties: lower index).
fn top_n(scores: &[f32], n: usize) -> Vec<u32> {
    let mut heap: BinaryHeap<Reverse<(OrdF32, Reverse<u32>)>> = BinaryHeap::with_capacity(n + 1);
    // Once the heap is full, most items lose to its worst entry on one float compare.
    let mut worst = f32::NEG_INFINITY;
    for (j, &s) in scores.iter().enumerate() {
        if s < worst || s == f32::NEG_INFINITY {
            continue;
        }
        let entry = Reverse((OrdF32(s), Reverse(j as u32)));
        if heap.len() < n {
            heap.push(entry);
        } else if heap.peek().is_some_and(|min| entry < *min) {
            // Better than the worst kept (Reverse flips the order): replace it.
            heap.pop();
            heap.push(entry);
        } else {
            continue;
        }
        if heap.len() == n {
            worst = heap.peek().map_or(f32::NEG_INFINITY, |Reverse((w, _))| w.0);
        }
    }
    let mut out: Vec<(f32, u32)> = heap.into_iter().map(|Reverse((s, Reverse(j)))| (s.0, j)).collect();
    out.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    out.into_iter().map(|(_, j)| j).collect()
}

/// Hamming distance between `query` and each item of `items` (packed, `query.len()` words
/// each) into `out`.
#[inline]
fn hamming_block(query: &[u64], items: &[u64], out: &mut [u32]) {
    let words = query.len();
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if words == 6 {
        // 384 bits (MiniLM, bge-small, gte-small): three v128 per vector, the query kept in registers.
        use core::arch::wasm32::*;
        // SAFETY: the query has 6 words; every item chunk has 6 words; v128_load is unaligned.
        unsafe {
            let qp = query.as_ptr() as *const v128;
            let (q0, q1, q2) = (v128_load(qp), v128_load(qp.add(1)), v128_load(qp.add(2)));
            for (o, item) in out.iter_mut().zip(items.chunks_exact(6)) {
                let ip = item.as_ptr() as *const v128;
                let c = u8x16_add(
                    u8x16_add(u8x16_popcnt(v128_xor(v128_load(ip), q0)), u8x16_popcnt(v128_xor(v128_load(ip.add(1)), q1))),
                    u8x16_popcnt(v128_xor(v128_load(ip.add(2)), q2)),
                );
                let s = u32x4_extadd_pairwise_u16x8(u16x8_extadd_pairwise_u8x16(c));
                let s = i32x4_add(s, i32x4_shuffle::<2, 3, 0, 1>(s, s));
                *o = (u32x4_extract_lane::<0>(s) + u32x4_extract_lane::<1>(s)) as u32;
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU has POPCNT (checked just above).
        unsafe { hamming_block_popcnt(query, items, out) };
        return;
    }
    for (o, item) in out.iter_mut().zip(items.chunks_exact(words)) {
        *o = query.iter().zip(item).map(|(x, y)| (x ^ y).count_ones()).sum();
    }
}

/// The portable loop compiled with the POPCNT instruction (not in the x86_64 baseline).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn hamming_block_popcnt(query: &[u64], items: &[u64], out: &mut [u32]) {
    for (o, item) in out.iter_mut().zip(items.chunks_exact(query.len())) {
        *o = query.iter().zip(item).map(|(x, y)| (x ^ y).count_ones()).sum();
    }
}

/// f32 with a total order, for the top-k heap.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrdF32(f32);
impl Eq for OrdF32 {}
impl PartialOrd for OrdF32 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF32 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
