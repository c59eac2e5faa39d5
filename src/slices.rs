//! Index builds that split (native only): the embedding step — what takes the time — runs as
//! independent slices (`edgerec index --slice i/n --out part`, one process, machine or batch task
//! per slice), and a merge (`edgerec index --slices part…`) builds the catalog from them without
//! a model. Slices are whole embedding batches, so every text is embedded in the same batch as in
//! a one-process build: from an empty vector cache the merged bundle is byte for byte the one a
//! single `edgerec index` writes.
//!
//! A slice file is a bundle envelope ([`Kind::VectorSlice`]) whose header names the slice, the
//! catalog it belongs to (a fingerprint of every item's text, in order) and the model.

use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use crate::bundle::{f32_at, Envelope, Kind, Section, Writer};
use crate::catalog::ItemRecord;
use crate::error::{Error, Result};

/// Texts per embedding batch, in a one-process build and in a slice alike.
pub const BATCH: usize = 256;

const FORMAT: u32 = 1;

/// Slice `index` of `count` (`"i/n"` on the command line, `0 ≤ i < n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// Which slice, from 0.
    pub index: usize,
    /// How many slices in all.
    pub count: usize,
}

impl FromStr for Slice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (i, n) = s.split_once('/').ok_or_else(|| format!("{s:?}: a slice is i/n, e.g. 0/4"))?;
        let (index, count) = (i.trim().parse::<usize>(), n.trim().parse::<usize>());
        match (index, count) {
            (Ok(index), Ok(count)) if count >= 1 && index < count => Ok(Self { index, count }),
            _ => Err(format!("{s:?}: a slice is i/n with 0 ≤ i < n (slices count from 0)")),
        }
    }
}

impl Slice {
    /// The items this slice embeds, of `items`: whole batches of [`BATCH`], the batches shared
    /// out as evenly as they go (a slice may be empty when there are more slices than batches).
    pub fn items(&self, items: usize) -> Range<usize> {
        let batches = items.div_ceil(BATCH);
        let batch = |i: usize| (i * batches / self.count * BATCH).min(items);
        batch(self.index)..batch(self.index + 1)
    }
}

/// A fingerprint of the items' texts (what is embedded), in order: slices of another items file
/// do not merge.
pub fn fingerprint(items: &[ItemRecord]) -> String {
    let mut bytes = Vec::new();
    for t in items.iter().map(ItemRecord::text) {
        bytes.extend_from_slice(&(t.len() as u64).to_le_bytes());
        bytes.extend_from_slice(t.as_bytes());
    }
    format!("{:032x}", xxh3_128(&bytes))
}

/// Who embedded a slice, and for which catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceHeader {
    /// Which slice, from 0.
    pub index: usize,
    /// Slices in all.
    pub count: usize,
    /// Items in the whole catalog.
    pub items: usize,
    /// The catalog's [`fingerprint`].
    pub fingerprint: String,
    /// The encoder's model id (what the vector cache keys by).
    pub model_id: String,
    /// The embedding space the catalog records (`Encoder::space_id`).
    pub space_id: String,
    /// Vector dimension.
    pub dim: usize,
    /// The slice's vectors: `items(index) × dim` f32.
    pub vectors: Section,
}

/// Writes one slice: `vectors` are those of `header.index`'s items, row after row.
pub fn write(header: SliceHeader, vectors: &[f32]) -> Vec<u8> {
    let mut w = Writer::default();
    let vectors = w.add_f32s(vectors);
    let header = SliceHeader { vectors, ..header };
    w.finish(Kind::VectorSlice, FORMAT, &serde_json::to_vec(&header).expect("header serialises"))
}

/// Reads one slice file: its header and vectors, every length checked.
pub fn read(bytes: &[u8]) -> Result<(SliceHeader, Vec<f32>)> {
    let env = Envelope::parse(bytes, Kind::VectorSlice, &[FORMAT])?;
    let h: SliceHeader = serde_json::from_slice(env.header).map_err(|e| env.error(format!("header: {e}")))?;
    if h.count == 0 || h.index >= h.count || h.dim == 0 {
        return Err(env.error(format!("slice {}/{} of dimension {}", h.index, h.count, h.dim)));
    }
    let rows = Slice { index: h.index, count: h.count }.items(h.items).len();
    let r = env.section(h.vectors, "vectors", rows.checked_mul(h.dim * 4))?;
    let data = &bytes[r];
    let vectors = (0..rows * h.dim).map(|i| f32_at(data, i)).collect();
    Ok((h, vectors))
}

/// The catalog's vectors from all of its slices (any order): each slice exactly once, all of the
/// same catalog (`fingerprint`, `items`) and model. Returns the vectors and one header.
pub fn merge(slices: Vec<(SliceHeader, Vec<f32>)>, items: usize, fingerprint: &str) -> Result<(Vec<f32>, SliceHeader)> {
    let bad = |m: String| Error::InvalidInput(format!("slices: {m}"));
    let Some(first) = slices.first().map(|s| s.0.clone()) else {
        return Err(bad("none given".into()));
    };
    let mut seen: Vec<Option<Vec<f32>>> = vec![None; first.count];
    for (h, v) in slices {
        if h.fingerprint != fingerprint || h.items != items {
            return Err(bad(format!("slice {}/{} was embedded from another items file ({} items)", h.index, h.count, h.items)));
        }
        if (h.count, &h.model_id, &h.space_id, h.dim) != (first.count, &first.model_id, &first.space_id, first.dim) {
            return Err(bad(format!(
                "slice {}/{} (model {}) does not belong with slice {}/{} (model {})",
                h.index, h.count, h.model_id, first.index, first.count, first.model_id
            )));
        }
        if seen[h.index].replace(v).is_some() {
            return Err(bad(format!("slice {}/{} is given twice", h.index, h.count)));
        }
    }
    let missing: Vec<String> =
        seen.iter().enumerate().filter(|(_, v)| v.is_none()).map(|(i, _)| format!("{i}/{}", first.count)).collect();
    if !missing.is_empty() {
        return Err(bad(format!("missing {}", missing.join(", "))));
    }
    Ok((seen.into_iter().flatten().flatten().collect(), first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_whole_batches_that_cover_the_catalog_once() {
        for items in [0, 1, 255, 256, 257, 1000, 9742] {
            for count in 1..=7 {
                let mut next = 0;
                for index in 0..count {
                    let r = Slice { index, count }.items(items);
                    assert_eq!(r.start, next, "{items} items, {index}/{count}");
                    assert!(r.start % BATCH == 0 || r.start == items);
                    next = r.end;
                }
                assert_eq!(next, items);
            }
        }
        assert_eq!("2/4".parse::<Slice>(), Ok(Slice { index: 2, count: 4 }));
        for bad in ["4/4", "1", "a/2", "0/0", "-1/3"] {
            assert!(bad.parse::<Slice>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_slice_round_trips_and_merging_checks_what_belongs_together() {
        let header = |index: usize, fp: &str| SliceHeader {
            index,
            count: 2,
            items: 300,
            fingerprint: fp.into(),
            model_id: "m".into(),
            space_id: "s".into(),
            dim: 2,
            vectors: Section::default(),
        };
        let rows = |index: usize| Slice { index, count: 2 }.items(300).len();
        let part = |index: usize, fp: &str| {
            let v: Vec<f32> = (0..rows(index) * 2).map(|i| (index * 1000 + i) as f32).collect();
            read(&write(header(index, fp), &v)).unwrap()
        };
        let (v, h) = merge(vec![part(1, "f"), part(0, "f")], 300, "f").unwrap();
        assert_eq!(v.len(), 600);
        assert_eq!((v[0], v[511], v[512]), (0.0, 511.0, 1000.0));
        assert_eq!(h.model_id, "m");
        let err = |r: Result<(Vec<f32>, SliceHeader)>| r.unwrap_err().to_string();
        assert!(err(merge(vec![part(0, "f")], 300, "f")).contains("missing 1/2"));
        assert!(err(merge(vec![part(0, "f"), part(0, "f")], 300, "f")).contains("given twice"));
        assert!(err(merge(vec![part(0, "f"), part(1, "g")], 300, "f")).contains("another items file"));
        let mut bytes = write(header(0, "f"), &vec![0.0; rows(0) * 2]);
        bytes.truncate(bytes.len() - 1);
        assert_eq!(read(&bytes).unwrap_err().code(), "invalid_input");
    }
}
