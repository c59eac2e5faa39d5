//! Learning from the catalog's own boards, at index time (native only): the ranker fitted per
//! catalog ([`fit`]), with a validation gate that keeps the defaults when fitting does not pay.
//!
//! Self-supervised examples come from the boards themselves, never from evaluation targets:
//! - **warm**: each sampled user's largest board loses its last item, which is removed from all
//!   of that user's boards; the tables are rebuilt without it (no leakage);
//! - **cold**: a seeded 15% of the items is removed from every board (as if added this morning);
//!   each sampled user's largest board that held one must find its last such item again.
//!
//! For every example the ranker's shortlist is scored with every signal ([`Ranker::scored`]); the
//! blend's weights are then fitted by coordinate ascent on `Recall@10 + ¼·Recall@50` (a step
//! function: the second term breaks ties between weights that move the target within the top 50),
//! warm and cold examples counting alike, and the scalar knobs (recency half-life, other boards'
//! weight) by re-scoring the examples for each candidate value. A fifth of the users is held out:
//! the fit is kept only if it beats the defaults there, and a weight whose removal does not lower
//! the held-out score is dropped.

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

/// One training example: a request, and where its target is.
struct Example {
    user: String,
    board: String,
    target: String,
    validation: bool,
    cold: bool,
}

/// Warm examples: per sampled user, the largest board's last item, removed from all of the
/// user's boards. Returns the boards without them.
fn warm_examples(boards: &[BoardRecord], opts: &FitOptions) -> (Vec<BoardRecord>, Vec<Example>) {
    let mut users: Vec<&str> = boards.iter().map(|b| b.user.as_str()).collect::<HashSet<_>>().into_iter().collect();
    users.sort_by(|a, b| unit_hash(opts.seed, a).total_cmp(&unit_hash(opts.seed, b)).then(a.cmp(b)));
    let mut held: HashMap<&str, String> = HashMap::new();
    let mut examples = Vec::new();
    for user in users {
        if examples.len() >= opts.max_examples {
            break;
        }
        let Some(b) = boards.iter().filter(|b| b.user == user && b.items.len() >= 2).max_by_key(|b| b.items.len()) else {
            continue;
        };
        let target = b.items[b.items.len() - 1].clone();
        held.insert(user, target.clone());
        examples.push(Example {
            user: user.to_string(),
            board: b.board.clone(),
            target,
            validation: unit_hash(opts.seed ^ 1, user) < 0.2,
            cold: false,
        });
    }
    let kept = boards
        .iter()
        .map(|b| {
            let mut b = b.clone();
            if let Some(t) = held.get(b.user.as_str()) {
                b.items.retain(|x| x != t);
            }
            b
        })
        .filter(|b| !b.items.is_empty())
        .collect();
    (kept, examples)
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
        .map(|(user, board, target)| Example {
            validation: unit_hash(opts.seed ^ 1, &user) < 0.2,
            user,
            board,
            target,
            cold: true,
        })
        .collect();
    examples.sort_by(|a, b| unit_hash(opts.seed, &a.user).total_cmp(&unit_hash(opts.seed, &b.user)));
    examples.truncate(opts.max_examples);
    (kept, examples)
}

/// One example's scored shortlist.
struct Scored {
    features: Vec<Features>,
    target: usize,
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
            let Some(t) = catalog.index_of(&ex.target) else { continue };
            let req = request_for(boards, &ex.user, &ex.board, 10);
            if req.boards.is_empty() {
                continue; // the user's boards held only held-out items
            }
            let s = ranker.scored(&req, &[t as u32])?;
            let Some(target) = s.candidates.iter().position(|c| c.0 == t as u32) else { continue };
            out.push(Scored {
                features: s.candidates.into_iter().map(|c| c.1).collect(),
                target,
                focus_pins: s.focus_pins,
                validation: ex.validation,
                cold: ex.cold,
            });
        }
    }
    Ok(out)
}

/// Held-out or fit-set objective: mean over warm and cold of `R@10 + ¼·R@50`, and the R@10s.
fn objective(scored: &[Scored], kn: &Knobs, validation: bool) -> (f64, [f64; 2]) {
    let mut hits = [[0f64; 2]; 2]; // [cold][@10, @50]
    let mut n = [0usize; 2];
    for s in scored.iter().filter(|s| s.validation == validation) {
        let w = crate::rank::signals::weights(kn, s.focus_pins);
        let score = |f: &Features| crate::rank::signals::blend(&w, f);
        let t = score(&s.features[s.target]);
        // Ties count against the target: a blend that scores everything alike finds nothing.
        let above = s.features.iter().enumerate().filter(|&(i, f)| i != s.target && score(f) >= t).count();
        let c = s.cold as usize;
        n[c] += 1;
        hits[c][0] += (above < 10) as u8 as f64;
        hits[c][1] += (above < 50) as u8 as f64;
    }
    let r = |c: usize, i: usize| if n[c] == 0 { 0.0 } else { hits[c][i] / n[c] as f64 };
    let kinds = (n[0] > 0) as usize + (n[1] > 0) as usize;
    let obj = ((r(0, 0) + 0.25 * r(0, 1)) + (r(1, 0) + 0.25 * r(1, 1))) / kinds.max(1) as f64;
    (obj, [r(0, 0), r(1, 0)])
}

/// The weights coordinate ascent moves, as accessors into [`Knobs`]. The co-saved weight is not
/// among them while it is on: it anchors the blend's scale (only ratios between weights rank).
/// A knob, as a place to read and write.
type Field = fn(&mut Knobs) -> &mut f32;

const WEIGHTS: [(&str, Field); 7] = [
    ("similar", |k| &mut k.w_similar),
    ("similar_mean", |k| &mut k.w_similar_mean),
    ("board_name", |k| &mut k.w_board_name),
    ("popular", |k| &mut k.w_popular),
    ("new", |k| &mut k.w_new),
    ("name_half_pins", |k| &mut k.name_half_pins),
    ("co_saved", |k| &mut k.w_cosaved),
];

fn grid(name: &str) -> &'static [f32] {
    match name {
        // New items must outweigh the co-saved z-scores of items with data to be seen at all.
        "new" => &[-4.0, -2.0, -1.0, -0.5, 0.0, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0],
        "name_half_pins" => &[0.25, 1.0, 4.0, 16.0, 64.0],
        "co_saved" => &[0.0, 1.0],
        _ => &[0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0],
    }
}

/// Coordinate ascent of the weights on the fit set, from `start`.
fn ascend(scored: &[Scored], start: &Knobs) -> (Knobs, f64) {
    let mut best = start.clone();
    let mut best_obj = objective(scored, &best, false).0;
    for _ in 0..3 {
        let before = best_obj;
        // New items are found only by content: their score and the similarity weight move together.
        for &wn in grid("new") {
            for &ws in grid("similar") {
                let k = Knobs { w_new: wn, w_similar: ws, ..best.clone() };
                let o = objective(scored, &k, false).0;
                if o > best_obj + 1e-9 {
                    best_obj = o;
                    best = k;
                }
            }
        }
        for (name, field) in WEIGHTS {
            for &v in grid(name) {
                let mut k = best.clone();
                *field(&mut k) = v;
                let o = objective(scored, &k, false).0;
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
    (best, best_obj)
}

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
    let (val_default, vr_default) = objective(&base, &defaults, true);
    let (mut best, mut best_fit) = ascend(&base, &defaults);
    let mut best_scored = base;
    for (half, other) in [(0.02, 0.0), (0.15, 0.0), (0.5, 0.0), (0.05, 0.3)] {
        let scalars = Knobs { recency_half_life: half, other_boards: other, ..best.clone() };
        let scored = score_examples(&set, &scalars)?;
        let (k, o) = ascend(&scored, &scalars);
        if o > best_fit + 1e-9 {
            (best, best_fit, best_scored) = (k, o, scored);
        }
    }
    // Drop what does not pay on the held-out users.
    let mut dropped = Vec::new();
    for (name, field) in WEIGHTS.iter().filter(|(n, _)| *n != "name_half_pins") {
        let mut k = best.clone();
        if *field(&mut k) == 0.0 {
            continue;
        }
        *field(&mut k) = 0.0;
        if objective(&best_scored, &k, true).0 > objective(&best_scored, &best, true).0 {
            best = k;
            dropped.push(name.to_string());
        }
    }
    let (val_fit, vr_fit) = objective(&best_scored, &best, true);
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
    let mut parts: Vec<String> = FEATURES.iter().zip(w).map(|(n, v)| format!("{n} {v:.2}")).collect();
    parts.push(format!("recency half-life {:.2} of a board", k.recency_half_life));
    parts.push(format!("other boards {:.2}", k.other_boards));
    parts.push(format!("name half-pins {:.2}", k.name_half_pins));
    parts.join(", ")
}
