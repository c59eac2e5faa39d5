//! Building a catalog from items, their vectors, and the boards users saved them on.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::format::{self, Parts};
use super::vectors::{self, VectorBits};
use super::{BoardRecord, BoardTable, Catalog, CatalogHeader, ItemRecord, NameTable, NeighbourLists, MAX_ITEMS};
use crate::error::{Error, Result};

/// How the co-occurrence and name tables are made. The defaults were tuned on a dev split
/// (see README, "Quality"); every knob is scale-free (exponents and fractions of a board's
/// length), so the same values serve catalogs and boards of any size.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BuildOptions {
    /// Neighbours kept per item.
    pub neighbours_per_item: usize,
    /// A board of `L` items adds `L^-board_damping` to each pair it holds: long boards say less
    /// about any one pair.
    pub board_damping: f32,
    /// Two items `d` positions apart on a board of `L` items count `exp(-d / (window × L))`:
    /// items saved around the same time belong together more.
    pub window: f32,
    /// A neighbour saved *before* the source item on a board counts this much (one saved after
    /// counts 1): what people save next is the better guess.
    pub backward: f32,
    /// The pair weight is divided by `occ(source)^source_damping × occ(neighbour)^target_damping`
    /// (occurrence masses), so that popular items do not neighbour everything.
    pub source_damping: f32,
    /// See `source_damping`.
    pub target_damping: f32,
    /// A board name enters the name table when at least this many boards carry it.
    pub min_boards_per_name: usize,
    /// Items kept per board name.
    pub items_per_name: usize,
    /// A board's most recent items kept for the similar-boards signal (see `catalog::boards`):
    /// a long board's oldest saves say least about what its owner saves next, and cost bytes.
    /// The default, 50, was chosen on movielens' dev split (Recall@10 30: 0.1415, 50: 0.1459,
    /// 70: 0.1448, 100: 0.1437, every item: 0.1448), and halves the section.
    pub board_items_kept: usize,
    /// How the item vectors are stored (see `catalog::vectors`).
    pub vector_bits: VectorBits,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            neighbours_per_item: 50,
            board_damping: 0.5,
            window: 0.25,
            backward: 0.5,
            source_damping: 0.5,
            target_damping: 0.25,
            min_boards_per_name: 2,
            items_per_name: 100,
            board_items_kept: 50,
            vector_bits: VectorBits::Four,
        }
    }
}

/// What `build` did with the boards, for the CLI to report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildReport {
    /// Board entries whose id is not in the catalog (skipped).
    pub unknown_ids: usize,
}

/// Builds a catalog. `vectors` holds `items.len() × dim` floats (unit rows from the encoder
/// named by `model_id`); `boards` feed the co-occurrence, name and popularity tables.
pub fn build(
    items: Vec<ItemRecord>,
    vectors: &[f32],
    dim: usize,
    boards: &[BoardRecord],
    model_id: &str,
    opts: &BuildOptions,
) -> Result<(Catalog, BuildReport)> {
    let n = items.len();
    if n > MAX_ITEMS {
        return Err(Error::LimitExceeded { what: "catalog items".into(), actual: n, limit: MAX_ITEMS });
    }
    if dim == 0 || vectors.len() != n * dim {
        return Err(Error::InvalidInput(format!("{} vector values for {n} items of dim {dim}", vectors.len())));
    }
    if let Some(i) = vectors.iter().position(|x| !x.is_finite()) {
        return Err(Error::InvalidInput(format!("vector of item {:?} is not finite", items[i / dim].id)));
    }
    let index: HashMap<&str, u32> = items.iter().enumerate().map(|(i, it)| (it.id.as_str(), i as u32)).collect();
    if index.len() != n {
        return Err(Error::InvalidInput("duplicate item ids".into()));
    }

    let mut report = BuildReport::default();
    // Boards as item indices, first save of an item only.
    let boards_idx: Vec<Vec<u32>> = boards
        .iter()
        .map(|b| {
            let mut seen = HashSet::new();
            b.items
                .iter()
                .filter_map(|id| match index.get(id.as_str()) {
                    Some(&i) => seen.insert(i).then_some(i),
                    None => {
                        report.unknown_ids += 1;
                        None
                    }
                })
                .collect()
        })
        .collect();

    let coded = vectors::encode(vectors, dim, opts.vector_bits);
    // Scales are stored in f16: only a vector far longer than the unit vectors encoders make
    // could leave its range.
    if let Some(i) = coded.scales.iter().position(|&s| s > f32::from(half::f16::MAX)) {
        return Err(Error::InvalidInput(format!(
            "vector of item {:?} is too long to store (length {:.3e}; catalogs hold unit vectors)",
            items[i].id,
            crate::vector::dot_f32(&vectors[i * dim..(i + 1) * dim], &vectors[i * dim..(i + 1) * dim]).sqrt()
        )));
    }

    let popularity = popularity(boards, &boards_idx, n);
    let neighbours = cooccurrence(&boards_idx, n, opts);
    let names = name_table(boards, &boards_idx, opts);
    let recent: Vec<Vec<u32>> = boards_idx.iter().map(|b| b[b.len().saturating_sub(opts.board_items_kept)..].to_vec()).collect();
    let board_table = BoardTable::new(&recent, n);
    let header = CatalogHeader {
        model_id: model_id.to_string(),
        dim,
        vectors: coded.coding,
        items: n,
        neighbours: neighbours.items.len(),
        boards: boards.len(),
        built_by: format!("edgerec {}", env!("CARGO_PKG_VERSION")),
        sections: Default::default(),
        shard: None,
    };
    let bytes = format::write(Parts {
        header,
        items: &items,
        vectors: &coded,
        popularity: &popularity,
        neighbours: &neighbours,
        names: &names,
        ranker: None,
        boards: Some(&board_table),
    });
    // Through the loader: the result is exactly what a reader of the file will see, with its
    // content id.
    Ok((Catalog::from_vec(bytes)?, report))
}

/// Users who saved each item (boards without a user count as their own user).
fn popularity(boards: &[BoardRecord], boards_idx: &[Vec<u32>], n: usize) -> Vec<f32> {
    let mut per_user: HashMap<&str, HashSet<u32>> = HashMap::new();
    let mut pop = vec![0f32; n];
    for (b, idx) in boards.iter().zip(boards_idx) {
        if b.user.is_empty() {
            idx.iter().for_each(|&i| pop[i as usize] += 1.0);
        } else {
            per_user.entry(&b.user).or_default().extend(idx);
        }
    }
    for set in per_user.values() {
        set.iter().for_each(|&i| pop[i as usize] += 1.0);
    }
    pop
}

/// Position-decayed, board-damped co-occurrence, normalised by occurrence mass, top-N per item.
fn cooccurrence(boards: &[Vec<u32>], n: usize, o: &BuildOptions) -> NeighbourLists {
    let board_w: Vec<f32> = boards.iter().map(|b| (b.len().max(1) as f32).powf(-o.board_damping)).collect();
    let mut postings: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n]; // item → (board, position)
    let mut occ = vec![0f32; n];
    for (bi, b) in boards.iter().enumerate() {
        for (p, &i) in b.iter().enumerate() {
            postings[i as usize].push((bi as u32, p as u32));
            occ[i as usize] += board_w[bi];
        }
    }
    let occ_src: Vec<f32> = occ.iter().map(|&x| x.max(1e-12).powf(o.source_damping)).collect();
    let occ_dst: Vec<f32> = occ.iter().map(|&x| x.max(1e-12).powf(o.target_damping)).collect();

    let mut acc = vec![0f32; n];
    // Whether an item is in `touched` (not `acc[j] != 0`: a contribution can be exactly 0).
    let mut in_row = vec![false; n];
    let mut touched: Vec<u32> = Vec::new();
    let mut offsets = Vec::with_capacity(n + 1);
    let (mut items, mut weights) = (Vec::new(), Vec::new());
    offsets.push(0u32);
    for i in 0..n {
        for &(bi, p) in &postings[i] {
            let b = &boards[bi as usize];
            let inv_span = 1.0 / (o.window * b.len() as f32).max(1.0);
            let w = board_w[bi as usize];
            for (q, &j) in b.iter().enumerate() {
                if j as usize == i {
                    continue;
                }
                let d = (p as f32 - q as f32).abs();
                if !in_row[j as usize] {
                    in_row[j as usize] = true;
                    touched.push(j);
                }
                let direction = if (q as u32) < p { o.backward } else { 1.0 };
                acc[j as usize] += w * direction * (-d * inv_span).exp();
            }
        }
        let mut row: Vec<(u32, f32)> =
            touched.iter().map(|&j| (j, acc[j as usize] / (occ_src[i] * occ_dst[j as usize]))).collect();
        for &j in &touched {
            acc[j as usize] = 0.0;
            in_row[j as usize] = false;
        }
        touched.clear();
        let keep = o.neighbours_per_item.min(row.len());
        if keep < row.len() {
            row.select_nth_unstable_by(keep, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            row.truncate(keep);
        }
        row.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for (j, w) in row {
            items.push(j);
            weights.push(w);
        }
        offsets.push(items.len() as u32);
    }
    NeighbourLists { offsets, items, weights }
}

/// For each board name carried by enough boards: the share of those boards holding each item.
fn name_table(boards: &[BoardRecord], boards_idx: &[Vec<u32>], o: &BuildOptions) -> NameTable {
    let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (bi, b) in boards.iter().enumerate() {
        let key = super::normalize_name(&b.board);
        if !key.is_empty() {
            by_name.entry(key).or_default().push(bi);
        }
    }
    let mut t = NameTable { offsets: vec![0], ..Default::default() };
    for (name, bis) in by_name {
        if bis.len() < o.min_boards_per_name {
            continue;
        }
        let mut count: HashMap<u32, u32> = HashMap::new();
        for &bi in &bis {
            for &i in &boards_idx[bi] {
                *count.entry(i).or_default() += 1;
            }
        }
        let mut row: Vec<(u32, u32)> = count.into_iter().collect();
        row.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        row.truncate(o.items_per_name);
        let total = bis.len() as f32;
        for (i, c) in row {
            t.items.push(i);
            t.weights.push(c as f32 / total);
        }
        t.names.push(name);
        t.boards.push(bis.len() as u32);
        t.offsets.push(t.items.len() as u32);
    }
    t
}
