//! Sharded catalogs (`edgerec index --shards N`): one built catalog cut into `N` shards and a
//! front, so that a catalog too large for one isolate is served by several.
//!
//! - **Shard `i`** owns a contiguous run of the catalog's items and is a catalog bundle of its own
//!   (format 7: format 6 plus a [`ShardInfo`]; format 5, of format 4, still loads): those
//!   items' display fields, vectors (the same codes and scales, under the whole catalog's mean
//!   and rotation), popularity and board-name entries, and a co-saved table with a row for
//!   *every* item of the catalog holding the neighbours this shard owns — for each owned item,
//!   the pins that point at it — with the weight codes and row scales unchanged. A shard scores its items exactly as the whole catalog
//!   would.
//! - **The front** ([`Front`], magic `EDGERECF`) holds what a request needs of the whole catalog
//!   before any shard is asked: the item ids (as 64-bit hashes, to resolve pins), the shards'
//!   ranges and content ids, the popularity prior's statistics, the fitted ranker, and the
//!   vectors of the sample the similarity signals are scaled by.
//!
//! Every file of one set carries the whole catalog's content id (`set`), so a front refuses a
//! shard of another set, and a shard is never taken for a catalog of its own (its format).

use std::ops::Range;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::format::{self, CatalogHeader, NeighbourRanges, PackedRows, Parts, ShardInfo, FORMAT_VERSION};
use super::vectors::{Encoded, VectorCoding};
use super::{BoardTable, Catalog, ItemRecord, NameTable, NeighbourLists};
use crate::bundle::{self, Envelope, Kind, Section, Writer};
use crate::error::{Error, Result};

/// The front's format.
pub const FRONT_FORMAT: u32 = 1;

/// Most shards in a set.
pub const MAX_SHARDS: usize = 256;

/// One shard as the front knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardEntry {
    /// Its number, from 0.
    pub index: usize,
    /// The whole catalog's index of its first item.
    pub start: usize,
    /// Its items.
    pub items: usize,
    /// Its bundle's content id.
    pub catalog_id: String,
}

/// The sections of a front file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontSections {
    /// Every item's id as `(xxh3-64 of the id, u64 LE; catalog index, u32 LE)`, sorted by hash.
    pub ids: Section,
    /// A catalog bundle of the similarity sample's items (see [`sample_indices`]).
    pub sample: Section,
    /// The whole catalog's boards (see [`BoardTable`]), for the similar-boards signal the front
    /// computes; fronts of catalogs without boards have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boards: Option<Section>,
}

/// What a front file says about the set (its JSON header).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontHeader {
    /// The whole catalog's content id, which every shard of the set carries.
    pub set: String,
    /// The model that made the vectors (`Encoder::space_id`).
    pub model_id: String,
    /// Vector length.
    pub dim: usize,
    /// How the shards store their vectors.
    pub vectors: VectorCoding,
    /// Items in the whole catalog.
    pub items: usize,
    /// The shards, in order: each owns `start..start + items`.
    pub shards: Vec<ShardEntry>,
    /// The popularity prior's statistics over the whole catalog.
    pub prior: (f32, f32),
    /// The fitted ranker section of the whole catalog (JSON), if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranker: Option<serde_json::Value>,
    /// The edgerec version that wrote the file.
    pub built_by: String,
    /// Where each section is.
    pub sections: FrontSections,
}

/// The items a similarity signal is scaled by: every `n / 512`-th item of the catalog.
pub fn sample_indices(n: usize) -> impl Iterator<Item = usize> {
    (0..n).step_by((n / 512).max(1))
}

/// A loaded front: the set's header, the id index and the sample.
#[derive(Debug, Clone)]
pub struct Front {
    header: FrontHeader,
    /// The front file, whose id index is read in place (`ids`): a copy of it would be 12 bytes
    /// an item more at the load's high-water mark (12 MB at a million items).
    bytes: Vec<u8>,
    ids: Range<usize>,
    sample: Catalog,
    boards: BoardTable,
    front_id: String,
}

impl Front {
    /// Parses and checks a front file (`invalid_catalog` for any defect), copying the bytes once.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::from_vec(bytes.to_vec())
    }

    /// Parses and checks a front file, keeping `bytes` as the id index's storage.
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self> {
        let e = Envelope::parse(&bytes, Kind::Front, &[FRONT_FORMAT])?;
        let header: FrontHeader = serde_json::from_slice(e.header).map_err(|x| e.error(format!("header: {x}")))?;
        let n = header.items;
        let id_range =
            e.section(header.sections.ids, "ids", Some(n.checked_mul(12).ok_or_else(|| e.error("items overflow"))?))?;
        let ids = &bytes[id_range.clone()];
        if (1..n).any(|k| hash_at(ids, k - 1) > hash_at(ids, k)) || (0..n).any(|k| index_at(ids, k) as usize >= n) {
            return Err(e.error("the id index is not sorted, or names an item that does not exist"));
        }
        let sample = Catalog::from_vec(bytes[e.section(header.sections.sample, "sample", None)?].to_vec())?;
        if sample.len() != sample_indices(n).count() || sample.header().model_id != header.model_id || sample.dim() != header.dim
        {
            return Err(e.error("the similarity sample does not match the set"));
        }
        let mut at = 0;
        for (i, s) in header.shards.iter().enumerate() {
            if s.index != i || s.start != at || s.items == 0 {
                return Err(e.error(format!("shard {i} does not continue the items where shard {} ended", i.max(1) - 1)));
            }
            at += s.items;
        }
        if at != n || header.shards.is_empty() || header.shards.len() > MAX_SHARDS {
            return Err(e.error(format!("{} shards do not cover the {n} items", header.shards.len())));
        }
        if !(header.prior.0.is_finite() && header.prior.1.is_finite()) {
            return Err(e.error("the popularity statistics are not finite"));
        }
        let boards = match header.sections.boards {
            Some(b) => BoardTable::decode(&bytes[e.section(b, "boards", None)?], n).map_err(|x| e.error(x))?,
            None => BoardTable::default(),
        };
        let front_id = e.digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self { header, bytes, ids: id_range, sample, boards, front_id })
    }

    /// The whole catalog's boards.
    pub fn boards(&self) -> &BoardTable {
        &self.boards
    }

    /// The set's header.
    pub fn header(&self) -> &FrontHeader {
        &self.header
    }

    /// The front file's own content id.
    pub fn front_id(&self) -> &str {
        &self.front_id
    }

    /// The similarity sample's items, in [`sample_indices`] order.
    pub fn sample(&self) -> &Catalog {
        &self.sample
    }

    /// The whole catalog's index of the item with this id (by its 64-bit hash: the build
    /// refuses a catalog where two ids share one).
    pub fn index_of(&self, id: &str) -> Option<usize> {
        let h = xxh3_64(id.as_bytes());
        let (n, ids) = (self.header.items, &self.bytes[self.ids.clone()]);
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if hash_at(ids, mid) < h {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo < n && hash_at(ids, lo) == h).then(|| index_at(ids, lo) as usize)
    }

    /// The shard that owns catalog item `i`.
    pub fn owner(&self, i: usize) -> usize {
        self.header.shards.partition_point(|s| s.start + s.items <= i)
    }

    /// Refuses a shard whose messages are laid out otherwise (`protocol`: what it says it
    /// speaks; see [`crate::rank::fanout::PROTOCOL`]): an `invalid_catalog` error.
    pub fn check_protocol(&self, index: usize, protocol: u32) -> Result<()> {
        let ours = crate::rank::fanout::PROTOCOL;
        if protocol != ours {
            return Err(Error::InvalidCatalog(format!(
                "shard {index} speaks protocol {protocol}, this front {ours}: deploy the front and its shards from the same build"
            )));
        }
        Ok(())
    }

    /// Checks that `shard` (a loaded shard bundle) is shard `index` of this set, as the front
    /// lists it: a missing, foreign or misplaced shard is an `invalid_catalog` error.
    pub fn check_shard(&self, index: usize, shard: &ShardInfo, catalog_id: &str) -> Result<()> {
        let want =
            self.header.shards.get(index).ok_or_else(|| {
                Error::InvalidCatalog(format!("shard {index}: the set has {} shards", self.header.shards.len()))
            })?;
        if shard.set != self.header.set {
            return Err(Error::InvalidCatalog(format!(
                "shard {index} belongs to another catalog (set {}, this front's is {})",
                shard.set, self.header.set
            )));
        }
        if shard.index != index || shard.count != self.header.shards.len() || shard.start != want.start {
            return Err(Error::InvalidCatalog(format!(
                "shard {index} is shard {} of {} (from item {}); the front expects shard {index} of {} from item {}",
                shard.index,
                shard.count,
                shard.start,
                self.header.shards.len(),
                want.start
            )));
        }
        if catalog_id != want.catalog_id {
            return Err(Error::InvalidCatalog(format!(
                "shard {index} has content id {catalog_id}, the front lists {}: a shard of another build",
                want.catalog_id
            )));
        }
        Ok(())
    }
}

fn hash_at(ids: &[u8], k: usize) -> u64 {
    u64::from_le_bytes(ids[k * 12..k * 12 + 8].try_into().expect("8 bytes"))
}

fn index_at(ids: &[u8], k: usize) -> u32 {
    bundle::u32_at(&ids[k * 12 + 8..k * 12 + 12], 0)
}

/// What an isolate holds per item beyond the item's vector codes and the co-saved entries that
/// point at it: its id and title in the item table, its sign bits and coarse terms, its scale
/// and popularity (about 0.24 KB: the 1M-item run's shards held 234–241 bytes an item beyond
/// their files, wasm memory being the load's high-water mark).
const ITEM_OVERHEAD: f64 = 240.0;

/// The shards' items: contiguous runs cut so that each shard holds about the same bytes in
/// memory. Equal item counts are not equal bytes: a shard's co-saved table holds, from every
/// row, the entries that point at its items, so a run of popular items costs far more (on the
/// 1M-item catalog, cut by count, shard 0's file was 85 MB against 41–50 MB).
fn balanced_ranges(c: &Catalog, count: usize) -> Vec<Range<usize>> {
    let n = c.len();
    let code_bytes = c.header.vectors.code_bytes(c.dim()) as f64;
    // The packed table's mean bytes an entry: what each entry pointing at an item costs it.
    let entry_bytes = match &c.at.neighbours {
        NeighbourRanges::Packed([_, rows]) => rows.len() as f64 / c.header.neighbours.max(1) as f64,
        NeighbourRanges::Plain(_) => 8.0,
    };
    let mut cost = vec![code_bytes + ITEM_OVERHEAD; n];
    let table = c.neighbours();
    for i in 0..n {
        for (j, _) in table.of(i) {
            cost[j as usize] += entry_bytes;
        }
    }
    let total: f64 = cost.iter().sum();
    let mut ranges = Vec::with_capacity(count);
    let (mut start, mut acc) = (0usize, 0f64);
    for (j, &x) in cost.iter().enumerate() {
        acc += x;
        let k = ranges.len();
        // Shard k ends once the items so far reach its share, leaving one item for each shard
        // after it; the last takes the rest.
        let share = total * (k + 1) as f64 / count as f64;
        if k + 1 < count && (acc >= share || n - (j + 1) == count - k - 1) {
            ranges.push(start..j + 1);
            start = j + 1;
        }
    }
    ranges.push(start..n);
    ranges
}

/// The popularity prior's statistics of a catalog: mean and standard deviation of
/// `ln(1 + popularity)` over the items that have any (what `rank::signals::Prior` scales by).
pub fn prior_stats(popularity: &[f32]) -> (f32, f32) {
    let warm: Vec<f32> = popularity.iter().filter(|&&p| p > 0.0).map(|p| p.ln_1p()).collect();
    let n = warm.len().max(1) as f32;
    let mean = warm.iter().sum::<f32>() / n;
    let var = warm.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n;
    (mean, var.sqrt())
}

/// A set: the front's bytes and each shard's.
pub struct Split {
    /// The front file.
    pub front: Vec<u8>,
    /// The shard files, in order.
    pub shards: Vec<Vec<u8>>,
}

/// Cuts a built catalog (of this build's format) into `count` shards and their front. Loading them back and
/// ranking through them gives the whole catalog's answers.
pub fn split(c: &Catalog, count: usize) -> Result<Split> {
    let n = c.len();
    if !(1..=MAX_SHARDS.min(n.max(1))).contains(&count) || n == 0 {
        return Err(Error::InvalidInput(format!("--shards {count} must be 1..={} for {n} items", MAX_SHARDS.min(n))));
    }
    if c.at.version != FORMAT_VERSION || c.header.shard.is_some() {
        return Err(Error::InvalidInput(format!(
            "only a whole catalog of format {FORMAT_VERSION} can be sharded (this one is format {}{}): rebuild it with this edgerec",
            c.at.version,
            if c.header.shard.is_some() { ", a shard" } else { "" }
        )));
    }
    let NeighbourRanges::Packed([offsets, rows]) = &c.at.neighbours else {
        unreachable!("this build's format packs its neighbours")
    };
    let d = c.dim();
    let code_bytes = c.header.vectors.code_bytes(d);
    let codes = &c.bytes[c.at.vectors.clone()];
    let mean = c.header.sections.vector_mean.map(|m| {
        let e = Envelope::parse(&c.bytes, Kind::Catalog, &[FORMAT_VERSION]).expect("a loaded catalog parses");
        bundle::f32s(&c.bytes[e.section(m, "vector mean", None).expect("checked at load")], "vector mean", Kind::Catalog)
            .expect("checked at load")
    });
    let scales: Vec<f32> = c.scales.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4"))).collect();
    let row_scales: Vec<f32> = c.nbr_scales.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4"))).collect();
    let popularity = c.popularity();
    let prior = prior_stats(&popularity);
    let ranges = balanced_ranges(c, count);
    let owner = |j: u32| {
        let s = ranges.partition_point(|r| r.end <= j as usize);
        (s, j - ranges[s].start as u32)
    };
    let parts = super::neighbours::split_packed(&c.bytes[offsets.clone()], &c.bytes[rows.clone()], count, owner);
    let set = c.catalog_id.clone();
    let empty_names = NameTable { offsets: vec![0], ..Default::default() };
    let mut shards = Vec::with_capacity(count);
    let mut entries = Vec::with_capacity(count);
    for (i, (range, (offsets, rows, m))) in ranges.iter().zip(parts).enumerate() {
        let names = restrict_names(&c.names, range);
        let encoded = Encoded {
            coding: c.header.vectors,
            codes: codes[range.start * code_bytes..range.end * code_bytes].to_vec(),
            scales: scales[range.clone()].to_vec(),
            mean: mean.clone(),
        };
        let header = CatalogHeader {
            items: range.len(),
            neighbours: m,
            sections: Default::default(),
            shard: Some(ShardInfo { index: i, count, set: set.clone(), start: range.start, rows: n, prior }),
            ..c.header.clone()
        };
        let bytes = format::write_packed(
            Parts {
                header,
                items: &c.items.records(range.clone()),
                vectors: &encoded,
                popularity: &popularity[range.clone()],
                neighbours: &NeighbourLists::default(),
                names: &names,
                ranker: None,
                boards: None,
            },
            PackedRows { offsets, rows, scales: row_scales.clone() },
        );
        let loaded = Catalog::from_vec(bytes)?;
        entries.push(ShardEntry {
            index: i,
            start: range.start,
            items: range.len(),
            catalog_id: loaded.catalog_id().to_string(),
        });
        shards.push(loaded.bytes);
    }

    // The front: the id index, the similarity sample (its items' codes, as they are), the rest.
    let mut ids: Vec<(u64, u32)> = (0..n).map(|i| (xxh3_64(c.id(i).as_bytes()), i as u32)).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::InvalidInput(format!(
            "item ids {:?} and {:?} share a 64-bit hash: rename one to shard this catalog",
            c.id(w[0].1 as usize),
            c.id(w[1].1 as usize)
        )));
    }
    let sample: Vec<usize> = sample_indices(n).collect();
    let sample_items: Vec<ItemRecord> =
        sample.iter().map(|&j| ItemRecord { id: c.id(j).to_string(), ..Default::default() }).collect();
    let sample_codes: Vec<u8> =
        sample.iter().flat_map(|&j| codes[j * code_bytes..(j + 1) * code_bytes].iter().copied()).collect();
    let sample_bytes = format::write(Parts {
        header: CatalogHeader {
            items: sample.len(),
            neighbours: 0,
            boards: 0,
            sections: Default::default(),
            shard: None,
            ..c.header.clone()
        },
        items: &sample_items,
        vectors: &Encoded {
            coding: c.header.vectors,
            codes: sample_codes,
            scales: sample.iter().map(|&j| scales[j]).collect(),
            mean,
        },
        popularity: &vec![0.0; sample.len()],
        neighbours: &NeighbourLists { offsets: vec![0; sample.len() + 1], ..Default::default() },
        names: &empty_names,
        ranker: None,
        boards: None,
    });
    let mut w = Writer::default();
    let ids_section =
        w.add(&ids.iter().flat_map(|(h, i)| h.to_le_bytes().into_iter().chain(i.to_le_bytes())).collect::<Vec<u8>>());
    let sample_section = w.add(&sample_bytes);
    let boards_section = (!c.boards().is_empty()).then(|| w.add(&c.boards().encode()));
    let ranker = c.ranker_section().map(|r| serde_json::from_slice(r).expect("a loaded catalog's ranker section is JSON"));
    let header = FrontHeader {
        set,
        model_id: c.header.model_id.clone(),
        dim: d,
        vectors: c.header.vectors,
        items: n,
        shards: entries,
        prior,
        ranker,
        built_by: format!("edgerec {}", env!("CARGO_PKG_VERSION")),
        sections: FrontSections { ids: ids_section, sample: sample_section, boards: boards_section },
    };
    let front = w.finish(Kind::Front, FRONT_FORMAT, &serde_json::to_vec(&header).expect("header serialises"));
    Ok(Split { front, shards })
}

/// The name table with only the items of `range`, renumbered from its start (every name kept,
/// with its board count: the signal's weights are shares of those boards).
fn restrict_names(t: &NameTable, range: &Range<usize>) -> NameTable {
    let mut out = NameTable { names: t.names.clone(), boards: t.boards.clone(), offsets: vec![0], ..Default::default() };
    for k in 0..t.names.len() {
        for e in t.offsets[k] as usize..t.offsets[k + 1] as usize {
            let i = t.items[e] as usize;
            if range.contains(&i) {
                out.items.push((i - range.start) as u32);
                out.weights.push(t.weights[e]);
            }
        }
        out.offsets.push(out.items.len() as u32);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{build, BoardRecord};

    #[test]
    fn shards_hold_about_the_same_bytes_and_popular_items_fill_one_sooner() {
        let (n, dim) = (400, 16);
        let items: Vec<ItemRecord> = (0..n).map(|i| ItemRecord { id: format!("i{i}"), ..Default::default() }).collect();
        let vectors: Vec<f32> = (0..n * dim).map(|k| ((k * 37 % 101) as f32 - 50.0) / 50.0).collect();
        // Items 0..40 are on every board: the co-saved entries pointing at them pile up there.
        let boards: Vec<BoardRecord> = (0..120)
            .map(|b| BoardRecord {
                user: format!("u{b}"),
                board: "x".into(),
                items: (0..6)
                    .map(|k| format!("i{}", (b * 7 + k) % 40))
                    .chain((0..6).map(|k| format!("i{}", 40 + (b * 13 + k * 29) % 360)))
                    .collect(),
            })
            .collect();
        let (c, _) = build(items, &vectors, dim, &boards, "m", &Default::default()).unwrap();
        for count in [1, 2, 4, 7] {
            let ranges = balanced_ranges(&c, count);
            assert_eq!(ranges.len(), count);
            assert_eq!((ranges[0].start, ranges[count - 1].end), (0, n));
            assert!(ranges.windows(2).all(|w| w[0].end == w[1].start) && ranges.iter().all(|r| !r.is_empty()));
            if count > 1 {
                assert!(ranges[0].len() < n / count, "the popular run is the shortest: {ranges:?}");
            }
        }
        // A shard per item, at most.
        let every = balanced_ranges(&c, n);
        assert!(every.iter().all(|r| r.len() == 1));
    }
}
