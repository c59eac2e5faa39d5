//! Learning from the catalog's own boards, at index time (native only): the ranker fitted per
//! catalog ([`fit`]), with a validation gate that keeps the defaults when fitting does not pay.
//!
//! Self-supervised examples come from the boards themselves, never from evaluation targets:
//! - **warm**: each sampled user's largest board loses its last item, which is removed from all
//!   of that user's boards; the tables are rebuilt without it (no leakage);
//! - **cold**: a seeded 15% of the items is removed from every board (as if added this morning);
//!   each sampled user's largest board that held one must find its last such item again.
//!
//! For every example the ranker's shortlist is scored with every signal ([`Ranker::scored`]). The
//! blend is fitted by coordinate ascent on `Recall@10 + ¼·Recall@50` (a step function: the second
//! term breaks ties between weights that move the target within the top 50) in three steps, so
//! that the cold examples cannot pull the warm weights about: the weights of items with data on
//! the warm examples among such items; the new items' content weights on the cold examples among
//! new items; then how the two meet — the new items' offset, the scale of their weights and their
//! share of the slots — on all examples, warm and cold counting alike, with the slots simulated as
//! a request would fill them. The scalar knobs (recency half-life, other boards' weight) are
//! chosen by re-scoring the examples for each candidate value. A fifth of the users is held out:
//! the fit is kept only if it beats the defaults there, and a weight whose removal raises the
//! held-out score is dropped.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64;

use crate::catalog::{self, BoardRecord, BuildOptions, BuildReport, Catalog, ItemRecord};
use crate::context::{Board, BoardContext, Pin};
use crate::error::Result;
use crate::rank::{Features, FittedSection, Knobs, Ranker, FEATURES, FITTED_FORMAT};

/// Choices of [`fit`].
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Seeds the sampling of users and cold items.
    pub seed: u64,
    /// Most examples of each kind (warm, cold).
    pub max_examples: usize,
    /// Share of the catalog's items made cold for the cold examples.
    pub cold_share: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self { seed: 0x5eed, max_examples: 800, cold_share: 0.15 }
    }
}

/// What [`fit`] found.
#[derive(Debug, Clone, Serialize)]
pub struct FitReport {
    /// The knobs to use: fitted, or the defaults when the gate refused the fit.
    pub knobs: Knobs,
    /// What the fit found, kept or not.
    pub fitted: Knobs,
    /// Whether the fitted knobs passed the validation gate.
    pub kept: bool,
    /// Why not, when they did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Training examples (fit + validation), warm and cold.
    pub examples: (usize, usize),
    /// What the defaults and the fit scored on the held-out users.
    pub validation: Validation,
    /// Weights dropped because the held-out users scored better without them.
    pub dropped: Vec<String>,
    /// Seconds the fit took (printed, not stored: the same inputs make the same bundle).
    #[serde(skip)]
    pub seconds: f64,
}

/// The defaults and the fit on the held-out users.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Validation {
    /// `Recall@10 + ¼·Recall@50` on the warm examples, defaults and fit.
    pub objective: (f64, f64),
    /// The fit's gain in that objective over the defaults, paired per target: mean and standard error.
    pub warm_gain: (f64, f64),
    /// The fit's gain in cold Recall@10 over the defaults, paired per target: mean and standard error.
    pub cold_gain: (f64, f64),
    /// Recall@10 of the defaults and of the fit, on warm and on cold examples.
    pub recall: [(f64, f64); 2],
    /// Recall@10 of the plain model (similarity to the board's mean, weighted by the defaults'
    /// recency) on the cold examples: the bar of both sides.
    pub plain_cold: f64,
}

/// The request the product would get for `user`'s board `board`: all of the user's boards (pins
/// are catalog ids, in saved order), recommending for that board.
pub fn request_for(boards: &[BoardRecord], user: &str, board: &str, k: usize) -> BoardContext {
    let mut seen = HashSet::new();
    let boards: Vec<Board> = boards
        .iter()
        .filter(|b| b.user == user && seen.insert(b.board.as_str()))
        .map(|b| Board {
            name: b.board.clone(),
            pins: b.items.iter().map(|id| Pin { id: Some(id.clone()), ..Default::default() }).collect(),
        })
        .collect();
    let target_board = boards.iter().any(|b| b.name == board).then(|| board.to_string());
    BoardContext { boards, target_board, k: Some(k), ..Default::default() }
}

/// A deterministic pseudo-random number in [0, 1) for `key` under `seed`.
pub fn unit_hash(seed: u64, key: &str) -> f64 {
    (xxh3_64(&[&seed.to_le_bytes(), key.as_bytes()].concat()) >> 11) as f64 / (1u64 << 53) as f64
}

/// Items made cold for a cold split: a `share` of the catalog, chosen by `seed`.
pub fn cold_items(items: &[ItemRecord], seed: u64, share: f64) -> HashSet<String> {
    items.iter().filter(|it| unit_hash(seed, &it.id) < share).map(|it| it.id.clone()).collect()
}

/// Items held out of one user's largest board: each is the next item of an example of its own,
/// whose context holds the held-out items before it. Three where one would do: a catalog has few
/// users, and the fit's choices are differences of a few hits.
const TARGETS: usize = 3;

/// One training example: a request, and what it must find again.
struct Example {
    user: String,
    board: String,
    /// Pins appended to the board after its remaining items (held-out items saved before the
    /// target: they are out of the tables, as a pin saved this morning would be).
    extra: Vec<String>,
    /// The held-out items to find again: the next item for a warm example; for a cold one the
    /// board's last cold items (up to [`TARGETS`]), each a target of its own.
    targets: Vec<String>,
    validation: bool,
    cold: bool,
}

/// Warm examples: per sampled user, the largest board's last items are removed from all of the
/// user's boards, and each becomes the next item to find, after the ones before it. Returns the
/// boards without them.
fn warm_examples(boards: &[BoardRecord], opts: &FitOptions) -> (Vec<BoardRecord>, Vec<Example>) {
    let mut users: Vec<&str> = boards.iter().map(|b| b.user.as_str()).collect::<HashSet<_>>().into_iter().collect();
    users.sort_by(|a, b| unit_hash(opts.seed, a).total_cmp(&unit_hash(opts.seed, b)).then(a.cmp(b)));
    let mut held: HashMap<&str, HashSet<String>> = HashMap::new();
    let mut examples = Vec::new();
    let mut sampled = 0;
    for user in users {
        if sampled >= opts.max_examples {
            break;
        }
        let Some(b) = boards.iter().filter(|b| b.user == user && b.items.len() >= 2).max_by_key(|b| b.items.len()) else {
            continue;
        };
        sampled += 1;
        // A small board keeps two thirds of its items as context: holding out all but one would
        // teach the fit boards it never sees at ranking time.
        let take = TARGETS.min((b.items.len() / 3).max(1));
        let tail = &b.items[b.items.len() - take..];
        held.insert(user, tail.iter().cloned().collect());
        let validation = unit_hash(opts.seed ^ 1, user) < 0.2;
        for (i, target) in tail.iter().enumerate() {
            examples.push(Example {
                user: user.to_string(),
                board: b.board.clone(),
                extra: tail[..i].to_vec(),
                targets: vec![target.clone()],
                validation,
                cold: false,
            });
        }
    }
    let held: HashMap<&str, HashSet<&str>> = held.iter().map(|(u, t)| (*u, t.iter().map(String::as_str).collect())).collect();
    (without_held(boards, &held), examples)
}

/// `boards` with each user's held-out items removed from every board of that user (so no other
/// board leaks a target); boards left empty are dropped. One rule for the fit, `eval` and the
/// fine-tuning gate.
pub fn without_held(boards: &[BoardRecord], held: &HashMap<&str, HashSet<&str>>) -> Vec<BoardRecord> {
    boards
        .iter()
        .map(|b| {
            let mut b = b.clone();
            if let Some(h) = held.get(b.user.as_str()) {
                b.items.retain(|x| !h.contains(x.as_str()));
            }
            b
        })
        .filter(|b| !b.items.is_empty())
        .collect()
}

/// The cold split's rule (shared with `eval --split cold`): `cold` items leave every board; each
/// of `users` (all users when `None`) with a board that held one gets its largest such board's
/// last cold item as the target. Returns the boards without the cold items and the targets as
/// `(user, board, item)`.
pub fn cold_split(
    boards: &[BoardRecord],
    cold: &HashSet<String>,
    users: Option<&HashSet<String>>,
) -> (Vec<BoardRecord>, Vec<(String, String, String)>) {
    let mut best: HashMap<&str, &BoardRecord> = HashMap::new();
    for b in boards {
        if users.is_some_and(|u| !u.contains(&b.user)) || !b.items.iter().any(|x| cold.contains(x)) {
            continue;
        }
        let e = best.entry(b.user.as_str()).or_insert(b);
        if b.items.len() > e.items.len() {
            *e = b;
        }
    }
    let mut targets: Vec<(String, String, String)> = best
        .values()
        .map(|b| {
            let t = b.items.iter().rev().find(|x| cold.contains(*x)).expect("holds a cold item");
            (b.user.clone(), b.board.clone(), t.clone())
        })
        .collect();
    targets.sort();
    let kept = boards
        .iter()
        .map(|b| BoardRecord { items: b.items.iter().filter(|x| !cold.contains(*x)).cloned().collect(), ..b.clone() })
        .filter(|b| !b.items.is_empty())
        .collect();
    (kept, targets)
}

fn cold_examples(items: &[ItemRecord], boards: &[BoardRecord], opts: &FitOptions) -> (Vec<BoardRecord>, Vec<Example>) {
    let cold = cold_items(items, opts.seed ^ 2, opts.cold_share);
    let (kept, targets) = cold_split(boards, &cold, None);
    let mut examples: Vec<Example> = targets
        .into_iter()
        .map(|(user, board, _)| {
            // The split's target and the board's cold items before it.
            let held = boards.iter().find(|b| b.user == user && b.board == board).expect("the split's board");
            let targets = held.items.iter().rev().filter(|x| cold.contains(*x)).take(TARGETS).cloned().collect();
            Example { validation: unit_hash(opts.seed ^ 1, &user) < 0.2, user, board, extra: Vec::new(), targets, cold: true }
        })
        .collect();
    examples.sort_by(|a, b| unit_hash(opts.seed, &a.user).total_cmp(&unit_hash(opts.seed, &b.user)));
    examples.truncate(opts.max_examples);
    (kept, examples)
}

/// One example's scored shortlist.
struct Scored {
    /// Which example (its place in the training sets): pairs the same targets across blends.
    example: usize,
    /// Whose boards it came from (a hash of the user): a user's examples are not independent.
    user: u64,
    features: Vec<Features>,
    /// Indices into `features`.
    targets: Vec<usize>,
    /// The targets' catalog indices (a target's place in the shortlist depends on the knobs).
    target_items: Vec<u32>,
    focus_pins: f32,
    validation: bool,
    cold: bool,
}

/// Knobs for scoring examples: every signal on (a weight of 0 would skip computing it).
fn extraction_knobs(k: &Knobs) -> Knobs {
    let on = |w: f32| if w == 0.0 { 1e-3 } else { w };
    Knobs {
        w_cosaved: on(k.w_cosaved),
        w_similar: on(k.w_similar),
        w_similar_mean: on(k.w_similar_mean),
        w_new_similar: on(k.w_new_similar),
        w_new_similar_mean: on(k.w_new_similar_mean),
        w_board_name: on(k.w_board_name),
        w_similar_boards: on(k.w_similar_boards),
        ..k.clone()
    }
}

/// The examples of one training catalog: the catalog, the boards it was built from, the examples.
type TrainingSet = (Catalog, Vec<BoardRecord>, Vec<Example>);

fn score_examples(set: &[TrainingSet], knobs: &Knobs) -> Result<Vec<Scored>> {
    let kn = extraction_knobs(knobs);
    let mut out = Vec::new();
    let mut first = 0;
    for (catalog, boards, examples) in set {
        let ranker = Ranker::with_knobs(catalog.clone(), kn.clone());
        let scored: Vec<Option<Scored>> = examples
            .par_iter()
            .enumerate()
            .map(|(i, ex)| -> Result<Option<Scored>> {
                let ts: Vec<u32> = ex.targets.iter().filter_map(|t| catalog.index_of(t)).map(|t| t as u32).collect();
                let mut req = request_for(boards, &ex.user, &ex.board, 10);
                if !ex.extra.is_empty() {
                    let pins = ex.extra.iter().map(|id| Pin { id: Some(id.clone()), ..Default::default() });
                    match req.boards.iter_mut().find(|b| b.name == ex.board) {
                        Some(b) => b.pins.extend(pins),
                        None => {
                            req.boards.push(Board { name: ex.board.clone(), pins: pins.collect() });
                            req.target_board = Some(ex.board.clone());
                        }
                    }
                }
                if ts.is_empty() || req.boards.is_empty() {
                    return Ok(None); // the user's boards held only held-out items
                }
                let s = ranker.scored(&req, &ts)?;
                let (targets, target_items): (Vec<usize>, Vec<u32>) =
                    ts.iter().filter_map(|&t| s.candidates.iter().position(|c| c.0 == t).map(|p| (p, t))).unzip();
                if targets.is_empty() {
                    return Ok(None);
                }
                Ok(Some(Scored {
                    example: first + i,
                    user: xxh3_64(ex.user.as_bytes()),
                    features: s.candidates.into_iter().map(|c| c.1).collect(),
                    targets,
                    target_items,
                    focus_pins: s.focus_pins,
                    validation: ex.validation,
                    cold: ex.cold,
                }))
            })
            .collect::<Result<_>>()?;
        out.extend(scored.into_iter().flatten());
        first += examples.len();
    }
    Ok(out)
}

/// Which examples and candidates an objective counts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pool {
    /// Every example and candidate, with the new items' slots: what a request gets.
    All,
    /// Warm examples among the candidates with interaction data: the warm weights' own fit.
    Warm,
    /// Cold examples among the new candidates: the new items' weights' own fit.
    New,
}

/// What a blend scores on one side (fit or held-out) of the examples.
#[derive(Debug, Clone, Copy, Default)]
struct Measured {
    /// `R@10 + ¼·R@50` on the warm examples and on the cold ones.
    objective: [f64; 2],
    /// Recall@10 on the warm examples and on the cold ones.
    recall: [f64; 2],
    /// Targets counted, warm and cold.
    targets: [usize; 2],
    /// Recall@10 of the plain model on the cold examples (the candidates by similarity to the
    /// board's mean alone): what new items must at least get.
    plain_cold: f64,
}

impl Measured {
    /// The plain model's cold Recall@10 plus one standard error: the bar a fit's cold recall must
    /// clear (a tie within noise on the fit set would not hold on new data).
    fn cold_bar(&self) -> f64 {
        let p = self.plain_cold;
        p + (p * (1.0 - p) / self.targets[1].max(1) as f64).sqrt()
    }

    /// The fit's criterion: the warm objective when the cold examples clear the bar, else a
    /// penalty that rises with the cold recall (so that a search still moves towards the bar).
    fn criterion(&self) -> f64 {
        if self.targets[1] == 0 || self.recall[1] >= self.cold_bar() {
            self.objective[0]
        } else {
            self.recall[1] - 10.0
        }
    }
}

/// One target's outcome under a blend.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    /// The example and the target's catalog index: the same target under any blend.
    key: (usize, u32),
    /// See [`Scored::user`].
    user: u64,
    cold: bool,
    /// Hit within the top 10 and the top 50.
    hits: [bool; 2],
    /// Whether the plain model (similarity to the board's mean alone) has it in its top 10.
    plain: bool,
}

impl Outcome {
    /// This target's share of the objective: `hit@10 + ¼·hit@50`.
    fn objective(&self) -> f64 {
        self.hits[0] as u8 as f64 + 0.25 * self.hits[1] as u8 as f64
    }
}

/// How `kn` ranks each target of one side (`validation`) among the candidates of `pool`.
fn outcomes(scored: &[Scored], kn: &Knobs, validation: bool, pool: Pool) -> Vec<Outcome> {
    let is_new = |f: &Features| f[5] > 0.5;
    scored
        .par_iter()
        .filter(|s| s.validation == validation)
        .filter(|s| match pool {
            Pool::All => true,
            Pool::Warm => !s.cold,
            Pool::New => s.cold,
        })
        .flat_map_iter(|s| {
            let w = crate::rank::signals::weights(kn, s.focus_pins);
            let scores: Vec<f32> = s.features.iter().map(|f| crate::rank::signals::blend(&w, f)).collect();
            // New items that may take a kept slot.
            let eligible: Vec<bool> = s.features.iter().map(|f| crate::rank::signals::takes_new_slot(kn, f)).collect();
            let in_pool = |f: &Features| match pool {
                Pool::All => true,
                Pool::Warm => !is_new(f),
                Pool::New => is_new(f),
            };
            let mut out = Vec::with_capacity(s.targets.len());
            for (&target, &item) in s.targets.iter().zip(&s.target_items) {
                let t = scores[target];
                let (mut above, mut new_above, mut new_below) = (0usize, 0usize, 0usize);
                let mut plain_above = 0usize;
                for (i, (f, &x)) in s.features.iter().zip(&scores).enumerate() {
                    if s.targets.contains(&i) {
                        continue;
                    }
                    // The plain model's rank matters on cold examples only.
                    plain_above += (s.cold && f[2] >= s.features[target][2]) as usize;
                    if !in_pool(f) {
                        continue;
                    }
                    // Ties count against the target: a blend that scores everything alike finds nothing.
                    if x >= t {
                        above += 1;
                        new_above += eligible[i] as usize;
                    } else {
                        new_below += eligible[i] as usize;
                    }
                }
                let hit = |cut: usize| {
                    // The new items' slots: the best `q` eligible new items are in, whatever their score.
                    let q = if pool == Pool::All { (kn.new_share * cut as f32).round() as usize } else { 0 };
                    if eligible[target] {
                        above < cut || new_above < q
                    } else {
                        above + q.saturating_sub(new_above).min(new_below) < cut
                    }
                };
                out.push(Outcome {
                    key: (s.example, item),
                    user: s.user,
                    cold: s.cold,
                    hits: [hit(10), hit(50)],
                    plain: s.cold && plain_above < 10,
                });
            }
            out
        })
        .collect()
}

/// The totals of some outcomes.
fn measure(outcomes: &[Outcome]) -> Measured {
    let mut hits = [[0f64; 2]; 2];
    let (mut plain, mut n) = (0f64, [0usize; 2]);
    for o in outcomes {
        let c = o.cold as usize;
        n[c] += 1;
        for (h, &hit) in hits[c].iter_mut().zip(&o.hits) {
            *h += hit as u8 as f64;
        }
        plain += o.plain as u8 as f64;
    }
    let r = |c: usize, i: usize| if n[c] == 0 { 0.0 } else { hits[c][i] / n[c] as f64 };
    Measured {
        objective: [r(0, 0) + 0.25 * r(0, 1), r(1, 0) + 0.25 * r(1, 1)],
        recall: [r(0, 0), r(1, 0)],
        targets: n,
        plain_cold: if n[1] == 0 { 0.0 } else { plain / n[1] as f64 },
    }
}

/// How `kn` ranks the examples of one side (`validation`) among the candidates of `pool`.
fn objective(scored: &[Scored], kn: &Knobs, validation: bool, pool: Pool) -> Measured {
    measure(&outcomes(scored, kn, validation, pool))
}

/// The gain from `before` to `after` on the targets both ranked, warm (`cold` false: in the
/// objective) or cold (in Recall@10): the mean of the paired per-target differences and its
/// standard error. Pairing removes what the targets themselves vary by (most of the noise of two
/// separate means); the error is clustered by user (a user gives up to three targets, which
/// share their boards), as the ratio estimator's: `√(C/(C−1) · Σ_u (D_u − m·N_u)²) / N` over
/// `C` users with `N_u` targets and summed differences `D_u`.
fn paired_gain(before: &[Outcome], after: &[Outcome], cold: bool) -> (f64, f64) {
    let value = |o: &Outcome| if cold { o.hits[0] as u8 as f64 } else { o.objective() };
    let before: HashMap<(usize, u32), f64> = before.iter().filter(|o| o.cold == cold).map(|o| (o.key, value(o))).collect();
    let mut users: HashMap<u64, (f64, f64)> = HashMap::new();
    for o in after.iter().filter(|o| o.cold == cold) {
        if let Some(b) = before.get(&o.key) {
            let u = users.entry(o.user).or_default();
            *u = (u.0 + value(o) - b, u.1 + 1.0);
        }
    }
    let c = users.len() as f64;
    if users.len() < 2 {
        return (0.0, 0.0);
    }
    let (sum, n) = users.values().fold((0.0, 0.0), |(s, n), u| (s + u.0, n + u.1));
    let mean = sum / n;
    let spread = users.values().map(|u| (u.0 - mean * u.1).powi(2)).sum::<f64>();
    (mean, (c / (c - 1.0) * spread).sqrt() / n)
}

/// A knob, as a place to read and write.
type Field = fn(&mut Knobs) -> &mut f32;

/// The weights of items with interaction data, fitted on the warm examples. The co-saved weight
/// anchors the blend's scale while it is on (only ratios between weights rank).
const WARM_WEIGHTS: [(&str, Field); 7] = [
    ("similar", |k| &mut k.w_similar),
    ("similar_boards", |k| &mut k.w_similar_boards),
    ("similar_mean", |k| &mut k.w_similar_mean),
    ("board_name", |k| &mut k.w_board_name),
    ("popular", |k| &mut k.w_popular),
    ("name_half_pins", |k| &mut k.name_half_pins),
    ("co_saved", |k| &mut k.w_cosaved),
];

/// The new items' weights, fitted on the cold examples among new items.
const NEW_WEIGHTS: [(&str, Field); 2] =
    [("new_similar", |k| &mut k.w_new_similar), ("new_similar_mean", |k| &mut k.w_new_similar_mean)];

fn grid(name: &str) -> &'static [f32] {
    match name {
        "name_half_pins" => &[0.25, 1.0, 4.0, 16.0, 64.0],
        "co_saved" => &[0.0, 1.0],
        _ => &[0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0],
    }
}

/// How new items meet the others: their offset (against the co-saved z-scores of items with
/// data, which reach tens), the scale of their content weights, their share of the slots — never
/// below one in ten: that an item added this morning can be seen is the product's promise — and
/// the content score a new item needs to take such a slot (so that on a catalog with weak text
/// the slot is not spent on every request).
const NEW_OFFSETS: [f32; 17] = [-8.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0];
const NEW_SCALES: [f32; 4] = [0.5, 1.0, 2.0, 4.0];
const NEW_SHARES: [f32; 3] = [0.1, 0.2, 0.3];
/// Quantiles of the best new candidate's content score over the fit examples that
/// [`Knobs::new_slot_min_z`] is chosen from (besides "always").
const NEW_SLOT_QUANTILES: [f64; 4] = [0.25, 0.5, 0.75, 0.9];

/// Coordinate ascent of `fields` on `pool` of the fit set, from `start`: the warm objective for
/// [`Pool::Warm`], the cold one for [`Pool::New`].
fn ascend(scored: &[Scored], start: Knobs, fields: &[(&str, Field)], pool: Pool) -> Knobs {
    let side = (pool == Pool::New) as usize;
    let mut best = start;
    let mut best_obj = objective(scored, &best, false, pool).objective[side];
    for _ in 0..3 {
        let before = best_obj;
        for (name, field) in fields {
            for &v in grid(name) {
                let mut k = best.clone();
                *field(&mut k) = v;
                let o = objective(scored, &k, false, pool).objective[side];
                if o > best_obj + 1e-9 {
                    best_obj = o;
                    best = k;
                }
            }
        }
        if best_obj <= before + 1e-9 {
            break;
        }
    }
    best
}

/// The content-score thresholds a kept slot may require: "always", the default, and quantiles of the best new
/// candidate's content score per fit example.
fn slot_thresholds(scored: &[Scored], kn: &Knobs) -> Vec<f32> {
    let mut best: Vec<f32> = scored
        .iter()
        .filter(|s| !s.validation)
        .filter_map(|s| {
            s.features.iter().filter(|f| f[5] > 0.5).map(|f| crate::rank::signals::new_content_z(kn, f)).reduce(f32::max)
        })
        .collect();
    best.sort_by(f32::total_cmp);
    let mut out = vec![-10.0, Knobs::default().new_slot_min_z];
    if !best.is_empty() {
        out.extend(NEW_SLOT_QUANTILES.iter().map(|q| best[((best.len() - 1) as f64 * q).round() as usize]));
    }
    out
}

/// Fits the blend in three steps: the warm weights on the warm examples, the new items' weights
/// on the cold ones, then how the two meet (offset, scale, share of slots, the content a slot
/// needs) on all of them by [`Measured::criterion`]: the best warm objective whose cold recall
/// clears the plain model's.
fn fit_blend(scored: &[Scored], start: &Knobs) -> (Knobs, f64) {
    let warm = ascend(scored, start.clone(), &WARM_WEIGHTS, Pool::Warm);
    let new = ascend(scored, warm, &NEW_WEIGHTS, Pool::New);
    let thresholds = slot_thresholds(scored, &new);
    let mut best = new.clone();
    let mut best_obj = objective(scored, &best, false, Pool::All).criterion();
    let mut consider = |k: Knobs, best: &mut Knobs| {
        let o = objective(scored, &k, false, Pool::All).criterion();
        if o > best_obj + 1e-9 {
            best_obj = o;
            *best = k;
        }
    };
    for _ in 0..2 {
        let at = best.clone();
        for &offset in &NEW_OFFSETS {
            for &scale in &NEW_SCALES {
                let k = Knobs {
                    w_new: offset,
                    w_new_similar: new.w_new_similar * scale,
                    w_new_similar_mean: new.w_new_similar_mean * scale,
                    ..at.clone()
                };
                consider(k, &mut best);
            }
        }
        let at = best.clone();
        for &share in &NEW_SHARES {
            for &min_z in &thresholds {
                consider(Knobs { new_share: share, new_slot_min_z: min_z, ..at.clone() }, &mut best);
            }
        }
    }
    (best, best_obj)
}

/// Every weight the fit may drop, as a place in [`Knobs`] (the new items' share of slots has a
/// floor instead: see [`NEW_SHARES`]).
const DROPPABLE: [(&str, Field); 9] = [
    ("co_saved", |k| &mut k.w_cosaved),
    ("similar_boards", |k| &mut k.w_similar_boards),
    ("similar", |k| &mut k.w_similar),
    ("similar_mean", |k| &mut k.w_similar_mean),
    ("board_name", |k| &mut k.w_board_name),
    ("popular", |k| &mut k.w_popular),
    ("new", |k| &mut k.w_new),
    ("new_similar", |k| &mut k.w_new_similar),
    ("new_similar_mean", |k| &mut k.w_new_similar_mean),
];

/// Fits the ranker's knobs to a catalog's boards. `vectors` are the items' unit vectors.
pub fn fit(
    items: &[ItemRecord],
    vectors: &[f32],
    dim: usize,
    boards: &[BoardRecord],
    model_id: &str,
    build: &BuildOptions,
    opts: &FitOptions,
) -> Result<FitReport> {
    let t0 = Instant::now();
    let defaults = Knobs::default();
    let (warm_boards, warm) = warm_examples(boards, opts);
    let (cold_boards, cold) = cold_examples(items, boards, opts);
    let examples = (warm.len(), cold.len());
    if warm.len() + cold.len() < 20 {
        return Ok(FitReport {
            knobs: defaults.clone(),
            fitted: defaults,
            kept: false,
            refused: Some(format!("{} examples: too few boards to learn from", warm.len() + cold.len())),
            examples,
            validation: Validation::default(),
            dropped: Vec::new(),
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    let make = |b: &[BoardRecord]| catalog::build(items.to_vec(), vectors, dim, b, model_id, build).map(|(c, _)| c);
    let set: Vec<TrainingSet> = vec![(make(&warm_boards)?, warm_boards, warm), (make(&cold_boards)?, cold_boards, cold)];

    // The scalar knobs that change the signals themselves: re-score the examples for each value.
    let base = score_examples(&set, &defaults)?;
    let default_outcomes = outcomes(&base, &defaults, true, Pool::All);
    let val_default = measure(&default_outcomes);
    let (mut best, mut best_fit) = fit_blend(&base, &defaults);
    let mut best_scored = base;
    for (half, other) in [(0.02, 0.0), (0.15, 0.0), (0.5, 0.0), (0.05, 0.3)] {
        let scalars = Knobs { recency_half_life: half, other_boards: other, ..best.clone() };
        let scored = score_examples(&set, &scalars)?;
        let (k, o) = fit_blend(&scored, &scalars);
        if o > best_fit + 1e-9 {
            (best, best_fit, best_scored) = (k, o, scored);
        }
    }
    // Drop what does not pay on the held-out users.
    let mut dropped = Vec::new();
    for (name, field) in DROPPABLE {
        let mut k = best.clone();
        if *field(&mut k) == 0.0 {
            continue;
        }
        *field(&mut k) = 0.0;
        // Better on warm items without losing new ones (the criterion's penalty would trade
        // any warm weight for cold recall).
        let (with, without) = (objective(&best_scored, &best, true, Pool::All), objective(&best_scored, &k, true, Pool::All));
        if without.objective[0] > with.objective[0] && without.recall[1] >= with.recall[1] {
            best = k;
            dropped.push(name.to_string());
        }
    }
    let fit_outcomes = outcomes(&best_scored, &best, true, Pool::All);
    let val_fit = measure(&fit_outcomes);
    let warm_gain = paired_gain(&default_outcomes, &fit_outcomes, false);
    let cold_gain = paired_gain(&default_outcomes, &fit_outcomes, true);
    let validation = Validation {
        warm_gain,
        cold_gain,
        objective: (val_default.objective[0], val_fit.objective[0]),
        recall: [(val_default.recall[0], val_fit.recall[0]), (val_default.recall[1], val_fit.recall[1])],
        plain_cold: val_default.plain_cold,
    };
    let kept = gate(&val_default, &val_fit, warm_gain, cold_gain);
    Ok(FitReport {
        knobs: if kept { best.clone() } else { defaults.clone() },
        fitted: best,
        kept,
        refused: (!kept).then(|| {
            format!(
                "on held-out users the fit scored warm {:.4} against the defaults' {:.4} (paired gain {:+.4} ± {:.4}; \
                 a kept fit needs more than {GAIN_MARGIN} standard error), cold Recall@10 {:.4} against the defaults' {:.4} \
                 (paired gain {:+.4} ± {:.4}; a kept cold gain needs {RESCUE_MARGIN} standard errors, with the warm \
                 gain above -{GAIN_MARGIN}) and the plain model's {:.4}",
                validation.objective.1,
                validation.objective.0,
                warm_gain.0,
                warm_gain.1,
                validation.recall[1].1,
                validation.recall[1].0,
                cold_gain.0,
                cold_gain.1,
                validation.plain_cold
            )
        }),
        examples,
        validation,
        dropped: if kept { dropped } else { Vec::new() },
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// How many standard errors the fit's paired warm gain on held-out users must clear: a gain
/// within noise of the defaults is not worth trading their known behaviour for (the same rule
/// as the fine-tuned model's gate).
const GAIN_MARGIN: f64 = 1.0;

/// How many standard errors the fit's paired cold gain must clear to be kept for it (with a warm
/// gain within noise, or at a warm cost where the defaults bury new items): more evidence than a
/// warm gain needs, since it is a trade.
const RESCUE_MARGIN: f64 = 2.0;

/// The validation gate, on the held-out users. The fit must find new items not clearly worse
/// than the plain model (the fit set already asked for a clear win: here a standard error of
/// slack, the held-out users being few), and then it is kept when
/// - it ranks warm items better than the defaults, by more than [`GAIN_MARGIN`] standard errors
///   of the paired per-target differences (`warm`: mean, standard error); or
/// - it finds clearly more new items (`cold`, by [`RESCUE_MARGIN`]) while its warm ranking is
///   within [`GAIN_MARGIN`] of theirs: new items found at no measurable warm cost; or
/// - the defaults are the ones that bury new items and the fit clearly finds more of them, at a
///   warm cost no larger than that gain (the warm objective lost at most the cold Recall@10
///   won): it is already the best warm ranking that finds new items (its criterion), and an
///   item added this morning must be found — but not by giving up more than it finds (a lite
///   model's fit on movielens traded 0.078 of warm objective, −38% on test, for 0.013 cold).
fn gate(defaults: &Measured, fit: &Measured, warm: (f64, f64), cold: (f64, f64)) -> bool {
    // One bar for both sides: the plain model as the defaults' examples score it (the fit's
    // recency can move its own plain model's mean).
    let floor = 2.0 * defaults.plain_cold - defaults.cold_bar();
    let cold_ok = |m: &Measured| m.targets[1] == 0 || m.recall[1] >= floor;
    let warm_gain = warm.0 > GAIN_MARGIN * warm.1;
    let warm_held = warm.0 >= -GAIN_MARGIN * warm.1;
    let cold_gain = cold.0 > RESCUE_MARGIN * cold.1;
    let rescue = !cold_ok(defaults) && warm.0 + cold.0 >= 0.0;
    cold_ok(fit) && (warm_gain || (cold_gain && (warm_held || rescue)))
}

/// `edgerec index`: the catalog bundle, with the ranker fitted to its boards when they are given
/// and the fit passes its gate (else without, so the defaults serve it).
#[allow(clippy::too_many_arguments)]
pub fn index(
    items: Vec<ItemRecord>,
    vectors: &[f32],
    dim: usize,
    boards: &[BoardRecord],
    model_id: &str,
    build: &BuildOptions,
    opts: Option<&FitOptions>,
) -> Result<(Catalog, BuildReport, Option<FitReport>)> {
    let report = match opts {
        Some(o) if !boards.is_empty() => Some(fit(&items, vectors, dim, boards, model_id, build, o)?),
        _ => None,
    };
    let (catalog, built) = catalog::build(items, vectors, dim, boards, model_id, build)?;
    let catalog = match &report {
        Some(r) if r.kept => {
            let section = FittedSection {
                format: FITTED_FORMAT,
                knobs: r.knobs.clone(),
                report: serde_json::to_value(r).expect("report serialises"),
            };
            catalog.with_ranker(Some(&serde_json::to_vec(&section).expect("section serialises")))?
        }
        _ => catalog,
    };
    Ok((catalog, built, report))
}

impl FitReport {
    /// What the fit did, in a few lines for people: the examples, the held-out scores of the
    /// defaults and of the fit, and what is stored.
    pub fn summary(&self) -> String {
        let v = &self.validation;
        let mut out = format!(
            "ranker fit on {} warm + {} cold examples from the boards in {:.1} s; held-out users: \
             warm objective defaults {:.4} → fitted {:.4} (paired gain {:+.4} ± {:.4}; R@10 {:.4} → {:.4}), \
             cold R@10 {:.4} → {:.4} (paired gain {:+.4} ± {:.4}; plain model {:.4})",
            self.examples.0,
            self.examples.1,
            self.seconds,
            v.objective.0,
            v.objective.1,
            v.warm_gain.0,
            v.warm_gain.1,
            v.recall[0].0,
            v.recall[0].1,
            v.recall[1].0,
            v.recall[1].1,
            v.cold_gain.0,
            v.cold_gain.1,
            v.plain_cold,
        );
        match &self.refused {
            Some(why) => out += &format!("\nranker: kept the built-in defaults: {why}; the fit was {}", describe(&self.fitted)),
            None => {
                out += &format!("\nranker: fitted weights stored in the catalog: {}", describe(&self.knobs));
                if !self.dropped.is_empty() {
                    out += &format!("\nranker: dropped (no gain on held-out users): {}", self.dropped.join(", "));
                }
            }
        }
        out
    }
}

/// The fitted weights as `name = value` pairs, for people.
pub fn describe(k: &Knobs) -> String {
    let w = crate::rank::signals::weights(k, 0.0);
    // Every warm weight but the new items' offset (feature `new`, reported with them below).
    let mut parts: Vec<String> =
        FEATURES.iter().zip(w.warm).filter(|(n, _)| **n != "new").map(|(n, v)| format!("{n} {v:.2}")).collect();
    parts.push(format!(
        "new items: offset {:.2}, similar {:.2}, similar_mean {:.2}, share of slots {:.2} for a content score ≥ {:.2}",
        k.w_new, k.w_new_similar, k.w_new_similar_mean, k.new_share, k.new_slot_min_z
    ));
    parts.push(format!("recency half-life {:.2} of a board", k.recency_half_life));
    parts.push(format!("other boards {:.2}", k.other_boards));
    parts.push(format!("name half-pins {:.2}", k.name_half_pins));
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gate reads the warm objective and the cold Recall@10 (the other two fields are set
    /// to values that would flip every case, so a gate reading them fails the test).
    fn measured(warm: f64, cold: f64, plain: f64) -> Measured {
        Measured { objective: [warm, 1.0 - cold], recall: [1.0 - warm, cold], targets: [400, 400], plain_cold: plain }
    }

    #[test]
    fn the_gate_wants_better_warm_ranking_without_burying_new_items() {
        let clear = (0.02, 0.01); // a paired gain of two standard errors
        let noise = (0.005, 0.01);
        let none = (0.0, 0.0);
        let loss = (-0.02, 0.01);
        // Both find new items: only a clear warm gain is kept.
        assert!(gate(&measured(0.20, 0.10, 0.08), &measured(0.21, 0.10, 0.08), clear, none));
        assert!(!gate(&measured(0.20, 0.10, 0.08), &measured(0.21, 0.10, 0.08), noise, none));
        assert!(!gate(&measured(0.20, 0.10, 0.08), &measured(0.21, 0.10, 0.08), none, none));
        assert!(!gate(&measured(0.20, 0.10, 0.08), &measured(0.19, 0.12, 0.08), loss, clear));
        // A warm gain that buries new items is refused (bar: plain minus one standard error).
        assert!(!gate(&measured(0.20, 0.10, 0.10), &measured(0.25, 0.05, 0.10), clear, none));
        // The defaults bury new items and the fit clearly does not: kept, even at a warm cost.
        assert!(gate(&measured(0.20, 0.01, 0.10), &measured(0.18, 0.10, 0.10), loss, (0.09, 0.02)));
        // ... but not on a cold gain within noise (a target or two of the defaults' shortfall),
        assert!(!gate(&measured(0.20, 0.01, 0.10), &measured(0.18, 0.10, 0.10), loss, (0.03, 0.02)));
        // nor at a warm cost larger than the cold gain.
        assert!(!gate(&measured(0.27, 0.006, 0.017), &measured(0.19, 0.02, 0.017), (-0.078, 0.014), (0.0133, 0.0065)));
        // Both clear the bar, and the fit clearly finds more new items: kept while its warm
        // ranking is within a standard error of the defaults', refused past that.
        assert!(gate(&measured(0.20, 0.10, 0.08), &measured(0.20, 0.20, 0.08), noise, (0.09, 0.02)));
        assert!(gate(&measured(0.20, 0.10, 0.08), &measured(0.20, 0.20, 0.08), (-0.005, 0.01), (0.09, 0.02)));
        assert!(!gate(&measured(0.20, 0.10, 0.08), &measured(0.18, 0.20, 0.08), loss, (0.09, 0.02)));
        assert!(!gate(&measured(0.20, 0.10, 0.08), &measured(0.20, 0.12, 0.08), noise, (0.03, 0.02)));
        // One bar, the defaults' plain model: the fit's own plain model (its recency) moves nothing.
        assert!(!gate(&measured(0.20, 0.10, 0.10), &measured(0.25, 0.05, 0.02), clear, none));
        assert!(!gate(&measured(0.20, 0.10, 0.10), &measured(0.18, 0.12, 0.40), loss, clear));
        assert!(gate(&measured(0.20, 0.10, 0.10), &measured(0.21, 0.10, 0.40), clear, none));
        // Neither finds them: the fit still needs to clear the bar.
        assert!(!gate(&measured(0.20, 0.01, 0.10), &measured(0.25, 0.02, 0.10), clear, clear));
        // Without cold examples only the warm gain counts.
        let no_cold = |warm: f64| Measured { targets: [400, 0], ..measured(warm, 0.0, 0.10) };
        assert!(gate(&no_cold(0.20), &no_cold(0.21), clear, none));
        assert!(!gate(&no_cold(0.20), &no_cold(0.21), noise, none));
    }

    fn outcome(example: usize, cold: bool, hit10: bool) -> Outcome {
        Outcome { key: (example, 7), user: example as u64, cold, hits: [hit10, hit10], plain: false }
    }

    #[test]
    fn the_paired_gain_counts_the_same_warm_targets_on_both_sides() {
        // Targets 0..4 warm: the fit gains target 1 and loses none; target 9 is cold (not counted);
        // target 5 exists only on one side (not paired).
        let before: Vec<Outcome> = [(0, false), (1, false), (2, true), (3, false), (9, false), (5, false)]
            .iter()
            .map(|&(e, h)| outcome(e, e == 9, h))
            .collect();
        let after: Vec<Outcome> =
            [(3, false), (2, true), (1, true), (0, false), (9, true)].iter().map(|&(e, h)| outcome(e, e == 9, h)).collect();
        let (gain, se) = paired_gain(&before, &after, false);
        assert!((gain - 1.25 / 4.0).abs() < 1e-12, "{gain}");
        // d = (0, 1.25, 0, 0): sample sd 0.625, over √4.
        assert!((se - 0.3125).abs() < 1e-12, "{se}");
        assert_eq!(paired_gain(&before, &[], false), (0.0, 0.0));
        // The cold side: target 9 alone, one pair (too few for a standard error).
        assert_eq!(paired_gain(&before, &after, true), (0.0, 0.0));
        // Targets of one user are one cluster: two gains of one user are not two users' evidence.
        let same_user = |o: Outcome| Outcome { user: if o.key.0 <= 1 { 1 } else { o.user }, ..o };
        let after2: Vec<Outcome> =
            [(3, false), (2, true), (1, true), (0, true)].iter().map(|&(e, h)| same_user(outcome(e, false, h))).collect();
        let before2: Vec<Outcome> = before.iter().map(|&o| same_user(o)).collect();
        let (gain, se) = paired_gain(&before2, &after2, false);
        assert!((gain - 2.5 / 4.0).abs() < 1e-12, "{gain}");
        // Clusters: user 1 (D 2.5, N 2), users 2 and 3 (0, 1): m = 0.625, Σ(D − mN)² = 1.25² +
        // 0.625² · 2 = 2.34375; √(3/2 · 2.34375) / 4.
        assert!((se - (1.5f64 * 2.34375).sqrt() / 4.0).abs() < 1e-12, "{se}");
    }
}
