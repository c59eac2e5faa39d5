//! The catalog bundle on disk: the shared envelope ([`crate::bundle`], magic `EDGERECC`) whose
//! JSON header is a [`CatalogHeader`] naming these sections:
//!
//! ```text
//!   items       JSON array of ItemRecord (id and display fields)
//!   vectors     n × dim i8
//!   scales      n f32           (vector i ≈ vectors[i] × scales[i])
//!   popularity  n f32           (users who saved the item)
//!   nbr_offsets (n + 1) u32     (CSR over the co-occurrence neighbours)
//!   nbr_items   m u32
//!   nbr_weights m f32
//!   names       JSON NameTable
//!   ranker      optional: the ranker fitted to this catalog (JSON, read by `rank`)
//! ```
//! Numbers are little-endian. Every count is checked against the header and every index against
//! `n` when loading, so a truncated or foreign file is an error, never a panic later. Format 1
//! (sequential sections, before the shared envelope) is refused with a typed error naming it.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::{Catalog, ItemRecord, NameTable, NeighbourLists};
use crate::bundle::{self, Envelope, Kind, Section, Writer};
use crate::error::{Error, Result};

/// The bundle format this build reads and writes.
pub const FORMAT_VERSION: u32 = 2;

/// What the bundle says about itself (the JSON header).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogHeader {
    /// The id of the model that made the vectors (`Encoder::space_id`).
    pub model_id: String,
    /// Vector length.
    pub dim: usize,
    /// Number of items.
    pub items: usize,
    /// Number of neighbour entries over all items.
    pub neighbours: usize,
    /// Boards the co-occurrence and name tables were built from.
    pub boards: usize,
    /// The edgerec version that wrote the file.
    pub built_by: String,
    /// Where each section is.
    #[serde(default)]
    pub sections: Sections,
}

/// The section table of a catalog bundle.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sections {
    /// JSON array of items.
    pub items: Section,
    /// int8 vectors.
    pub vectors: Section,
    /// f32 scales.
    pub scales: Section,
    /// f32 popularity.
    pub popularity: Section,
    /// u32 CSR offsets.
    pub nbr_offsets: Section,
    /// u32 neighbour items.
    pub nbr_items: Section,
    /// f32 neighbour weights.
    pub nbr_weights: Section,
    /// JSON name table.
    pub names: Section,
    /// The fitted ranker (JSON), when the catalog was built with boards to fit it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranker: Option<Section>,
}

/// Where the in-place sections are in a loaded bundle's bytes.
#[derive(Debug, Clone)]
pub(crate) struct Ranges {
    pub vectors: Range<usize>,
    pub scales: Range<usize>,
    pub popularity: Range<usize>,
    /// offsets, items, weights
    pub neighbours: [Range<usize>; 3],
    pub ranker: Option<Range<usize>>,
}

pub(crate) struct Loaded {
    pub header: CatalogHeader,
    pub catalog_id: String,
    pub items: Vec<ItemRecord>,
    pub names: NameTable,
    pub at: Ranges,
}

/// The parts of a catalog, as the builder makes them.
pub(crate) struct Parts<'a> {
    pub header: CatalogHeader,
    pub items: &'a [ItemRecord],
    pub vectors: &'a [i8],
    pub scales: &'a [f32],
    pub popularity: &'a [f32],
    pub neighbours: &'a NeighbourLists,
    pub names: &'a NameTable,
    pub ranker: Option<&'a [u8]>,
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Kind::Catalog.error(msg)
}

/// Serialises a catalog from its parts.
pub(crate) fn write(p: Parts) -> Vec<u8> {
    let mut w = Writer::default();
    let items = serde_json::to_vec(p.items).expect("items serialise");
    let names = serde_json::to_vec(p.names).expect("names serialise");
    let vectors: Vec<u8> = p.vectors.iter().map(|&x| x as u8).collect();
    let sections = Sections {
        items: w.add(&items),
        vectors: w.add(&vectors),
        scales: w.add_f32s(p.scales),
        popularity: w.add_f32s(p.popularity),
        nbr_offsets: w.add_u32s(&p.neighbours.offsets),
        nbr_items: w.add_u32s(&p.neighbours.items),
        nbr_weights: w.add_f32s(&p.neighbours.weights),
        names: w.add(&names),
        ranker: p.ranker.map(|r| w.add(r)),
    };
    let header = CatalogHeader { sections, ..p.header };
    w.finish(Kind::Catalog, FORMAT_VERSION, &serde_json::to_vec(&header).expect("header serialises"))
}

/// The bytes of `c` with its ranker section replaced: every other section is copied as it is.
pub(crate) fn rewrite(c: &Catalog, ranker: Option<&[u8]>) -> Vec<u8> {
    let mut w = Writer::default();
    let old = &c.header.sections;
    let e = Envelope::parse(&c.bytes, Kind::Catalog, &[FORMAT_VERSION]).expect("a loaded catalog parses");
    let mut copy = |s: Section| w.add(&c.bytes[e.range(s.offset, s.len, "section").expect("checked at load")]);
    let sections = Sections {
        items: copy(old.items),
        vectors: copy(old.vectors),
        scales: copy(old.scales),
        popularity: copy(old.popularity),
        nbr_offsets: copy(old.nbr_offsets),
        nbr_items: copy(old.nbr_items),
        nbr_weights: copy(old.nbr_weights),
        names: copy(old.names),
        ranker: ranker.map(|r| w.add(r)),
    };
    let header = CatalogHeader { sections, ..c.header.clone() };
    w.finish(Kind::Catalog, FORMAT_VERSION, &serde_json::to_vec(&header).expect("header serialises"))
}

/// Parses and checks a catalog bundle.
pub(crate) fn read(bytes: &[u8]) -> Result<Loaded> {
    let e = Envelope::parse(bytes, Kind::Catalog, &[FORMAT_VERSION])?;
    let header: CatalogHeader = serde_json::from_slice(e.header).map_err(|e| bad(format!("header: {e}")))?;
    let (n, d, m) = (header.items, header.dim, header.neighbours);
    if d == 0 {
        return Err(bad("header: dim is 0"));
    }
    // Sizes from the header are untrusted: checked arithmetic, so a hostile header is an error.
    let size = |count: usize, width: usize| count.checked_mul(width).ok_or_else(|| bad("header: section sizes overflow"));
    let s = &header.sections;
    let items: Vec<ItemRecord> =
        serde_json::from_slice(&bytes[e.section(s.items, "items", None)?]).map_err(|e| bad(format!("items: {e}")))?;
    if items.len() != n {
        return Err(bad(format!("items: {} records, the header says {n}", items.len())));
    }
    let vectors = e.section(s.vectors, "vectors", Some(size(n, d)?))?;
    let scales = e.section(s.scales, "scales", Some(size(n, 4)?))?;
    let popularity = e.section(s.popularity, "popularity", Some(size(n, 4)?))?;
    let offsets = e.section(
        s.nbr_offsets,
        "neighbour offsets",
        Some(size(n.checked_add(1).ok_or_else(|| bad("header: items overflow"))?, 4)?),
    )?;
    let nbr_items = e.section(s.nbr_items, "neighbour items", Some(size(m, 4)?))?;
    let weights = e.section(s.nbr_weights, "neighbour weights", Some(size(m, 4)?))?;
    bundle::check_finite(&bytes[scales.clone()], "scales", Kind::Catalog)?;
    bundle::check_finite(&bytes[popularity.clone()], "popularity", Kind::Catalog)?;
    bundle::check_finite(&bytes[weights.clone()], "neighbour weights", Kind::Catalog)?;
    let ob = &bytes[offsets.clone()];
    let mut prev = 0u32;
    for i in 0..=n {
        let o = bundle::u32_at(ob, i);
        if (i == 0 && o != 0) || o < prev {
            return Err(bad("neighbour offsets are not a valid index"));
        }
        prev = o;
    }
    if prev as usize != m {
        return Err(bad("neighbour offsets are not a valid index"));
    }
    let ib = &bytes[nbr_items.clone()];
    if (0..m).any(|k| bundle::u32_at(ib, k) as usize >= n) {
        return Err(bad("a neighbour refers to an item that does not exist"));
    }
    let names: NameTable =
        serde_json::from_slice(&bytes[e.section(s.names, "names", None)?]).map_err(|e| bad(format!("names: {e}")))?;
    names.check(n).map_err(bad)?;
    let ranker = s.ranker.map(|r| e.section(r, "ranker", None)).transpose()?;
    let catalog_id = e.digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(Loaded {
        at: Ranges { vectors, scales, popularity, neighbours: [offsets, nbr_items, weights], ranker },
        header,
        catalog_id,
        items,
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{ALIGN, DIGEST};
    use xxhash_rust::xxh3::xxh3_128;

    fn one_item() -> Vec<u8> {
        let header = CatalogHeader {
            model_id: "m".into(),
            dim: 2,
            items: 1,
            neighbours: 0,
            boards: 0,
            built_by: "test".into(),
            sections: Sections::default(),
        };
        let items = vec![ItemRecord { id: "a".into(), ..Default::default() }];
        let nb = NeighbourLists { offsets: vec![0, 0], items: vec![], weights: vec![] };
        let names = NameTable { offsets: vec![0], ..Default::default() };
        write(Parts {
            header,
            items: &items,
            vectors: &[127, 0],
            scales: &[0.01],
            popularity: &[1.0],
            neighbours: &nb,
            names: &names,
            ranker: None,
        })
    }

    /// Replaces the JSON header (re-padding the data region) and recomputes the checksum, as a
    /// hostile writer could.
    fn with_header(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let hlen = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let data = (16 + hlen).div_ceil(ALIGN) * ALIGN;
        let mut h: serde_json::Value = serde_json::from_slice(&bytes[16..16 + hlen]).unwrap();
        edit(&mut h);
        let h = serde_json::to_vec(&h).unwrap();
        let mut out = bytes[..12].to_vec();
        out.extend_from_slice(&(h.len() as u32).to_le_bytes());
        out.extend_from_slice(&h);
        out.resize(out.len().div_ceil(ALIGN) * ALIGN, 0);
        out.extend_from_slice(&bytes[data..bytes.len() - DIGEST]);
        let d = xxh3_128(&out).to_le_bytes();
        out.extend_from_slice(&d);
        out
    }

    #[test]
    fn hostile_headers_are_errors_not_panics() {
        let good = one_item();
        assert_eq!(Catalog::from_bytes(&good).unwrap().len(), 1);
        assert_eq!(Catalog::from_bytes(&with_header(&good, |_| {})).unwrap().len(), 1);
        for (field, value) in [
            ("neighbours", serde_json::json!(u64::MAX)),
            ("neighbours", serde_json::json!(u64::MAX / 4 + 1)),
            ("items", serde_json::json!(u64::MAX)),
            ("dim", serde_json::json!(u64::MAX)),
            ("dim", serde_json::json!(0)),
            ("model_id", serde_json::json!(5)),
        ] {
            let bytes = with_header(&good, |h| h[field] = value.clone());
            let e = Catalog::from_bytes(&bytes).unwrap_err();
            assert_eq!(e.code(), "invalid_catalog", "{field} = {value}: {e}");
        }
        for (section, value) in [
            ("vectors", serde_json::json!({ "offset": u64::MAX, "len": 2 })),
            ("names", serde_json::json!({ "offset": 0, "len": u64::MAX })),
            ("ranker", serde_json::json!({ "offset": 1u64 << 40, "len": 1 })),
            ("items", serde_json::json!(null)),
        ] {
            let bytes = with_header(&good, |h| h["sections"][section] = value.clone());
            let e = Catalog::from_bytes(&bytes).unwrap_err();
            assert_eq!(e.code(), "invalid_catalog", "{section} = {value}: {e}");
        }
    }

    #[test]
    fn format_1_files_are_refused_by_name() {
        let mut old = one_item();
        old[8..12].copy_from_slice(&1u32.to_le_bytes());
        let e = Catalog::from_bytes(&old).unwrap_err();
        assert!(e.to_string().contains("format version 1"), "{e}");
    }

    #[test]
    fn the_ranker_section_is_optional_and_replaceable() {
        let c = Catalog::from_bytes(&one_item()).unwrap();
        assert!(c.ranker_section().is_none());
        let with = c.with_ranker(Some(b"{\"x\":1}")).unwrap();
        assert_eq!(with.ranker_section(), Some(&b"{\"x\":1}"[..]));
        assert_eq!(with.vector(0), c.vector(0));
        assert_ne!(with.catalog_id(), c.catalog_id());
        assert!(with.with_ranker(None).unwrap().ranker_section().is_none());
    }
}
