//! The offline protocol of the datasets in `../shared/data/<set>/`: leave-last-out targets, the
//! whole catalog minus the user's items as candidates, Recall@k and NDCG@k, and run files.
//!
//! Works on any dataset in that format (`items.jsonl`, `boards.jsonl`, `split.json`); nothing
//! here knows which dataset it reads.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::catalog::{BoardRecord, BuildOptions, ItemRecord};
use crate::error::{Error, Result};
use crate::rank::{Knobs, Ranker};
use crate::train::{self, FitOptions, FitReport};

pub use crate::train::request_for;

/// One evaluation target: predict `target` for `user`'s board `board`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The user.
    pub user: String,
    /// The board's name.
    pub board: String,
    /// The held-out item id.
    pub target: String,
}

#[derive(Deserialize)]
struct SplitFile {
    targets: Vec<Target>,
}

/// A dataset in the board format.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The catalog.
    pub items: Vec<ItemRecord>,
    /// Context boards (the split is already applied: targets are not in them).
    pub boards: Vec<BoardRecord>,
    /// The evaluation targets.
    pub targets: Vec<Target>,
}

/// Which targets to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The dataset's own held-out targets (report these, never tune on them).
    Test,
    /// A tuning split that never sees the test targets: fold `f` (1, 2, 3, ...) holds out each
    /// evaluated board's `f`-th last *context* item and removes it, and the items saved after it,
    /// from all of that user's boards.
    Dev(usize),
    /// Item cold start: a seeded 15% of the catalog's items is removed from every context board;
    /// each evaluated user's largest board that held one gets its last such item as the target.
    Cold(u64),
}

/// The seed of `--split cold`.
pub const COLD_SEED: u64 = 15;

impl Dataset {
    /// Reads `items.jsonl`, `boards.jsonl` and `split.json` from a folder (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(dir: &std::path::Path) -> Result<Self> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).map_err(|e| Error::Io(format!("{}: {e}", dir.join(name).display())))
        };
        let items = crate::catalog::read_items_jsonl(&read("items.jsonl")?)?;
        let boards = crate::catalog::read_boards_jsonl(&read("boards.jsonl")?)?;
        let split: SplitFile =
            serde_json::from_str(&read("split.json")?).map_err(|e| Error::InvalidInput(format!("split.json: {e}")))?;
        Ok(Self { items, boards, targets: split.targets })
    }

    /// The context boards and targets of a split.
    pub fn split(&self, split: Split) -> (Vec<BoardRecord>, Vec<Target>) {
        match split {
            Split::Test => (self.boards.clone(), self.targets.clone()),
            Split::Cold(seed) => {
                let cold = train::cold_items(&self.items, seed, 0.15);
                let users: HashSet<String> = self.targets.iter().map(|t| t.user.clone()).collect();
                let (boards, targets) = train::cold_split(&self.boards, &cold, Some(&users));
                let targets = targets.into_iter().map(|(user, board, target)| Target { user, board, target }).collect();
                (boards, targets)
            }
            Split::Dev(fold) => {
                let fold = fold.max(1);
                // user → the held-out item and everything saved after it on that board
                let mut held: HashMap<&str, HashSet<&str>> = HashMap::new();
                let mut targets = Vec::new();
                for t in &self.targets {
                    let board = self.boards.iter().find(|b| b.user == t.user && b.board == t.board);
                    if let Some(b) = board.filter(|b| b.items.len() > fold) {
                        let at = b.items.len() - fold;
                        held.entry(&t.user).or_default().extend(b.items[at..].iter().map(String::as_str));
                        targets.push(Target { user: t.user.clone(), board: t.board.clone(), target: b.items[at].clone() });
                    }
                }
                (train::without_held(&self.boards, &held), targets)
            }
        }
    }
}

/// All item ids on a user's boards (excluded from the candidates).
pub fn user_items<'a>(boards: &'a [BoardRecord], user: &str) -> HashSet<&'a str> {
    boards.iter().filter(|b| b.user == user).flat_map(|b| b.items.iter().map(String::as_str)).collect()
}

/// Recall@k and NDCG@k of one ranked list with one relevant item.
pub fn hit_metrics(ranked: &[String], target: &str, k: usize) -> (f64, f64) {
    match ranked.iter().take(k).position(|id| id == target) {
        Some(r) => (1.0, 1.0 / ((r + 2) as f64).log2()),
        None => (0.0, 0.0),
    }
}

/// Mean Recall@k and NDCG@k over many targets.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scores {
    /// Recall@k (= hit rate with one target).
    pub recall: f64,
    /// NDCG@k.
    pub ndcg: f64,
    /// Targets evaluated.
    pub n: usize,
}

impl Scores {
    /// Averages per-target metrics.
    pub fn mean(per_target: &[(f64, f64)]) -> Self {
        let n = per_target.len();
        let m = n.max(1) as f64;
        Self { recall: per_target.iter().map(|x| x.0).sum::<f64>() / m, ndcg: per_target.iter().map(|x| x.1).sum::<f64>() / m, n }
    }
}

/// One line of a run file: `{"user", "board", "ranked": [ids]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunLine {
    /// The user.
    pub user: String,
    /// The board.
    pub board: String,
    /// Ranked item ids, best first.
    pub ranked: Vec<String>,
}

/// Ranks all items by a score (higher first, ties by catalog order), skipping `exclude`.
pub fn top_k_by(scores: &[f32], items: &[ItemRecord], exclude: &HashSet<&str>, k: usize) -> Vec<String> {
    let mut order: Vec<usize> = (0..scores.len()).filter(|&i| !exclude.contains(items[i].id.as_str())).collect();
    let k = k.min(order.len());
    if k == 0 {
        return Vec::new();
    }
    let cmp = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b));
    order.select_nth_unstable_by(k - 1, cmp);
    order.truncate(k);
    order.sort_by(cmp);
    order.into_iter().map(|i| items[i].id.clone()).collect()
}

/// Which edgerec rankings to evaluate besides the baselines.
#[derive(Debug, Clone, Default)]
pub struct Methods {
    /// Knobs given by the caller (`--knobs`); without them the ranker is fitted to the split's
    /// context boards exactly as `edgerec index` would, and the defaults are evaluated too.
    pub knobs: Option<Knobs>,
    /// Also evaluate each signal switched off.
    pub ablation: bool,
}

/// Per-target (recall, ndcg) of every method on one split, and edgerec's run lines.
pub struct SplitResult {
    /// `(method name, per-target (recall, ndcg))`: popularity, the mean-embedding baseline, then
    /// edgerec (fitted, or the given knobs), the defaults, and ablations.
    pub methods: Vec<(String, Vec<(f64, f64)>)>,
    /// edgerec's (first variant's) ranked lists.
    pub lines: Vec<RunLine>,
    /// Mean time per edgerec request (first variant).
    pub ms_per_request: f64,
    /// The fit, when the ranker was fitted.
    pub fit: Option<FitReport>,
}

/// The ablation variants of `base`: each signal (or choice) switched off.
pub fn ablations(base: &Knobs) -> Vec<(String, Knobs)> {
    let off = |name: &str, kn: Knobs| (format!("edgerec {name}"), kn);
    vec![
        off("without co-saved", Knobs { w_cosaved: 0.0, ..base.clone() }),
        off("without similarity (items with data)", Knobs { w_similar: 0.0, w_similar_mean: 0.0, ..base.clone() }),
        off("without board names", Knobs { w_board_name: 0.0, ..base.clone() }),
        off("without popularity", Knobs { w_popular: 0.0, ..base.clone() }),
        off("without the new-item score", Knobs { w_new: 0.0, ..base.clone() }),
        off("without the new items' slots", Knobs { new_share: 0.0, ..base.clone() }),
        off("without pin quotas", Knobs { pin_quota: 0.0, ..base.clone() }),
        off("with one interest (the mean) instead of clusters", Knobs { interests_per_sqrt_pin: 0.0, ..base.clone() }),
        off("without recency", Knobs { recency_half_life: 1e6, ..base.clone() }),
        if base.other_boards > 0.0 {
            off("without other boards", Knobs { other_boards: 0.0, ..base.clone() })
        } else {
            off("with other boards (weight 0.25)", Knobs { other_boards: 0.25, ..base.clone() })
        },
        off("without near-duplicate collapse", Knobs { duplicate_cosine: 2.0, ..base.clone() }),
    ]
}

/// Evaluates popularity, the mean-embedding baseline and edgerec on one split: the catalog's
/// tables, and the fitted ranker, come from that split's context boards only. `vectors` are the
/// items' unit vectors (`items.len() × dim`) in the embedding space `space_id`.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_split(
    ds: &Dataset,
    split: Split,
    vectors: &[f32],
    dim: usize,
    space_id: &str,
    k: usize,
    methods: &Methods,
    build: &BuildOptions,
) -> Result<SplitResult> {
    let (boards, targets) = ds.split(split);
    let d = dim;
    let index: HashMap<&str, usize> = ds.items.iter().enumerate().map(|(i, it)| (it.id.as_str(), i)).collect();
    let (catalog, _, fit) = match &methods.knobs {
        Some(_) => {
            let (c, b) = crate::catalog::build(ds.items.clone(), vectors, d, &boards, space_id, build)?;
            (c, b, None)
        }
        None => train::index(ds.items.clone(), vectors, d, &boards, space_id, build, Some(&FitOptions::default()))?,
    };

    // Baselines: popularity, and the mean of the target board's item vectors by cosine.
    let pop = catalog.popularity();
    let (mut pop_m, mut mean_m) = (Vec::new(), Vec::new());
    for t in &targets {
        let excl = user_items(&boards, &t.user);
        pop_m.push(hit_metrics(&top_k_by(&pop, &ds.items, &excl, k), &t.target, k));
        let mut q = vec![0f32; d];
        for b in boards.iter().filter(|b| b.user == t.user && b.board == t.board) {
            // A board may name items the catalog lacks: they have no vector to add.
            for i in b.items.iter().filter_map(|id| index.get(id.as_str())) {
                crate::vector::add_scaled(&mut q, 1.0, &vectors[i * d..(i + 1) * d]);
            }
        }
        let scores: Vec<f32> = vectors.chunks_exact(d).map(|v| crate::vector::dot_f32(v, &q)).collect();
        mean_m.push(hit_metrics(&top_k_by(&scores, &ds.items, &excl, k), &t.target, k));
    }
    let mut out = vec![("popularity".to_string(), pop_m), ("mean item embedding, cosine".to_string(), mean_m)];

    let mut ranker = Ranker::new(catalog)?;
    let mut variants: Vec<(String, Knobs)> = match &methods.knobs {
        Some(kn) => vec![("edgerec (--knobs)".to_string(), kn.clone())],
        None => vec![
            // What `edgerec index` would ship: fitted knobs, or the defaults where the gate refused.
            ("edgerec".to_string(), ranker.knobs().clone()),
            ("edgerec with the built-in default knobs".to_string(), Knobs::default()),
        ],
    };
    if methods.ablation {
        let base = variants[0].1.clone();
        variants.extend(ablations(&base));
    }
    let mut lines = Vec::new();
    let mut ms_per_request = 0.0;
    for (v, (name, knobs)) in variants.iter().enumerate() {
        ranker.set_knobs(knobs.clone());
        let t0 = std::time::Instant::now();
        let mut m = Vec::with_capacity(targets.len());
        for t in &targets {
            let req = request_for(&boards, &t.user, &t.board, k);
            // A user whose every board emptied (cold split) has nothing to recommend from.
            let ranked: Vec<String> = if req.boards.is_empty() {
                Vec::new()
            } else {
                ranker.recommend(None, &req)?.items.into_iter().map(|r| r.id).collect()
            };
            m.push(hit_metrics(&ranked, &t.target, k));
            if v == 0 {
                lines.push(RunLine { user: t.user.clone(), board: t.board.clone(), ranked });
            }
        }
        if v == 0 {
            ms_per_request = t0.elapsed().as_secs_f64() * 1e3 / targets.len().max(1) as f64;
        }
        out.push((name.clone(), m));
    }
    Ok(SplitResult { methods: out, lines, ms_per_request, fit })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(user: &str, name: &str, items: &[&str]) -> BoardRecord {
        BoardRecord { user: user.into(), board: name.into(), items: items.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn metrics_count_rank_positions() {
        let ranked: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(hit_metrics(&ranked, "a", 10), (1.0, 1.0));
        assert_eq!(hit_metrics(&ranked, "c", 10), (1.0, 0.5));
        assert_eq!(hit_metrics(&ranked, "c", 2), (0.0, 0.0));
        assert_eq!(hit_metrics(&ranked, "z", 10), (0.0, 0.0));
    }

    #[test]
    fn dev_split_holds_out_the_last_context_item_everywhere() {
        let ds = Dataset {
            items: vec![],
            boards: vec![board("u", "liked", &["a", "b", "c"]), board("u", "tag", &["c"]), board("v", "liked", &["c", "a"])],
            targets: vec![Target { user: "u".into(), board: "liked".into(), target: "z".into() }],
        };
        let (boards, targets) = ds.split(Split::Dev(1));
        assert_eq!(targets, vec![Target { user: "u".into(), board: "liked".into(), target: "c".into() }]);
        assert_eq!(boards, vec![board("u", "liked", &["a", "b"]), board("v", "liked", &["c", "a"])]);
        let req = request_for(&boards, "u", "liked", 10);
        assert_eq!(req.boards.len(), 1);
        assert_eq!(req.target_board.as_deref(), Some("liked"));
        // Fold 2 holds out "b" and drops the later "c" too.
        let (boards, targets) = ds.split(Split::Dev(2));
        assert_eq!(targets[0].target, "b");
        assert_eq!(boards, vec![board("u", "liked", &["a"]), board("v", "liked", &["c", "a"])]);
    }
}
