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
    /// Whether the fitted knobs passed the validation gate.
    pub kept: bool,
    /// Why not, when they did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Training examples (fit + validation), warm and cold.
    pub examples: (usize, usize),
    /// Held-out objective of the defaults and of the fit (`Recall@10 + ¼·Recall@50`, warm and
    /// cold examples alike).
    pub validation: (f64, f64),
    /// Held-out Recall@10 of the defaults and of the fit, warm and cold separately.
    pub validation_recall: [(f64, f64); 2],
    /// Weights dropped because the held-out users scored better without them.
    pub dropped: Vec<String>,
    /// Seconds the fit took.
    pub seconds: f64,
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

/// Items held out of one example's board: each is a target of its own (the others do not count
/// against it). Three where one would do: a catalog has few users, and the fit's choices are
/// differences of a few hits.
const TARGETS: usize = 3;

/// One training example: a request, and what it must find again.
struct Example {
    user: String,
    board: String,
    /// The held-out items to find again (up to [`TARGETS`]), newest first.
    targets: Vec<String>,
    validation: bool,
    cold: bool,
}

/// Warm examples: per sampled user, the largest board's last items, removed from all of the
/// user's boards. Returns the boards without them.
fn warm_examples(boards: &[BoardRecord], opts: &FitOptions) -> (Vec<BoardRecord>, Vec<Example>) {
    let mut users: Vec<&str> = boards.iter().map(|b| b.user.as_str()).collect::<HashSet<_>>().into_iter().collect();
    users.sort_by(|a, b| unit_hash(opts.seed, a).total_cmp(&unit_hash(opts.seed, b)).then(a.cmp(b)));
    let mut held: HashMap<&str, HashSet<String>> = HashMap::new();
    let mut examples = Vec::new();
    for user in users {
        if examples.len() >= opts.max_examples {
            break;
        }
        let Some(b) = boards.iter().filter(|b| b.user == user && b.items.len() >= 2).max_by_key(|b| b.items.len()) else {
            continue;
        };
        // A small board keeps two thirds of its items as context: holding out all but one would
        // teach the fit boards it never sees at ranking time.
        let take = TARGETS.min((b.items.len() / 3).max(1));
        let targets: Vec<String> = b.items.iter().rev().take(take).cloned().collect();
        held.insert(user, targets.iter().cloned().collect());
        examples.push(Example {
            user: user.to_string(),
            board: b.board.clone(),
            targets,
            validation: unit_hash(opts.seed ^ 1, user) < 0.2,
            cold: false,
        });
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
            Example { validation: unit_hash(opts.seed ^ 1, &user) < 0.2, user, board, targets, cold: true }
        })
        .collect();
    examples.sort_by(|a, b| unit_hash(opts.seed, &a.user).total_cmp(&unit_hash(opts.seed, &b.user)));
    examples.truncate(opts.max_examples);
    (kept, examples)
}

/// One example's scored shortlist.
struct Scored {
    features: Vec<Features>,
    /// Indices into `features`.
    targets: Vec<usize>,
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
        ..k.clone()
    }
}

/// The examples of one training catalog: the catalog, the boards it was built from, the examples.
type TrainingSet = (Catalog, Vec<BoardRecord>, Vec<Example>);

fn score_examples(set: &[TrainingSet], knobs: &Knobs) -> Result<Vec<Scored>> {
    let mut out = Vec::new();
    let kn = extraction_knobs(knobs);
    for (catalog, boards, examples) in set {
        let ranker = Ranker::with_knobs(catalog.clone(), kn.clone());
        for ex in examples {
            let ts: Vec<u32> = ex.targets.iter().filter_map(|t| catalog.index_of(t)).map(|t| t as u32).collect();
            let req = request_for(boards, &ex.user, &ex.board, 10);
            if ts.is_empty() || req.boards.is_empty() {
                continue; // the user's boards held only held-out items
            }
            let s = ranker.scored(&req, &ts)?;
            let targets: Vec<usize> = ts.iter().filter_map(|&t| s.candidates.iter().position(|c| c.0 == t)).collect();
            if targets.is_empty() {
                continue;
            }
            out.push(Scored {
                features: s.candidates.into_iter().map(|c| c.1).collect(),
                targets,
                focus_pins: s.focus_pins,
                validation: ex.validation,
                cold: ex.cold,
            });
        }
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

/// Held-out or fit-set objective: mean over warm and cold of `R@10 + ¼·R@50`, and the R@10s.
fn objective(scored: &[Scored], kn: &Knobs, validation: bool, pool: Pool) -> (f64, [f64; 2]) {
    let mut hits = [[0f64; 2]; 2]; // [cold][@10, @50]
    let mut n = [0usize; 2];
    let is_new = |f: &Features| f[5] > 0.5;
    for s in scored.iter().filter(|s| s.validation == validation) {
        let counted = match pool {
            Pool::All => true,
            Pool::Warm => !s.cold,
            Pool::New => s.cold,
        };
        if !counted {
            continue;
        }
        let w = crate::rank::signals::weights(kn, s.focus_pins);
        let scores: Vec<f32> = s.features.iter().map(|f| crate::rank::signals::blend(&w, f)).collect();
        let in_pool = |f: &Features| match pool {
            Pool::All => true,
            Pool::Warm => !is_new(f),
            Pool::New => is_new(f),
        };
        for &target in &s.targets {
            let target_new = is_new(&s.features[target]);
            let t = scores[target];
            let (mut above, mut new_above, mut new_below) = (0usize, 0usize, 0usize);
            for (i, (f, &x)) in s.features.iter().zip(&scores).enumerate() {
                if s.targets.contains(&i) || !in_pool(f) {
                    continue;
                }
                let new = is_new(f);
                // Ties count against the target: a blend that scores everything alike finds nothing.
                if x >= t {
                    above += 1;
                    new_above += new as usize;
                } else {
                    new_below += new as usize;
                }
            }
            let c = s.cold as usize;
            n[c] += 1;
            for (i, cut) in [10usize, 50].into_iter().enumerate() {
                // The new items' slots: the best `q` new items are in, whatever their score.
                let q = if pool == Pool::All { (kn.new_share * cut as f32).round() as usize } else { 0 };
                let hit = if target_new {
                    above < cut || new_above < q
                } else {
                    above + q.saturating_sub(new_above).min(new_below) < cut
                };
                hits[c][i] += hit as u8 as f64;
            }
        }
    }
    let r = |c: usize, i: usize| if n[c] == 0 { 0.0 } else { hits[c][i] / n[c] as f64 };
    let kinds = (n[0] > 0) as usize + (n[1] > 0) as usize;
    let obj = ((r(0, 0) + 0.25 * r(0, 1)) + (r(1, 0) + 0.25 * r(1, 1))) / kinds.max(1) as f64;
    (obj, [r(0, 0), r(1, 0)])
}

/// A knob, as a place to read and write.
type Field = fn(&mut Knobs) -> &mut f32;

/// The weights of items with interaction data, fitted on the warm examples. The co-saved weight
/// anchors the blend's scale while it is on (only ratios between weights rank).
const WARM_WEIGHTS: [(&str, Field); 6] = [
    ("similar", |k| &mut k.w_similar),
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
/// data, which reach tens), the scale of their content weights, and their share of the slots —
/// never below one in ten: that an item added this morning can be seen at all is the product's
/// promise, not a choice of the fit (on a catalog with weak text it costs the warm items' tenth
/// slot: see the README's numbers).
const NEW_OFFSETS: [f32; 17] = [-8.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0];
const NEW_SCALES: [f32; 4] = [0.5, 1.0, 2.0, 4.0];
const NEW_SHARES: [f32; 4] = [0.1, 0.2, 0.3, 0.5];

/// Coordinate ascent of `fields` on `pool` of the fit set, from `start`.
fn ascend(scored: &[Scored], start: Knobs, fields: &[(&str, Field)], pool: Pool) -> Knobs {
    let mut best = start;
    let mut best_obj = objective(scored, &best, false, pool).0;
    for _ in 0..3 {
        let before = best_obj;
        for (name, field) in fields {
            for &v in grid(name) {
                let mut k = best.clone();
                *field(&mut k) = v;
                let o = objective(scored, &k, false, pool).0;
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

/// Fits the blend in three steps: the warm weights on the warm examples, the new items' weights
/// on the cold ones, then how the two meet (offset, scale, share of slots) on all of them.
fn fit_blend(scored: &[Scored], start: &Knobs) -> (Knobs, f64) {
    let warm = ascend(scored, start.clone(), &WARM_WEIGHTS, Pool::Warm);
    let new = ascend(scored, warm, &NEW_WEIGHTS, Pool::New);
    let mut best = new.clone();
    let mut best_obj = objective(scored, &best, false, Pool::All).0;
    for &offset in &NEW_OFFSETS {
        for &scale in &NEW_SCALES {
            for &share in &NEW_SHARES {
                let k = Knobs {
                    w_new: offset,
                    w_new_similar: new.w_new_similar * scale,
                    w_new_similar_mean: new.w_new_similar_mean * scale,
                    new_share: share,
                    ..new.clone()
                };
                let o = objective(scored, &k, false, Pool::All).0;
                if o > best_obj + 1e-9 {
                    best_obj = o;
                    best = k;
                }
            }
        }
    }
    (best, best_obj)
}

/// Every weight the fit may drop, as a place in [`Knobs`] (the new items' share of slots has a
/// floor instead: see [`NEW_SHARES`]).
const DROPPABLE: [(&str, Field); 8] = [
    ("co_saved", |k| &mut k.w_cosaved),
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
    let refuse = |why: String, validation: (f64, f64), vr: [(f64, f64); 2]| FitReport {
        knobs: defaults.clone(),
        kept: false,
        refused: Some(why),
        examples,
        validation,
        validation_recall: vr,
        dropped: Vec::new(),
        seconds: t0.elapsed().as_secs_f64(),
    };
    if warm.len() + cold.len() < 20 {
        return Ok(refuse(
            format!("{} examples: too few boards to learn from", warm.len() + cold.len()),
            (0.0, 0.0),
            [(0.0, 0.0); 2],
        ));
    }
    let make = |b: &[BoardRecord]| catalog::build(items.to_vec(), vectors, dim, b, model_id, build).map(|(c, _)| c);
    let set: Vec<TrainingSet> = vec![(make(&warm_boards)?, warm_boards, warm), (make(&cold_boards)?, cold_boards, cold)];

    // The scalar knobs that change the signals themselves: re-score the examples for each value.
    let base = score_examples(&set, &defaults)?;
    let (val_default, vr_default) = objective(&base, &defaults, true, Pool::All);
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
        if objective(&best_scored, &k, true, Pool::All).0 > objective(&best_scored, &best, true, Pool::All).0 {
            best = k;
            dropped.push(name.to_string());
        }
    }
    let (val_fit, vr_fit) = objective(&best_scored, &best, true, Pool::All);
    let vr = [(vr_default[0], vr_fit[0]), (vr_default[1], vr_fit[1])];
    if val_fit <= val_default {
        return Ok(refuse(
            format!("the fit scored {val_fit:.4} on held-out users, the defaults {val_default:.4}"),
            (val_default, val_fit),
            vr,
        ));
    }
    Ok(FitReport {
        knobs: best,
        kept: true,
        refused: None,
        examples,
        validation: (val_default, val_fit),
        validation_recall: vr,
        dropped,
        seconds: t0.elapsed().as_secs_f64(),
    })
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

/// The fitted weights as `name = value` pairs, for people.
pub fn describe(k: &Knobs) -> String {
    let w = crate::rank::signals::weights(k, 0.0);
    let mut parts: Vec<String> = FEATURES.iter().zip(w.warm).take(5).map(|(n, v)| format!("{n} {v:.2}")).collect();
    parts.push(format!(
        "new items: offset {:.2}, similar {:.2}, similar_mean {:.2}, share of slots {:.2}",
        k.w_new, k.w_new_similar, k.w_new_similar_mean, k.new_share
    ));
    parts.push(format!("recency half-life {:.2} of a board", k.recency_half_life));
    parts.push(format!("other boards {:.2}", k.other_boards));
    parts.push(format!("name half-pins {:.2}", k.name_half_pins));
    parts.join(", ")
}
