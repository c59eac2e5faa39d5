//! The catalog bundle on disk: the shared envelope ([`crate::bundle`], magic `EDGERECC`) whose
//! JSON header is a [`CatalogHeader`] naming these sections:
//!
//! ```text
//!   items       ids and display fields as JSON columns, deflated (see `catalog::items`;
//!               formats 3 to 5: not deflated; format 2: an array of ItemRecord)
//!   vectors     the item vectors as the header's `vectors` coding says (see `catalog::vectors`):
//!               int8: n × dim i8; rotated4: n × dim/2 bytes of 4-bit codes
//!   scales      n f16           (int8: vector i ≈ vectors[i] × scales[i]; rotated4: see there)
//!   vector_mean rotated4 only: dim f32, the catalog's mean vector
//!   popularity  n f32           (users who saved the item)
//!   nbr_offsets (n + 1) u32     (byte offsets of each item's row in nbr_packed)
//!   nbr_packed  the co-saved neighbours, m entries (see `catalog::neighbours`)
//!   nbr_scales  n bf16          (each row's largest weight)
//!   names       JSON NameTable
//!   boards      optional: the boards, for the similar-boards signal (see `catalog::boards`;
//!               a whole catalog built with boards has it, a shard never)
//!   ranker      optional: the ranker fitted to this catalog (JSON, read by `rank`)
//! ```
//! Numbers are little-endian. Every count is checked against the header and every index against
//! `n` when loading, so a truncated or foreign file is an error, never a panic later. Format 6
//! is format 4 with the items section deflated (and format 7 the shard of format 6 as 5 was of
//! 4); formats 4 and 5 still load. Format 3 is format 4 with both scale sections in f32 (2 bytes an item more each); it still loads. The
//! vector scales are f16: an int8 scale of a unit vector is at least 1/(127·√dim), inside f16's
//! normal range (relative error 2⁻¹¹) for any model; a rotated4 scale is proportional to the
//! item's distance from the catalog mean, so an item within about 0.007 of the mean may fall
//! below that range, where f16's absolute error (2⁻²⁵) is still far under the 4-bit codes' own.
//! Vectors long enough to overflow f16 are refused when the catalog is built. The rows' scales
//! are bf16, because
//! co-occurrence weights have no bounded range (relative error at most 2⁻⁸, under half of what the
//! rows' own weight codes round by, 1.1%). Format 2
//! (the same, but the neighbours as `nbr_offsets` of entries, `nbr_items` m u32 and `nbr_weights`
//! m f32: 8 bytes an entry) still loads; format 1 (sequential sections, before the shared
//! envelope) is refused with a typed error naming it.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::neighbours::{self, Table};
use super::vectors::{Derived, Encoded, VectorCoding};
use super::{BoardTable, Catalog, ItemRecord, ItemTable, NameTable, NeighbourLists, Neighbours};
use crate::bundle::{self, Envelope, Kind, Section, Writer};
use crate::error::{Error, Result};

/// The bundle format this build writes: format 4 with the items section deflated.
pub const FORMAT_VERSION: u32 = 6;
/// The format of a catalog shard (`edgerec index --shards`): format 6 with a [`ShardInfo`] in
/// the header and neighbour rows for every item of the whole catalog (see `catalog::shard`). A
/// build that reads only format 6 refuses it by its version, never takes it for a catalog.
pub const SHARD_FORMAT_VERSION: u32 = 7;
/// The shards of format 4 catalogs (their items not deflated): they still load.
const SHARD_FORMAT_4: u32 = 5;
/// The formats it reads.
const READS: [u32; 6] = [2, 3, 4, SHARD_FORMAT_4, FORMAT_VERSION, SHARD_FORMAT_VERSION];

/// True for the formats of shards.
fn is_shard_format(version: u32) -> bool {
    version == SHARD_FORMAT_4 || version == SHARD_FORMAT_VERSION
}

/// How a section of per-item scales is stored (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq)]
enum ScaleWidth {
    F32,
    F16,
    Bf16,
}

impl ScaleWidth {
    fn bytes(self) -> usize {
        if self == ScaleWidth::F32 {
            4
        } else {
            2
        }
    }

    fn encode(self, v: &[f32]) -> Vec<u8> {
        match self {
            ScaleWidth::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ScaleWidth::F16 => v.iter().flat_map(|&x| half::f16::from_f32(x).to_le_bytes()).collect(),
            ScaleWidth::Bf16 => v.iter().flat_map(|&x| half::bf16::from_f32(x).to_le_bytes()).collect(),
        }
    }

    /// The scales as little-endian f32 bytes (what readers index), each checked finite.
    fn decode(self, bytes: &[u8], what: &str) -> Result<Vec<u8>> {
        let widen = |to_f32: fn([u8; 2]) -> f32| bytes.chunks_exact(2).flat_map(|c| to_f32([c[0], c[1]]).to_le_bytes()).collect();
        let out: Vec<u8> = match self {
            ScaleWidth::F32 => bytes.to_vec(),
            ScaleWidth::F16 => widen(|b| half::f16::from_le_bytes(b).to_f32()),
            ScaleWidth::Bf16 => widen(|b| half::bf16::from_le_bytes(b).to_f32()),
        };
        bundle::check_finite(&out, what, Kind::Catalog)?;
        Ok(out)
    }
}

/// How format `version` stores the vector scales and the neighbour rows' scales.
fn scale_widths(version: u32) -> (ScaleWidth, ScaleWidth) {
    if version >= 4 {
        (ScaleWidth::F16, ScaleWidth::Bf16)
    } else {
        (ScaleWidth::F32, ScaleWidth::F32)
    }
}

/// What the bundle says about itself (the JSON header).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogHeader {
    /// The id of the model that made the vectors (`Encoder::space_id`).
    pub model_id: String,
    /// Vector length.
    pub dim: usize,
    /// How the vectors are stored (format 2 files: int8).
    #[serde(default)]
    pub vectors: VectorCoding,
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
    /// A shard of a larger catalog: which part of it this file holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
}

/// Where a shard's items sit in the whole catalog, and what it shares with the other shards.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    /// This shard's number, from 0.
    pub index: usize,
    /// Shards in the set.
    pub count: usize,
    /// The whole catalog's content id: every shard and the front of one set carry it.
    pub set: String,
    /// The whole catalog's index of this shard's first item (it owns `start..start + items`).
    pub start: usize,
    /// Items in the whole catalog: the neighbour table has a row for each (holding the
    /// neighbours this shard owns).
    pub rows: usize,
    /// The popularity prior's statistics over the whole catalog (mean and standard deviation
    /// of log popularity over the items that have any), so every shard scales it alike.
    pub prior: (f32, f32),
}

/// The section table of a catalog bundle.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sections {
    /// The items: JSON columns (format 3), a JSON array (format 2).
    pub items: Section,
    /// The vectors, as the header's `vectors` coding says.
    pub vectors: Section,
    /// The vectors' scales: f16 (from format 4), f32 (before).
    pub scales: Section,
    /// rotated4: the f32 mean vector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_mean: Option<Section>,
    /// f32 popularity.
    pub popularity: Section,
    /// u32 offsets of the neighbour rows: of bytes in `nbr_packed` (format 3), of entries
    /// (format 2).
    pub nbr_offsets: Section,
    /// Format 3: the packed neighbour rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbr_packed: Option<Section>,
    /// From format 3: row scales, bf16 (from format 4) or f32 (format 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbr_scales: Option<Section>,
    /// Format 2: u32 neighbour items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbr_items: Option<Section>,
    /// Format 2: f32 neighbour weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbr_weights: Option<Section>,
    /// JSON name table.
    pub names: Section,
    /// The fitted ranker (JSON), when the catalog was built with boards to fit it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranker: Option<Section>,
    /// The boards (see `catalog::boards`), when the catalog was built with any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boards: Option<Section>,
}

impl Sections {
    /// Bytes by part of the catalog: `[vectors, co-saved neighbours, items, the rest]` (what
    /// `edgerec index` reports per item).
    pub fn bytes_by_part(&self) -> [(&'static str, usize); 4] {
        let len = |s: &Option<Section>| s.map_or(0, |s| s.len);
        [
            ("vectors", self.vectors.len + self.scales.len + len(&self.vector_mean)),
            (
                "co-saved",
                self.nbr_offsets.len
                    + len(&self.nbr_packed)
                    + len(&self.nbr_scales)
                    + len(&self.nbr_items)
                    + len(&self.nbr_weights),
            ),
            ("items", self.items.len),
            ("the rest", self.popularity.len + self.names.len + len(&self.ranker) + len(&self.boards)),
        ]
    }
}

/// Where the in-place sections are in a loaded bundle's bytes.
#[derive(Debug, Clone)]
pub(crate) struct Ranges {
    pub vectors: Range<usize>,
    pub popularity: Range<usize>,
    pub neighbours: NeighbourRanges,
    pub ranker: Option<Range<usize>>,
    /// The file's format version (a rewrite keeps it).
    pub version: u32,
}

/// Where the neighbour table's sections are, by format.
#[derive(Debug, Clone)]
pub(crate) enum NeighbourRanges {
    /// Format 2: entry offsets, ids, weights.
    Plain([Range<usize>; 3]),
    /// From format 3: byte offsets, packed rows (the row scales are decoded at load).
    Packed([Range<usize>; 2]),
}

impl NeighbourRanges {
    /// The table, read in place from the bundle's `bytes`, with the rows' decoded `scales`.
    pub fn view<'a>(&self, bytes: &'a [u8], scales: &'a [u8]) -> Neighbours<'a> {
        let s = |r: &Range<usize>| &bytes[r.clone()];
        Neighbours(match self {
            NeighbourRanges::Plain([o, i, w]) => Table::Plain { offsets: s(o), items: s(i), weights: s(w) },
            NeighbourRanges::Packed([o, r]) => Table::Packed { offsets: s(o), rows: s(r), scales },
        })
    }
}

pub(crate) struct Loaded {
    pub header: CatalogHeader,
    pub derived: Derived,
    /// The items' sign bits.
    pub bits: Vec<u64>,
    pub catalog_id: String,
    pub items: ItemTable,
    pub names: NameTable,
    pub boards: BoardTable,
    /// The vectors' scales and the neighbour rows' (empty for format 2), as little-endian f32.
    pub scales: Vec<u8>,
    pub nbr_scales: Vec<u8>,
    pub at: Ranges,
}

/// A packed neighbour table as a shard stores it: rows for every item of the whole catalog.
pub(crate) struct PackedRows {
    pub offsets: Vec<u32>,
    pub rows: Vec<u8>,
    /// The rows' scales as little-endian f32 (the whole catalog's, unchanged).
    pub scales: Vec<f32>,
}

/// The parts of a catalog, as the builder makes them.
pub(crate) struct Parts<'a> {
    pub header: CatalogHeader,
    pub items: &'a [ItemRecord],
    pub vectors: &'a Encoded,
    pub popularity: &'a [f32],
    pub neighbours: &'a NeighbourLists,
    pub names: &'a NameTable,
    pub ranker: Option<&'a [u8]>,
    pub boards: Option<&'a BoardTable>,
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Kind::Catalog.error(msg)
}

/// Serialises a catalog from its parts.
pub(crate) fn write(p: Parts) -> Vec<u8> {
    let packed = neighbours::pack(p.neighbours);
    write_packed(p, PackedRows { offsets: packed.offsets, rows: packed.rows, scales: packed.scales })
}

/// Serialises a catalog whose neighbour table is already packed (`p.neighbours` is ignored):
/// a shard's, with rows for the whole catalog, when the header names a shard.
pub(crate) fn write_packed(p: Parts, packed: PackedRows) -> Vec<u8> {
    let mut w = Writer::default();
    let items = super::items::encode(p.items);
    let names = serde_json::to_vec(p.names).expect("names serialise");
    let version = if p.header.shard.is_some() { SHARD_FORMAT_VERSION } else { FORMAT_VERSION };
    let (vector_width, row_width) = scale_widths(version);
    let sections = Sections {
        items: w.add(&items),
        vectors: w.add(&p.vectors.codes),
        scales: w.add(&vector_width.encode(&p.vectors.scales)),
        vector_mean: p.vectors.mean.as_deref().map(|m| w.add_f32s(m)),
        popularity: w.add_f32s(p.popularity),
        nbr_offsets: w.add_u32s(&packed.offsets),
        nbr_packed: Some(w.add(&packed.rows)),
        nbr_scales: Some(w.add(&row_width.encode(&packed.scales))),
        nbr_items: None,
        nbr_weights: None,
        names: w.add(&names),
        ranker: p.ranker.map(|r| w.add(r)),
        boards: p.boards.filter(|b| !b.is_empty()).map(|b| w.add(&b.encode())),
    };
    let header = CatalogHeader { sections, vectors: p.vectors.coding, ..p.header };
    w.finish(Kind::Catalog, version, &serde_json::to_vec(&header).expect("header serialises"))
}

/// The bytes of `c` with its ranker section replaced: every other section is copied as it is,
/// in the file's own format.
pub(crate) fn rewrite(c: &Catalog, ranker: Option<&[u8]>) -> Vec<u8> {
    let mut w = Writer::default();
    let old = &c.header.sections;
    let e = Envelope::parse(&c.bytes, Kind::Catalog, &READS).expect("a loaded catalog parses");
    let mut copy = |s: Section| w.add(&c.bytes[e.range(s.offset, s.len, "section").expect("checked at load")]);
    let sections = Sections {
        items: copy(old.items),
        vectors: copy(old.vectors),
        scales: copy(old.scales),
        vector_mean: old.vector_mean.map(&mut copy),
        popularity: copy(old.popularity),
        nbr_offsets: copy(old.nbr_offsets),
        nbr_packed: old.nbr_packed.map(&mut copy),
        nbr_scales: old.nbr_scales.map(&mut copy),
        nbr_items: old.nbr_items.map(&mut copy),
        nbr_weights: old.nbr_weights.map(&mut copy),
        names: copy(old.names),
        boards: old.boards.map(&mut copy),
        ranker: None,
    };
    let sections = Sections { ranker: ranker.map(|r| w.add(r)), ..sections };
    let header = CatalogHeader { sections, ..c.header.clone() };
    w.finish(Kind::Catalog, c.at.version, &serde_json::to_vec(&header).expect("header serialises"))
}

/// Parses and checks a catalog bundle.
pub(crate) fn read(bytes: &[u8]) -> Result<Loaded> {
    let e = Envelope::parse(bytes, Kind::Catalog, &READS)?;
    let header: CatalogHeader = serde_json::from_slice(e.header).map_err(|e| bad(format!("header: {e}")))?;
    let (n, d, m) = (header.items, header.dim, header.neighbours);
    if d == 0 {
        return Err(bad("header: dim is 0"));
    }
    // A shard's neighbour table has a row for every item of the whole catalog.
    let rows = match (&header.shard, e.version) {
        (None, v) if is_shard_format(v) => return Err(bad(format!("header: a shard file (format {v}) without its shard"))),
        (Some(_), v) if !is_shard_format(v) => return Err(bad(format!("header: format {v} names a shard"))),
        (Some(sh), _) => {
            let end = sh.start.checked_add(n).filter(|&end| end <= sh.rows);
            if end.is_none() || sh.index >= sh.count || !(sh.prior.0.is_finite() && sh.prior.1.is_finite()) {
                return Err(bad(format!(
                    "header: shard {} of {} holding items {}..+{n} of {} is not a valid part",
                    sh.index, sh.count, sh.start, sh.rows
                )));
            }
            sh.rows
        }
        (None, _) => n,
    };
    // Sizes from the header are untrusted: checked arithmetic, so a hostile header is an error.
    let size = |count: usize, width: usize| count.checked_mul(width).ok_or_else(|| bad("header: section sizes overflow"));
    let s = &header.sections;
    let vectors = e.section(s.vectors, "vectors", Some(size(n, header.vectors.code_bytes(d))?))?;
    // After the vectors: the file holds `n` items' worth, which bounds what the items may inflate to.
    let items = super::items::decode(&bytes[e.section(s.items, "items", None)?], e.version, n).map_err(bad)?;
    if items.len() != n {
        return Err(bad(format!("items: {} records, the header says {n}", items.len())));
    }
    let (vector_width, row_width) = scale_widths(e.version);
    let scales = vector_width.decode(&bytes[e.section(s.scales, "scales", Some(size(n, vector_width.bytes())?))?], "scales")?;
    let mean = match (header.vectors, s.vector_mean) {
        (VectorCoding::Rotated4 { .. }, Some(m)) => {
            Some(bundle::f32s(&bytes[e.section(m, "vector mean", Some(size(d, 4)?))?], "vector mean", Kind::Catalog)?)
        }
        (VectorCoding::Rotated4 { .. }, None) => return Err(bad("header: rotated4 vectors without a vector_mean section")),
        _ => None,
    };
    let (derived, bits) = Derived::new(header.vectors, d, &bytes[vectors.clone()], &scales, mean.as_deref()).map_err(bad)?;
    let popularity = e.section(s.popularity, "popularity", Some(size(n, 4)?))?;
    let offsets = e.section(
        s.nbr_offsets,
        "neighbour offsets",
        Some(size(rows.checked_add(1).ok_or_else(|| bad("header: items overflow"))?, 4)?),
    )?;
    bundle::check_finite(&bytes[popularity.clone()], "popularity", Kind::Catalog)?;
    let missing = |what: &str| bad(format!("header: no {what} section (format {})", e.version));
    let mut nbr_scales = Vec::new();
    let neighbours = if e.version == 2 {
        let nbr_items = e.section(s.nbr_items.ok_or_else(|| missing("nbr_items"))?, "neighbour items", Some(size(m, 4)?))?;
        let weights = e.section(s.nbr_weights.ok_or_else(|| missing("nbr_weights"))?, "neighbour weights", Some(size(m, 4)?))?;
        bundle::check_finite(&bytes[weights.clone()], "neighbour weights", Kind::Catalog)?;
        check_plain(&bytes[offsets.clone()], &bytes[nbr_items.clone()], n, m)?;
        NeighbourRanges::Plain([offsets, nbr_items, weights])
    } else {
        let packed = e.section(s.nbr_packed.ok_or_else(|| missing("nbr_packed"))?, "neighbour rows", None)?;
        let row_scales = e.section(
            s.nbr_scales.ok_or_else(|| missing("nbr_scales"))?,
            "neighbour scales",
            Some(size(rows, row_width.bytes())?),
        )?;
        nbr_scales = row_width.decode(&bytes[row_scales], "neighbour scales")?;
        neighbours::check_packed(&bytes[offsets.clone()], &bytes[packed.clone()], &nbr_scales, rows, n, m).map_err(bad)?;
        NeighbourRanges::Packed([offsets, packed])
    };
    let names: NameTable =
        serde_json::from_slice(&bytes[e.section(s.names, "names", None)?]).map_err(|e| bad(format!("names: {e}")))?;
    names.check(n).map_err(bad)?;
    let ranker = s.ranker.map(|r| e.section(r, "ranker", None)).transpose()?;
    let boards = match s.boards {
        Some(b) if header.shard.is_none() => BoardTable::decode(&bytes[e.section(b, "boards", None)?], n).map_err(bad)?,
        Some(_) => return Err(bad("header: a shard with a boards section")),
        None => BoardTable::default(),
    };
    let catalog_id = e.digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(Loaded {
        at: Ranges { vectors, popularity, neighbours, ranker, version: e.version },
        scales,
        nbr_scales,
        header,
        derived,
        bits,
        catalog_id,
        items,
        names,
        boards,
    })
}

/// Checks a format-2 table: entry offsets a valid index of `m` entries, every id below `n`.
fn check_plain(offsets: &[u8], items: &[u8], n: usize, m: usize) -> Result<()> {
    let mut prev = 0u32;
    for i in 0..=n {
        let o = bundle::u32_at(offsets, i);
        if (i == 0 && o != 0) || o < prev {
            return Err(bad("neighbour offsets are not a valid index"));
        }
        prev = o;
    }
    if prev as usize != m {
        return Err(bad("neighbour offsets are not a valid index"));
    }
    if (0..m).any(|k| bundle::u32_at(items, k) as usize >= n) {
        return Err(bad("a neighbour refers to an item that does not exist"));
    }
    Ok(())
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
            vectors: VectorCoding::Int8,
            items: 1,
            neighbours: 0,
            boards: 0,
            built_by: "test".into(),
            sections: Sections::default(),
            shard: None,
        };
        let items = vec![ItemRecord { id: "a".into(), ..Default::default() }];
        let nb = NeighbourLists { offsets: vec![0, 0], items: vec![], weights: vec![] };
        let names = NameTable { offsets: vec![0], ..Default::default() };
        write(Parts {
            header,
            items: &items,
            vectors: &Encoded { coding: VectorCoding::Int8, codes: vec![127, 0], scales: vec![0.01], mean: None },
            popularity: &[1.0],
            neighbours: &nb,
            names: &names,
            ranker: None,
            boards: None,
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
    fn the_boards_section_loads_and_a_corrupt_one_is_invalid_catalog() {
        let items: Vec<ItemRecord> =
            ["a", "b", "c"].iter().map(|id| ItemRecord { id: id.to_string(), ..Default::default() }).collect();
        let boards = vec![super::super::BoardRecord {
            user: "u".into(),
            board: "x".into(),
            items: vec!["c".into(), "a".into(), "zz".into()],
        }];
        let (c, _) = super::super::build(items, &[1.0; 3 * 128], 128, &boards, "m", &Default::default()).unwrap();
        assert_eq!((c.boards().len(), c.boards().items_of(0)), (1, &[0u32, 2][..]));
        let bytes = c.to_bytes();
        let rewritten = Catalog::from_bytes(&c.with_ranker(Some(b"{}")).unwrap().to_bytes()).unwrap();
        assert_eq!(rewritten.boards(), c.boards(), "a rewrite keeps the boards");
        let at = c.header().sections.boards.expect("a boards section");
        // An item index past the catalog: the first board's count (2), then item 9.
        let mut bad = bytes.clone();
        let e = Envelope::parse(&bytes, Kind::Catalog, &READS).unwrap();
        let start = e.range(at.offset, at.len, "boards").unwrap().start;
        bad[start + 1] = 9;
        let bad = with_header(&bad, |_| {});
        let err = Catalog::from_bytes(&bad).unwrap_err();
        assert_eq!(err.code(), "invalid_catalog", "{err}");
        assert!(err.to_string().contains("boards"), "{err}");
        // Without the section (a catalog from before it): no boards, the rest as it was.
        let without = Catalog::from_bytes(&with_header(&bytes, |h| h["sections"]["boards"] = serde_json::Value::Null)).unwrap();
        assert!(without.boards().is_empty());
    }

    #[test]
    fn stored_scales_widen_to_f32_and_a_non_finite_one_is_named() {
        let v = [0.5f32, 3.0e-3, 0.0];
        for w in [ScaleWidth::F32, ScaleWidth::F16, ScaleWidth::Bf16] {
            let back = w.decode(&w.encode(&v), "scales").unwrap();
            assert_eq!(bundle::f32s(&back, "scales", Kind::Catalog).unwrap().len(), 3);
            assert_eq!(f32::from_le_bytes(back[..4].try_into().unwrap()), 0.5);
        }
        // NaN in f16 (0x7e00) and +∞ in bf16 (0x7f80), second of two values.
        for (w, bad) in [(ScaleWidth::F16, [0x00, 0x38, 0x00, 0x7e]), (ScaleWidth::Bf16, [0x00, 0x3f, 0x80, 0x7f])] {
            let e = w.decode(&bad, "neighbour scales").unwrap_err();
            assert_eq!(e.code(), "invalid_catalog");
            assert!(e.to_string().contains("neighbour scales[1] is not a finite number"), "{e}");
        }
    }

    /// A bundle written by format 2's writer (edgerec 0.1.0 before format 3): 12 items, boards.
    const FORMAT_2: &[u8] = include_bytes!("../../tests/fixtures/catalog-format2.bin");

    #[test]
    fn format_2_files_still_load_and_keep_their_format_when_rewritten() {
        let c = Catalog::from_bytes(FORMAT_2).unwrap();
        assert_eq!((c.len(), c.at.version), (12, 2));
        assert_eq!(c.neighbours().of(0).collect::<Vec<_>>(), vec![(3, 0.40712553), (6, 0.12481092), (9, 0.10458656)]);
        assert_eq!(c.neighbours().weight(11, 5), Some(0.09984873));
        let with = c.with_ranker(Some(b"{}")).unwrap();
        assert_eq!(with.at.version, 2);
        assert_eq!(with.neighbours().of(0).collect::<Vec<_>>(), c.neighbours().of(0).collect::<Vec<_>>());
        // A format-2 header without its neighbour sections is named, not a panic.
        let bytes = with_header(FORMAT_2, |h| h["sections"].as_object_mut().unwrap().remove("nbr_items").map(|_| ()).unwrap());
        assert!(Catalog::from_bytes(&bytes).unwrap_err().to_string().contains("no nbr_items section (format 2)"));
    }

    /// The inputs of the fixtures' writers (formats 3 and 4): 12 items, 128-d vectors, 9 boards.
    fn fixture_inputs() -> (Vec<ItemRecord>, Vec<f32>, Vec<crate::catalog::BoardRecord>) {
        let (n, dim) = (12, 128);
        let items: Vec<ItemRecord> = (0..n)
            .map(|i| ItemRecord {
                id: format!("item-{i}"),
                title: format!("Item {i}"),
                tags: vec![format!("group-{}", i % 3)],
                ..Default::default()
            })
            .collect();
        let mut vectors = vec![0f32; n * dim];
        for (i, v) in vectors.chunks_exact_mut(dim).enumerate() {
            for (d, x) in v.iter_mut().enumerate() {
                *x = (((i * 7 + d * 3) % 11) as f32 - 5.0) / 5.0 + if d % 3 == i % 3 { 1.0 } else { 0.0 };
            }
            crate::vector::l2_normalize(v);
        }
        let boards: Vec<crate::catalog::BoardRecord> = (0..9)
            .map(|b| crate::catalog::BoardRecord {
                user: format!("u{}", b % 4),
                board: ["Weekend", "Group ideas", "liked"][b % 3].into(),
                items: (0..5).map(|k| format!("item-{}", (b * 2 + k * 3) % n)).collect(),
            })
            .collect();
        (items, vectors, boards)
    }

    /// A bundle and a shard (of 2) written by format 4's writer (before format 6), from
    /// [`fixture_inputs`].
    const FORMAT_4: &[u8] = include_bytes!("../../tests/fixtures/catalog-format4.bin");
    const SHARD_FORMAT_5: &[u8] = include_bytes!("../../tests/fixtures/shard-format5.bin");

    #[test]
    fn format_4_files_and_their_shards_still_load_and_format_6_deflates_the_items() {
        let (items, vectors, boards) = fixture_inputs();
        let old = Catalog::from_bytes(FORMAT_4).unwrap();
        assert_eq!((old.at.version, old.items().to_records()), (4, items.clone()));
        assert_eq!(old.with_ranker(Some(b"{}")).unwrap().at.version, 4);
        let shard = Catalog::from_bytes(SHARD_FORMAT_5).unwrap();
        assert_eq!((shard.at.version, shard.start(), shard.items().to_records()), (SHARD_FORMAT_4, 6, items[6..].to_vec()));
        let (new, _) =
            crate::catalog::build(items.clone(), &vectors, 128, &boards, "fixture-model", &Default::default()).unwrap();
        assert_eq!((new.at.version, new.items().to_records()), (FORMAT_VERSION, items.clone()));
        // The same catalog but for its items section.
        assert!(new.header().sections.items.len < old.header().sections.items.len);
        for i in 0..items.len() {
            assert_eq!(new.neighbours().of(i).collect::<Vec<_>>(), old.neighbours().of(i).collect::<Vec<_>>());
        }
        let split = crate::catalog::shard::split(&new, 2).unwrap();
        let shard = Catalog::from_vec(split.shards[1].clone()).unwrap();
        assert_eq!((shard.at.version, shard.items().to_records()), (SHARD_FORMAT_VERSION, items[6..].to_vec()));
        // Format 4 can no longer be sharded by this build: it asks for a rebuild.
        let Err(e) = crate::catalog::shard::split(&old, 2) else { panic!("format 4 was sharded") };
        assert!(e.to_string().contains("rebuild it"), "{e}");
    }

    /// A bundle written by format 3's writer (before format 4): 12 items, 128-d rotated4 vectors.
    const FORMAT_3: &[u8] = include_bytes!("../../tests/fixtures/catalog-format3.bin");

    #[test]
    fn format_3_files_still_load_with_their_f32_scales() {
        let c = Catalog::from_bytes(FORMAT_3).unwrap();
        assert_eq!((c.len(), c.at.version), (12, 3));
        // What format 3's writer read back from the same bytes.
        assert_eq!(c.neighbours().of(0).collect::<Vec<_>>(), vec![(3, 0.40712553), (6, 0.12368956), (9, 0.10401011)]);
        let mut v = vec![0f32; 128];
        c.vector_f32(5, &mut v);
        assert_eq!(&v[..4], &[-0.061132632, -0.011595896, 0.15752499, -0.107122585]);
        assert_eq!(c.with_ranker(Some(b"{}")).unwrap().at.version, 3);
        // This build's format of the same inputs (those of the fixture's writer): scales half as
        // wide, the same table and vectors within their rounding (bf16 rows: 2⁻⁸ relative; f16
        // vector scales: 2⁻¹¹).
        let (n, dim) = (12, 128);
        let (items, vectors, boards) = fixture_inputs();
        let (now, _) = crate::catalog::build(items, &vectors, dim, &boards, "fixture-model", &Default::default()).unwrap();
        assert_eq!(now.at.version, FORMAT_VERSION);
        let scale_bytes = |c: &Catalog| (c.header().sections.scales.len, c.header().sections.nbr_scales.unwrap().len);
        assert_eq!((scale_bytes(&c), scale_bytes(&now)), ((4 * n, 4 * n), (2 * n, 2 * n)));
        for i in 0..n {
            let (old, new): (Vec<_>, Vec<_>) = (c.neighbours().of(i).collect(), now.neighbours().of(i).collect());
            assert_eq!(old.len(), new.len());
            for ((j, w), (k, x)) in old.into_iter().zip(new) {
                assert_eq!(j, k);
                assert!((w - x).abs() <= w * 2f32.powi(-8), "{i}→{j}: {w} vs {x}");
            }
        }
        let mut u = vec![0f32; dim];
        now.vector_f32(5, &mut u);
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        for (a, b) in v.iter().zip(&u) {
            assert!((a - b).abs() <= norm * 2f32.powi(-11) + 1e-7, "{a} vs {b}");
        }
    }

    #[test]
    fn rotated4_vectors_and_item_columns_round_trip_and_their_defects_are_named() {
        let (n, dim) = (6, 128);
        let items: Vec<ItemRecord> = (0..n)
            .map(|i| ItemRecord {
                id: format!("i{i}"),
                title: format!("T{i}"),
                tags: vec!["shared".into()],
                ..Default::default()
            })
            .collect();
        let mut vectors: Vec<f32> = (0..n * dim).map(|k| ((k * 31 % 17) as f32 - 8.0) / 8.0 + 0.5).collect();
        vectors.chunks_exact_mut(dim).for_each(|v| {
            crate::vector::l2_normalize(v);
        });
        let (c, _) = super::super::build(items.clone(), &vectors, dim, &[], "m", &Default::default()).unwrap();
        assert!(matches!(c.header().vectors, VectorCoding::Rotated4 { .. }));
        assert_eq!(c.items().to_records(), items);
        let bytes = c.to_bytes();
        let mut out = vec![0f32; dim];
        c.vector_f32(2, &mut out);
        let cos: f32 = out.iter().zip(&vectors[2 * dim..3 * dim]).map(|(a, b)| a * b).sum();
        assert!(cos > 0.99, "{cos}");
        for (edit, want) in [
            (
                Box::new(|h: &mut serde_json::Value| {
                    h["sections"].as_object_mut().unwrap().remove("vector_mean").map(|_| ()).unwrap()
                }) as Box<dyn Fn(&mut serde_json::Value)>,
                "without a vector_mean",
            ),
            (Box::new(|h: &mut serde_json::Value| h["vectors"] = serde_json::json!({ "kind": "rotated9" })), "header"),
            (Box::new(|h: &mut serde_json::Value| h["vectors"] = serde_json::json!({ "kind": "int8" })), "vectors"),
        ] {
            let e = Catalog::from_bytes(&with_header(&bytes, edit)).unwrap_err();
            assert_eq!(e.code(), "invalid_catalog");
            assert!(e.to_string().contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn a_pair_whose_first_contribution_is_zero_is_one_neighbour() {
        // With `backward` 0, "b before a" adds exactly 0, then "a before b" adds weight: b must
        // be a's neighbour once (the packed table's count is checked against the header's).
        let items: Vec<ItemRecord> =
            ["a", "b"].iter().map(|id| ItemRecord { id: id.to_string(), ..Default::default() }).collect();
        let board = |ids: [&str; 2]| super::super::BoardRecord {
            user: "u".into(),
            board: "x".into(),
            items: ids.map(String::from).to_vec(),
        };
        let opts = super::super::BuildOptions { backward: 0.0, ..Default::default() };
        let (c, _) =
            super::super::build(items, &[1.0, 0.0, 0.0, 1.0], 2, &[board(["b", "a"]), board(["a", "b"])], "m", &opts).unwrap();
        assert_eq!(c.neighbours().of(0).map(|(j, _)| j).collect::<Vec<_>>(), vec![1]);
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
        let (mut a, mut b) = ([0f32; 2], [0f32; 2]);
        with.vector_f32(0, &mut a);
        c.vector_f32(0, &mut b);
        assert_eq!(a, b);
        assert_ne!(with.catalog_id(), c.catalog_id());
        assert!(with.with_ranker(None).unwrap().ranker_section().is_none());
    }
}
