//! Picking the results from scored candidates: top-n, near-duplicate collapse, MMR diversity and
//! the pins' quotas of slots.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// A scored candidate and the pin its reason names (its source), if any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Catalog index.
    pub item: u32,
    /// Blended score.
    pub score: f32,
    /// Index into `Profile::pins` of the pin that explains it best.
    pub source: Option<usize>,
    /// A new item (nobody has saved it yet) that may fill the slots kept for new items.
    pub new: bool,
}

/// Whom a quota of slots is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// A pin (index into `Profile::pins`): candidates it explains.
    Pin(usize),
    /// New items.
    New,
}

impl Candidate {
    /// Whether this candidate fills a slot kept for `slot`.
    pub fn fills(&self, slot: Slot) -> bool {
        match slot {
            Slot::Pin(s) => self.source == Some(s),
            Slot::New => self.new,
        }
    }
}

/// The `n` best finite scores, best first (ties: lower index).
pub fn top_n(scores: &[f32], n: usize) -> Vec<u32> {
    // Over a whole catalog: a threshold from every 16th score that about 2n items reach, and
    // those sorted. Exact whenever at least `n` reach it (every other item scores below the
    // n-th kept); else the heap below, which any order of scores gives the same answer.
    const STEP: usize = 16;
    let want = (2 * n).div_ceil(STEP);
    if n > 0 && scores.len() >= 8 * STEP * want {
        let mut sample: Vec<f32> = scores.iter().step_by(STEP).copied().filter(|s| *s > f32::NEG_INFINITY).collect();
        if sample.len() >= want {
            let (_, &mut threshold, _) = sample.select_nth_unstable_by(want - 1, |a, b| b.total_cmp(a));
            let mut kept: Vec<(f32, u32)> =
                scores.iter().enumerate().filter(|(_, &s)| s >= threshold).map(|(j, &s)| (s, j as u32)).collect();
            if kept.len() >= n {
                kept.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                return kept.into_iter().take(n).map(|(_, j)| j).collect();
            }
        }
    }
    top_n_by_heap(scores, n)
}

/// [`top_n`] for any order of scores: a heap of the best so far.
fn top_n_by_heap(scores: &[f32], n: usize) -> Vec<u32> {
    let mut heap: Best = BinaryHeap::with_capacity(n + 1);
    // Once the heap is full, most items lose to its worst entry on one float compare.
    let mut worst = f32::NEG_INFINITY;
    for (j, &s) in scores.iter().enumerate() {
        keep(&mut heap, &mut worst, n, s, j as u32);
    }
    let mut out: Vec<(f32, u32)> = heap.into_iter().map(|Reverse((s, Reverse(j)))| (s.0, j)).collect();
    out.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    out.into_iter().map(|(_, j)| j).collect()
}

/// The heap of [`top_n`]: the `n` best so far, the worst on top.
type Best = BinaryHeap<Reverse<(OrdF32, Reverse<u32>)>>;

/// Offers item `j` with score `s` to `heap` (`worst`: its worst score once full). NaN and −∞
/// are never kept.
#[inline]
fn keep(heap: &mut Best, worst: &mut f32, n: usize, s: f32, j: u32) {
    if s.is_nan() || s < *worst || s == f32::NEG_INFINITY {
        return;
    }
    let entry = Reverse((OrdF32(s), Reverse(j)));
    if heap.len() < n {
        heap.push(entry);
    } else if heap.peek().is_some_and(|min| entry < *min) {
        // Better than the worst kept (Reverse flips the order): replace it.
        heap.pop();
        heap.push(entry);
    } else {
        return;
    }
    if heap.len() == n {
        *worst = heap.peek().map_or(f32::NEG_INFINITY, |Reverse((w, _))| w.0);
    }
}

/// Picks up to `k` of `cands` (best score first), `cos` giving the cosine of two items:
/// near-duplicates of a pick (cosine ≥ `duplicate_cosine`) are skipped; with `diversity > 0`, greedy MMR; and every source `s` in
/// `need` (a pin, or the new items) gets at least `need[s]` slots when it has that many
/// candidates, the rest going to the best of all. Returns indices into `cands`, in pick order.
pub fn select(
    cands: &[Candidate],
    k: usize,
    diversity: f32,
    duplicate_cosine: f32,
    need: &HashMap<Slot, usize>,
    cos: impl Fn(u32, u32) -> f32,
) -> Vec<usize> {
    let (lo, hi) = (cands.last().map_or(0.0, |c| c.score), cands.first().map_or(0.0, |c| c.score));
    let span = (hi - lo).max(1e-6);
    // A quota can only be met from the candidates a source has.
    let mut owed: HashMap<Slot, usize> = HashMap::new();
    for (&s, &n) in need {
        let have = cands.iter().filter(|c| c.fills(s)).count();
        if n.min(have) > 0 {
            owed.insert(s, n.min(have));
        }
    }
    let mut picked: Vec<usize> = Vec::with_capacity(k);
    let mut max_sim: Vec<f32> = vec![f32::NEG_INFINITY; cands.len()];
    let mut used = vec![false; cands.len()];
    while picked.len() < k {
        let owed_total: usize = owed.values().sum();
        // Once the free slots are only enough for what is owed, only owed sources may fill them.
        let only_owed = owed_total > 0 && k - picked.len() <= owed_total;
        let mut best: Option<(f32, usize)> = None;
        for (c, cand) in cands.iter().enumerate() {
            if used[c] || max_sim[c] >= duplicate_cosine {
                continue;
            }
            if only_owed && !owed.keys().any(|&s| cand.fills(s)) {
                continue;
            }
            let rel = (cand.score - lo) / span;
            let mmr = (1.0 - diversity) * rel - diversity * max_sim[c].max(0.0);
            if best.is_none_or(|(b, _)| mmr > b) {
                best = Some((mmr, c));
            }
        }
        let Some((_, c)) = best else {
            if only_owed {
                // The owed sources ran out of candidates (duplicates): free their slots.
                owed.clear();
                continue;
            }
            break;
        };
        used[c] = true;
        picked.push(c);
        // One pick may fill two quotas (a new item its pin explains).
        owed.retain(|&s, n| {
            if cands[c].fills(s) {
                *n -= 1;
            }
            *n > 0
        });
        let j = cands[c].item;
        for (o, cand) in cands.iter().enumerate() {
            if !used[o] {
                max_sim[o] = max_sim[o].max(cos(j, cand.item));
            }
        }
    }
    picked
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_n_keeps_the_best_and_breaks_ties_by_index() {
        let s = [1.0, 5.0, f32::NEG_INFINITY, 5.0, 3.0];
        assert_eq!(top_n(&s, 3), vec![1, 3, 4]);
        assert_eq!(top_n(&s, 10), vec![1, 3, 4, 0]);
    }

    proptest::proptest! {
        /// Both ways keep exactly what a full sort would: ties by index, with −∞ and NaN never
        /// kept.
        #[test]
        fn top_n_is_a_full_sort_cut(codes in proptest::collection::vec(0u8..40, 0..3000), n in 0usize..60) {
            let scores: Vec<f32> = codes
                .iter()
                .map(|&c| match c {
                    0 => f32::NEG_INFINITY,
                    1 => f32::NAN,
                    c => (c % 13) as f32, // many ties
                })
                .collect();
            let mut want: Vec<u32> = (0..scores.len() as u32).filter(|&j| scores[j as usize] > f32::NEG_INFINITY).collect();
            want.sort_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]).then(a.cmp(&b)));
            want.truncate(n);
            proptest::prop_assert_eq!(top_n_by_heap(&scores, n), want.clone());
            proptest::prop_assert_eq!(top_n(&scores, n), want);
        }
    }
}
